// Package fetch gets a track's signed manifest and encrypted blobs for the
// engine, from the device cache or from a list of origins, and verifies
// everything it hands out. It never sees content keys or plaintext.
//
// Sources, in order: the cache (encrypted blobs in the device store,
// content addressed, re-hashed on every read), then each Origin in turn
// (the first is the primary relay, the others mirrors or CDN edges). An
// origin is skipped on a network error, a 4xx or 5xx answer, an oversized
// body, or a blob whose size or SHA-256 differs from the manifest; each
// such failure is logged, reported to the observer, and returned as an
// *OriginError when no origin succeeds (with ErrOffline when no origin
// answered at all). Manifests are signed envelopes verified with the
// catalog key on every load, and must name the requested (track, tier).
//
// The cache is bounded in bytes and evicts least recently used blobs in
// the same store transaction as the insertion that needs the space; its
// index (cache/lru/<seq>/<hash>) survives restarts. Concurrent requests
// for one object share a single fetch, which is cancelled only when every
// caller waiting for it has given up.
//
// Usage:
//
//	o, _ := fetch.NewHTTPOrigin("http://127.0.0.1:7474", nil, tokenFunc)
//	f, _ := fetch.New(ctx, st, []fetch.Origin{o}, keyFunc, fetch.DefaultOptions())
//	m, err := f.Manifest(ctx, "trabc", model.TierHigh)
//	enc, err := f.Chunk(ctx, m, 0) // verified encrypted bytes, caller-owned
//	if errors.Is(err, fetch.ErrIntegrity) { … }
package fetch

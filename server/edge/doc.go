// Package edge is Segue's caching reverse proxy for the relay's immutable,
// encrypted audio routes (docs/ARCHITECTURE.md §4a): `segue edge`.
//
// An Edge serves GET and HEAD of
//
//	/v1/blobs/{sha256}                        content addressed, immutable
//	/v1/audio/{track}/{tier}/manifest         positional, max-age=3600
//	/v1/audio/{track}/{tier}/header
//	/v1/audio/{track}/{tier}/chunks/{i}
//
// from its cache, and fetches a miss from its parent (the relay, or another
// edge: edges tier). It never holds keys or plaintext: everything it stores
// is an encrypted blob or a signed manifest envelope. Every body is checked
// before it is cached or served: a blob's SHA-256 must equal the hash in its
// URL, a positional answer's SHA-256 must equal the parent's strong ETag;
// a mismatch is answered 502 and nothing is stored.
//
// Admission and eviction are otter v2's W-TinyLFU, under two explicit
// byte budgets: one in memory (Options.WithMemoryBytes) and one on disk
// (Options.WithDiskDir, Options.WithDiskBytes). Concurrent misses for the
// same object share one parent fetch, and the bodies of misses are held
// under a third byte budget (Options.WithInFlightBytes). Ranges, HEAD,
// If-None-Match → 304 and If-Range are http.ServeContent's, with the
// relay's strong ETag and Cache-Control, its limit on ranges and its
// reading of the Range header (relay.LimitRanges: another unit or an
// invalid header is ignored).
//
// Auth: every request needs a device token the relay accepts (see
// Options.WithAuthTTL; unknown tokens are checked at a bounded rate per
// client address, Options.WithTokenCheckRate); /v1/me is passed through
// to the parent so a child edge can validate against a parent edge.
package edge

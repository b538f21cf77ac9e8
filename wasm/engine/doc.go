// Package engine is the web player's engine: the part of Segue that runs
// in the browser as GOOS=js GOARCH=wasm (package wasm/cmd/segueweb wraps
// it for JavaScript), written against interfaces so that it also builds
// and is tested natively.
//
// It reuses the native engine's pieces rather than re-implementing them:
// core/fetch (manifest signature check under the pinned catalog key, blob
// SHA-256 check before release, failover, encrypted blob cache), crypto
// (device identity, the registration proof, HPKE unwrapping of content
// keys, AES-128-CTR), core/api (the relay's wire types) and player (the
// same queue, Vorbis decoder, gapless chain, loudness gain with the
// true-peak limit, equal-power crossfade and resampler as native). The
// output handed to the Sink is therefore sample-identical to the native
// player's for the same tracks, tier, gain settings and output rate.
//
// What differs from package core is only what the browser cannot have:
// no Badger (the store is any store.Store: memory, or the page's
// IndexedDB store), no automerge-go (the page syncs playlists with the
// stock JavaScript automerge-repo), and a key store the page provides
// (crypto.KeyStore; the page wraps secrets with a non-extractable
// WebCrypto key). Content keys live in memory only.
package engine

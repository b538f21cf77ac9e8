// Package web serves the Segue web player from the relay: the page at /
// and its assets under /assets/, embedded (go:embed) from dist, which
// scripts/build-web.sh generates and the repository commits.
//
// Every answer carries Cross-Origin-Opener-Policy: same-origin and
// Cross-Origin-Embedder-Policy: require-corp, so the page is cross-origin
// isolated and its AudioWorklet can share a SharedArrayBuffer ring with
// the engine, plus a Content-Security-Policy that allows only the
// relay's own scripts and WebAssembly compilation. Assets have content
// hashes in their names and are served immutable for a year, precompressed:
// brotli when the client accepts it, else gzip, else decompressed on the
// fly. The page itself is never cached, so a new build is picked up on
// the next load.
package web

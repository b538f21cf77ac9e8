// Package jsfetch is an HTTP client on the browser's Fetch API for the
// web player's WebAssembly module (GOOS=js): Client.Do takes and returns
// net/http's Request and Response, as (*http.Client).Do does, but the
// module that uses it links none of net/http's own transport (TLS,
// HTTP/2, proxies, connection pools), which is about half of a module
// that calls http.Client (docs/BENCHMARKS.md, "Web player: size and
// speed"). core/fetch uses it as its default Doer under GOOS=js.
//
// Behaviour: the request's context aborts the fetch (AbortController),
// before the answer and while its body is read; the request body is read
// whole and sent; the response body is streamed from the answer's
// ReadableStream, so a caller that reads a bounded prefix
// (io.LimitReader) never holds more than one chunk beyond it; a network
// failure (the fetch promise rejected) is an error wrapping
// ErrFetchFailed; credentials are "same-origin" and redirects followed,
// the Fetch API's defaults for a same-origin page. A request whose
// context is marked by WithKeepalive is sent with keepalive (it outlives
// the page), its body at most KeepaliveMax bytes. Client builds only for
// GOOS=js; WithKeepalive and Keepalive for every GOOS.
package jsfetch

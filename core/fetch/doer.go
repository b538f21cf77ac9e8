package fetch

import "net/http"

// Doer sends one HTTP request and returns its response, as
// (*http.Client).Do does (which is one). Every relay request of the
// fetcher (HTTPOrigin), of JSONClient and of core/download goes through
// one. Under GOOS=js the default is internal/jsfetch's client on the
// browser's Fetch API, so the web player's module links none of
// net/http's own transport (TLS, HTTP/2, proxies), about half its size.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// DefaultDoer returns the Doer used where none is given:
// http.DefaultClient, or under GOOS=js the browser's Fetch API (which
// is also what http.DefaultClient uses there).
func DefaultDoer() Doer { return defaultDoer() }

// OrDefault returns d, or DefaultDoer() when d is nil or a nil
// *http.Client.
func OrDefault(d Doer) Doer {
	if c, ok := d.(*http.Client); d == nil || (ok && c == nil) {
		return DefaultDoer()
	}
	return d
}

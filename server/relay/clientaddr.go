package relay

import "net/http"

// ClientAddr is the key the relay's per-address limits use for r's
// client: the connection's IP address (X-Forwarded-For is not trusted),
// an IPv6 address reduced to its /64. Mounted services use it for their
// own unauthenticated limits.
func ClientAddr(r *http.Request) string { return clientAddr(r) }

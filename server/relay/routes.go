package relay

import (
	"net/http"

	"github.com/labstack/echo/v4"
)

// DeviceRoutes adds routes under /v1 that need a device token: every
// route gets the relay's Auth as its first middleware, ahead of its own.
// The relay's routes are added through it, and Mount hands it to other
// packages.
//
// It is not an echo.Group with Auth as group middleware on purpose: such
// a group registers catch-all routes (/v1 and /v1/*) so that its
// middleware runs for unmatched requests, and Echo's router prefers a
// catch-all over its "method not allowed" answer. A known path asked with
// another method then ran Auth and ended 404 (or 401, for admin routes
// outside the group asked with the admin token). Without the catch-all a
// known path with another method is 405 with an Allow header, and an
// unknown path 404, whoever asks.
type DeviceRoutes struct{ s *Server }

// Add adds the route method path (relative to /v1, starting with "/")
// behind Auth and then m.
func (r *DeviceRoutes) Add(method, path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.s.e.Add(method, "/v1"+path, h, append([]echo.MiddlewareFunc{r.s.Auth()}, m...)...)
}

// GET adds a GET route behind Auth (see Add).
func (r *DeviceRoutes) GET(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.Add(http.MethodGet, path, h, m...)
}

// POST adds a POST route behind Auth (see Add).
func (r *DeviceRoutes) POST(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.Add(http.MethodPost, path, h, m...)
}

// PUT adds a PUT route behind Auth (see Add).
func (r *DeviceRoutes) PUT(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.Add(http.MethodPut, path, h, m...)
}

// DELETE adds a DELETE route behind Auth (see Add).
func (r *DeviceRoutes) DELETE(path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) *echo.Route {
	return r.Add(http.MethodDelete, path, h, m...)
}

// Match adds path for each of methods behind Auth (see Add).
func (r *DeviceRoutes) Match(methods []string, path string, h echo.HandlerFunc, m ...echo.MiddlewareFunc) []*echo.Route {
	routes := make([]*echo.Route, len(methods))
	for i, method := range methods {
		routes[i] = r.Add(method, path, h, m...)
	}
	return routes
}

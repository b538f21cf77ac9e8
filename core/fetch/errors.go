package fetch

import (
	"errors"
	"fmt"
	"net/http"
)

// Sentinel errors, checked with errors.Is.
var (
	// ErrIntegrity marks an object whose bytes do not match what the
	// signed manifest promises (hash or size), or a manifest whose
	// signature or identity does not verify.
	ErrIntegrity = errors.New("fetch: integrity check failed")
	// ErrOffline is returned when no origin could be reached at all
	// (every attempt failed before an HTTP answer) and the cache could
	// not serve the request.
	ErrOffline = errors.New("fetch: every origin is unreachable")
	// ErrNotFound matches a 404 from an origin.
	ErrNotFound = errors.New("fetch: not found")
	// ErrTooLarge is returned when a body exceeds the size the manifest
	// (or the manifest size limit) allows.
	ErrTooLarge = errors.New("fetch: response too large")
	// ErrBadOrigin is returned for an origin URL that is not http(s).
	ErrBadOrigin = errors.New("fetch: bad origin url")
	// ErrNoOrigins is returned by New when no origin is given.
	ErrNoOrigins = errors.New("fetch: no origins")
	// ErrChunkRange is returned for a chunk index outside the manifest.
	ErrChunkRange = errors.New("fetch: chunk index out of range")
)

// OriginError is the failure of one origin for one request. When every
// origin fails, the Fetcher returns all of them joined (errors.As finds
// the first; errors.Is sees through each).
type OriginError struct {
	Origin  string  // the origin's Name
	Request Request // what was asked
	Err     error   // why it failed: a *StatusError, ErrIntegrity, a network error…
}

// Error implements error. A JSON API call (JSONClient) has no object
// Request: its error names only the origin, and the caller's wrap names
// the method and path.
func (e *OriginError) Error() string {
	if e.Request == (Request{}) {
		return fmt.Sprintf("fetch: origin %s: %v", e.Origin, e.Err)
	}
	return fmt.Sprintf("fetch: origin %s: %s: %v", e.Origin, e.Request, e.Err)
}

// Unwrap returns the underlying error.
func (e *OriginError) Unwrap() error { return e.Err }

// reached reports whether err shows the origin answered (so the failure
// is not connectivity): an HTTP status, a bad or oversized body.
func reached(err error) bool {
	var se *StatusError
	return errors.As(err, &se) || errorsIsAny(err, ErrIntegrity, ErrTooLarge)
}

// serverFault reports whether a status error is the server's fault (5xx),
// as opposed to an answer about the object (4xx).
func serverFault(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code >= http.StatusInternalServerError
}

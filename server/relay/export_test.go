package relay

import (
	"context"

	"github.com/labstack/echo/v4"
)

// WaitMetaCache waits until the metadata cache has applied every Set made
// so far (ristretto applies them asynchronously), so a test knows what it
// holds.
func (s *Server) WaitMetaCache() { s.meta.c.Wait() }

// TrackHandler is the GET /v1/tracks/:id handler without the token check,
// for benchmarking the cached path alone.
func (s *Server) TrackHandler() echo.HandlerFunc { return s.track }

// WrapBlobRead makes the relay read blobs through wrap(next), next being
// its own read, so a test sees each read as it returns.
func (s *Server) WrapBlobRead(wrap func(next func(context.Context, [32]byte) ([]byte, error)) func(context.Context, [32]byte) ([]byte, error)) {
	s.readBlob = wrap(s.readBlob)
}

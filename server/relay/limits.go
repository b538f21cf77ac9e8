package relay

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
)

// MaxRanges is the most byte ranges one request may ask for. A Range
// header with more is answered 416; overlapping and adjacent ranges are
// merged before serving, so a multi-range answer never carries more than
// the resource plus MaxRanges part headers.
const MaxRanges = 8

// ErrTooManyRanges is answered 416 (see MaxRanges).
var ErrTooManyRanges = fmt.Errorf("relay: more than %d byte ranges", MaxRanges)

// byteRange is an inclusive [first, last] span of a resource.
type byteRange struct{ first, last int64 }

// parseRanges parses a "bytes=" Range header against a resource of size
// bytes. ok is false when the header is not one http.ServeContent would
// honour as it stands (malformed, or no satisfiable range): the caller
// then leaves it to ServeContent. More than MaxRanges specs are
// ErrTooManyRanges.
func parseRanges(h string, size int64) (rs []byteRange, ok bool, err error) {
	spec, found := strings.CutPrefix(h, "bytes=")
	if !found {
		return nil, false, nil
	}
	if strings.Count(spec, ",") >= MaxRanges {
		return nil, false, ErrTooManyRanges
	}
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		a, b, dash := strings.Cut(part, "-")
		if !dash {
			return nil, false, nil
		}
		a, b = strings.TrimSpace(a), strings.TrimSpace(b)
		var r byteRange
		if a == "" {
			n, err := strconv.ParseInt(b, 10, 64)
			if err != nil || n < 0 {
				return nil, false, nil
			}
			if n == 0 {
				continue // unsatisfiable suffix
			}
			r = byteRange{max(size-n, 0), size - 1}
		} else {
			first, err := strconv.ParseInt(a, 10, 64)
			if err != nil || first < 0 {
				return nil, false, nil
			}
			last := size - 1
			if b != "" {
				l, err := strconv.ParseInt(b, 10, 64)
				if err != nil || l < first {
					return nil, false, nil
				}
				last = min(l, size-1)
			}
			if first >= size {
				continue // unsatisfiable
			}
			r = byteRange{first, last}
		}
		rs = append(rs, r)
	}
	return rs, len(rs) > 0, nil
}

// coalesce sorts rs and merges ranges that overlap or touch.
func coalesce(rs []byteRange) []byteRange {
	slices.SortFunc(rs, func(x, y byteRange) int {
		switch {
		case x.first < y.first:
			return -1
		case x.first > y.first:
			return 1
		}
		return 0
	})
	out := rs[:1]
	for _, r := range rs[1:] {
		if last := &out[len(out)-1]; r.first <= last.last+1 {
			last.last = max(last.last, r.last)
			continue
		}
		out = append(out, r)
	}
	return out
}

// LimitRanges enforces MaxRanges on r for a resource of size bytes: too
// many ranges are ErrTooManyRanges (answer 416); several valid ones are
// rewritten merged in r's Range header (overlapping and adjacent ones
// joined, in ascending order, as RFC 9110 §14.2 allows) for
// http.ServeContent. The edge (server/edge) applies it as the relay does.
func LimitRanges(r *http.Request, size int64) error {
	h := r.Header.Get("Range")
	if h == "" || size <= 0 {
		return nil // nothing to merge: ServeContent answers an empty resource
	}
	rs, ok, err := parseRanges(h, size)
	if err != nil || !ok || len(rs) < 2 {
		return err
	}
	rs = coalesce(rs)
	parts := make([]string, len(rs))
	for i, x := range rs {
		parts[i] = strconv.FormatInt(x.first, 10) + "-" + strconv.FormatInt(x.last, 10)
	}
	r.Header.Set("Range", "bytes="+strings.Join(parts, ","))
	return nil
}

// bodyDeadline is middleware giving a request body bodyTimeout to arrive
// in full (WebSocket upgrades excepted): it sets the connection's read
// deadline and lifts it once the body has been read to its end, so a
// handler that runs long afterwards is not cut off. A body still
// arriving at the deadline fails to read (DecodeJSON answers 408), and
// the connection is closed.
func (s *Server) bodyDeadline(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if s.opts.bodyTimeout <= 0 || req.Body == nil || req.Body == http.NoBody || req.ContentLength == 0 || c.IsWebSocket() {
			return next(c)
		}
		rc := http.NewResponseController(c.Response())
		if err := rc.SetReadDeadline(time.Now().Add(s.opts.bodyTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return fmt.Errorf("set read deadline: %w", err)
		}
		req.Body = &deadlineBody{ReadCloser: req.Body, rc: rc}
		return next(c)
	}
}

// deadlineBody lifts the read deadline when the body ends.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

package relay

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
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

// parseRanges parses a Range header against a resource of size bytes
// (RFC 9110 §14.1.2). ok is false when the header is to be ignored: its
// range unit is not "bytes" (compared case-insensitively), or it is not
// a valid ranges-specifier (a range-spec that is not digits "-" [digits]
// or "-" digits, a last-pos before its first-pos, no range-spec at all).
// Otherwise rs holds its satisfiable ranges, clamped to the resource (none
// when it is unsatisfiable); more than MaxRanges range-specs are
// ErrTooManyRanges.
func parseRanges(h string, size int64) (rs []byteRange, ok bool, err error) {
	unit, spec, found := strings.Cut(h, "=")
	if !found || !strings.EqualFold(unit, "bytes") {
		return nil, false, nil
	}
	n := 0
	for part := range strings.SplitSeq(spec, ",") {
		part = strings.Trim(part, " \t")
		if part == "" {
			continue // an empty list element (RFC 9110 §5.6.1)
		}
		if n++; n > MaxRanges {
			return nil, false, ErrTooManyRanges
		}
		a, b, dash := strings.Cut(part, "-")
		suffix := a == "" // suffix-range: the last b bytes
		if !dash || suffix && !digits(b) || !suffix && (!digits(a) || b != "" && !digits(b)) {
			return nil, false, nil
		}
		if suffix {
			if l := atoiSat(b); l > 0 && size > 0 {
				rs = append(rs, byteRange{max(size-l, 0), size - 1})
			}
			continue
		}
		first, last := atoiSat(a), int64(math.MaxInt64)
		if b != "" {
			if last = atoiSat(b); last < first {
				return nil, false, nil
			}
		}
		if first < size {
			rs = append(rs, byteRange{first, min(last, size-1)})
		}
	}
	return rs, n > 0, nil
}

// digits reports whether s is one or more ASCII digits.
func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// atoiSat is the value of the ASCII digits s, math.MaxInt64 when larger.
func atoiSat(s string) int64 {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return math.MaxInt64
	}
	return n
}

// coalesce sorts rs and merges ranges that overlap or touch.
func coalesce(rs []byteRange) []byteRange {
	slices.SortFunc(rs, func(x, y byteRange) int { return cmp.Compare(x.first, y.first) })
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

// LimitRanges prepares r's Range header for http.ServeContent serving a
// resource of size bytes, as RFC 9110 §14.2 has it: a header with another
// range unit than bytes, or that is not a valid ranges-specifier, is
// removed (the whole resource is served, 200); more than MaxRanges ranges
// are ErrTooManyRanges (answer 416); a valid one is rewritten in
// canonical form, its satisfiable ranges merged (overlapping and adjacent
// ones joined, in ascending order), or, when none is satisfiable, as
// "bytes=<size>-", which ServeContent answers 416 with "Content-Range:
// bytes */<size>" — after If-None-Match (304) and If-Range (200), which it
// evaluates first. The edge (server/edge) applies it as the relay does.
func LimitRanges(r *http.Request, size int64) error {
	h := r.Header.Get("Range")
	if h == "" {
		return nil
	}
	rs, ok, err := parseRanges(h, size)
	switch {
	case err != nil:
		return err
	case !ok:
		r.Header.Del("Range")
		return nil
	case len(rs) == 0:
		r.Header.Set("Range", "bytes="+strconv.FormatInt(size, 10)+"-")
		return nil
	}
	rs = coalesce(rs)
	parts := make([]string, len(rs))
	for i, x := range rs {
		parts[i] = strconv.FormatInt(x.first, 10) + "-" + strconv.FormatInt(x.last, 10)
	}
	r.Header.Set("Range", "bytes="+strings.Join(parts, ","))
	return nil
}

// canonicalPath is Pre middleware (it runs before routing) that decodes
// the percent-encoded unreserved characters (RFC 3986 §2.3: letters,
// digits, "-", ".", "_", "~") of the request's escaped path, as §6.2.2.2
// has it: they name the same resource as the characters themselves.
// Echo routes on URL.RawPath when the client's escaping differs from
// the default one and hands the route's parameters over undecoded, so
// /v1/tracks/%74r1 looked up the track "%74r1" and /v1/%6De matched no
// route. Other escapes (an encoded "/" above all) stay as they are: an
// encoded slash is part of its segment, not a separator.
func canonicalPath(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		u := c.Request().URL
		if u.RawPath == "" {
			return next(c)
		}
		raw := decodeUnreserved(u.RawPath)
		if (&url.URL{Path: u.Path}).EscapedPath() == raw {
			raw = "" // the default escaping of Path: Echo routes on Path
		}
		u.RawPath = raw
		return next(c)
	}
}

// decodeUnreserved returns the escaped path p with every %XX escape of
// an unreserved character replaced by that character.
func decodeUnreserved(p string) string {
	if !strings.Contains(p, "%") {
		return p
	}
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		if p[i] == '%' && i+2 < len(p) {
			if v, err := strconv.ParseUint(p[i+1:i+3], 16, 8); err == nil && unreserved(byte(v)) {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(p[i])
	}
	return b.String()
}

// unreserved reports whether c is an unreserved URI character (RFC 3986
// §2.3).
func unreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~'
}

// checkRequest is middleware that refuses (400, ErrBadRequest) a request
// whose query string net/url cannot read in full (a bad %-escape, a ';'
// separator, more parameters than url.ParseQuery takes) or that names a
// parameter more than once: url.ParseQuery drops what it cannot read and
// QueryParam returns the first of several values, so a handler acted on
// a query other than the one sent (a search for "harbour%zz" searched
// for "", a bad limit became the default). It refuses a request with
// more than one Authorization header too (checkAuthorization).
func (s *Server) checkRequest(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := checkAuthorization(c.Request().Header); err != nil {
			return err
		}
		if err := checkQuery(c.Request().URL.RawQuery); err != nil {
			return err
		}
		return next(c)
	}
}

// checkAuthorization returns the ErrBadRequest of a header with more
// than one Authorization field (RFC 9110 §11.6.2 allows one credential):
// the relay read the first, while a proxy or edge in front of it may
// check another, and would then authorise one caller for another's
// request.
func checkAuthorization(h http.Header) error {
	if n := len(h["Authorization"]); n > 1 {
		return fmt.Errorf("%w: Authorization header given %d times", ErrBadRequest, n)
	}
	return nil
}

// checkQuery returns the ErrBadRequest of a raw query string that does
// not parse in full or names a parameter twice, nil for any other.
func checkQuery(raw string) error {
	if raw == "" {
		return nil
	}
	q, err := url.ParseQuery(raw)
	if err != nil {
		return fmt.Errorf("%w: query string: %v", ErrBadRequest, err)
	}
	for k, v := range q {
		if len(v) > 1 {
			return fmt.Errorf("%w: query parameter %s given %d times", ErrBadRequest, QuoteInput(k), len(v))
		}
	}
	return nil
}

// bodyDeadline is middleware giving a request body bodyTimeout to arrive
// in full (WebSocket upgrades excepted): it sets the connection's read
// deadline and lifts it once the body has been read to its end, so a
// handler that runs long afterwards is not cut off. A body still
// arriving at the deadline fails to read (DecodeJSON answers 408), and
// the connection is closed. The connection of a chunked HTTP/1.x body
// is closed after its answer too.
func (s *Server) bodyDeadline(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.Body == nil || req.Body == http.NoBody || req.ContentLength == 0 || c.IsWebSocket() {
			return next(c)
		}
		if req.ProtoMajor == 1 && len(req.TransferEncoding) > 0 {
			// RFC 9112 §6.3: a server that receives both Transfer-Encoding
			// and Content-Length must close the connection after
			// answering. net/http has dropped the Content-Length by now,
			// so every chunked HTTP/1.x request is answered so
			// (closeAfterChunked).
			c.Response().Before(func() { closeAfterChunked(c) })
		}
		rc := http.NewResponseController(c.Response())
		// A body still arriving when the shutdown grace period ends stops
		// being read, so its handler can answer ErrShuttingDown.
		stop := context.AfterFunc(req.Context(), func() {
			if errors.Is(context.Cause(req.Context()), ErrShuttingDown) {
				_ = rc.SetReadDeadline(time.Unix(1, 0))
			}
		})
		defer stop()
		if s.opts.bodyTimeout <= 0 {
			return next(c)
		}
		if err := rc.SetReadDeadline(time.Now().Add(s.opts.bodyTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return fmt.Errorf("set read deadline: %w", err)
		}
		req.Body = &deadlineBody{ReadCloser: req.Body, rc: rc}
		return next(c)
	}
}

// maxChunkedDrain is how much of a chunked request body closeAfterChunked
// reads past what its handler read: net/http's own bound on the body it
// discards after a handler (maxPostHandlerReadBytes).
const maxChunkedDrain = 256 << 10

// closeAfterChunked runs just before the answer to a chunked HTTP/1.x
// request is written: once its body is read to its end (what is left of
// it read and discarded, at most maxChunkedDrain), the answer says
// Connection: close and net/http closes the connection after it. With
// more left, net/http does not reuse the connection anyway, and closes it
// after a grace that lets the client read the answer: a close asked for
// before would cut that grace and reset the connection under a client
// still sending.
func closeAfterChunked(c echo.Context) {
	n, err := io.CopyN(io.Discard, c.Request().Body, maxChunkedDrain)
	if n < maxChunkedDrain && (err == io.EOF || errors.Is(err, http.ErrBodyReadAfterClose)) {
		c.Response().Header().Set(echo.HeaderConnection, "close")
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

package edge

import (
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/access"
)

// deviceKey is the request-context key of the device an accepted token
// names (the parent's /v1/me answer), set by authed.
type deviceKey struct{}

// countingWriter remembers the status and counts the body bytes sent.
type countingWriter struct {
	http.ResponseWriter
	status int
	bytes  uint64
}

func (w *countingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *countingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(p)
	w.bytes += uint64(n)
	return n, err
}

// recorded wraps an audio handler so that, with an access writer
// (Options.WithAccessWriter), every GET answered 200 or 206 with a body
// for a header, a chunk by position or a blob by hash is queued as an
// access.Record, in the one format the relay writes (server/access): the
// device is the one the parent's /v1/me named for the token, Time the
// edge's clock, Blob the served object's hash, Bytes the body bytes sent
// (Offset from a single-range answer). Manifests are not recorded (no
// audio), nor HEAD, 304 or errors.
func (e *Edge) recorded(h func(w http.ResponseWriter, r *http.Request, tok string)) func(w http.ResponseWriter, r *http.Request, tok string) {
	if e.opts.access == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request, tok string) {
		cw := &countingWriter{ResponseWriter: w}
		h(cw, r, tok)
		if r.Method != http.MethodGet || (cw.status != http.StatusOK && cw.status != http.StatusPartialContent) || cw.bytes == 0 {
			return
		}
		rec, ok := accessRecord(r, cw)
		if !ok {
			return
		}
		rec.Time = e.opts.now().UnixMilli()
		if err := e.opts.access.Write(rec); err != nil {
			e.opts.logger.Debug("edge: access record not queued", "err", err)
		}
	}
}

// accessRecord builds the record of a served answer; false for a
// manifest or an answer without the device or the object's hash.
func accessRecord(r *http.Request, w *countingWriter) (access.Record, bool) {
	dev, _ := r.Context().Value(deviceKey{}).(model.DeviceID)
	etag := w.Header().Get("ETag")
	if dev == "" || len(etag) != 66 {
		return access.Record{}, false
	}
	rec := access.Record{Device: dev, Bytes: w.bytes}
	if _, err := hex.Decode(rec.Blob[:], []byte(etag[1:65])); err != nil {
		return access.Record{}, false
	}
	if w.status == http.StatusPartialContent {
		rec.Offset = access.RangeStart(w.Header().Get("Content-Range"))
	}
	switch {
	case strings.HasPrefix(r.URL.Path, "/v1/blobs/"):
		rec.Kind = access.KindBlob
	case strings.HasSuffix(r.URL.Path, "/header"):
		rec.Kind = access.KindHeader
		rec.Track, rec.Tier = model.TrackID(r.PathValue("track")), model.Tier(r.PathValue("tier"))
	case r.PathValue("i") != "":
		i, err := strconv.ParseUint(r.PathValue("i"), 10, 32)
		if err != nil {
			return access.Record{}, false
		}
		rec.Kind = access.KindChunk
		rec.Track, rec.Tier = model.TrackID(r.PathValue("track")), model.Tier(r.PathValue("tier"))
		rec.First, rec.Last = uint32(i), uint32(i)
	default:
		return access.Record{}, false
	}
	return rec, len(rec.Track) <= access.MaxFieldLen
}

package relaysync

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/segue-fm/segue/core/api"
)

// writeError answers a request the endpoint refuses before the upgrade
// as the relay answers every error (server/relay): status with the JSON
// body {"error": msg} (api.ErrorBody), uncacheable. A retry > 0 (whole
// seconds, at least one) is sent as Retry-After and named at the end of
// the message, so the two agree.
func writeError(w http.ResponseWriter, status int, msg string, retry time.Duration) {
	h := w.Header()
	if retry > 0 {
		secs := int((retry + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.Itoa(secs))
		msg = fmt.Sprintf("%s, retry in %d s", msg, secs)
	}
	body, _ := json.Marshal(api.ErrorBody{Error: msg}) // a string field cannot fail
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// jsonErrorWriter is the ResponseWriter handed to websocket.Accept: it
// turns the plain-text error answers of a refused handshake (http.Error:
// a missing Sec-WebSocket-Key, an unsupported Sec-WebSocket-Version)
// into writeError's JSON, keeping the headers the library set for them
// (Sec-WebSocket-Version); a successful upgrade passes through.
type jsonErrorWriter struct {
	slimHijacker
	status int  // an error status written, 0 before or when none
	done   bool // the error answer is written
}

// WriteHeader implements http.ResponseWriter.
func (w *jsonErrorWriter) WriteHeader(status int) {
	if status < http.StatusBadRequest {
		w.slimHijacker.WriteHeader(status)
		return
	}
	w.status = status
}

// Write implements http.ResponseWriter: the body of an error answer
// becomes its JSON message.
func (w *jsonErrorWriter) Write(p []byte) (int, error) {
	switch {
	case w.status == 0:
		return w.slimHijacker.Write(p)
	case !w.done:
		w.done = true
		writeError(w.slimHijacker, w.status, "relaysync: "+string(bytes.TrimSpace(p)), 0)
	}
	return len(p), nil
}

// finish writes an error status the library set without a body.
func (w *jsonErrorWriter) finish() {
	if w.status != 0 && !w.done {
		w.done = true
		writeError(w.slimHijacker, w.status, "relaysync: "+http.StatusText(w.status), 0)
	}
}

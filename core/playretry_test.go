package core_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
)

// TestPlayWaitsRelayRetryAfter: a relay that refuses the first audio
// blob a play asks for with 503 and Retry-After: 1 is asked for it again
// no sooner than a second later (the player's stall retry came after its
// 50 ms backoff before: 51.6 ms measured), and the track then plays to
// its end. The times are those the relay's front saw the requests
// arrive; the wait can only make the gap longer, never shorter.
func TestPlayWaitsRelayRetryAfter(t *testing.T) {
	tb := newTestbed(t)
	target, err := url.Parse(tb.url)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	refused := ""         // the blob refused
	var asked []time.Time // when it was asked for
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/blobs/") {
			mu.Lock()
			if refused == "" {
				refused = r.URL.Path
			}
			if r.URL.Path == refused {
				asked = append(asked, time.Now())
			}
			first := len(asked) == 1 && r.URL.Path == refused
			mu.Unlock()
			if first {
				w.Header().Set("Retry-After", "1")
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusServiceUnavailable)
				w.Write([]byte(`{"error":"busy"}`))
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	e := tb.openEngine(t, core.DefaultOptions(), front.URL)
	run := playThroughEngine(t, e, noGain(model.TierLow), playItems(albumOf(tb, 1)), nil)
	if len(run.history) != 1 || run.history[0].Event.End != model.EndCompleted {
		t.Fatalf("history %+v; want the track completed", run.history)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(asked) < 2 {
		t.Fatalf("%s asked for %d times; want the refusal and a retry", refused, len(asked))
	}
	if gap := asked[1].Sub(asked[0]); gap < time.Second {
		t.Errorf("asked again %v after the refusal with Retry-After: 1; want ≥ 1 s", gap)
	}
}

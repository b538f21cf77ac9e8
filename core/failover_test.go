package core_test

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
)

// TestPrimaryFailsMidTrack plays an album track through a primary origin
// (a proxy in front of the relay) that fails a third into the track, in
// two ways: "hang" keeps accepting connections and never answers again, as
// a hung CDN node does; "kill" closes its listener and every open
// connection, as a crashed one does. The engine fails over to the relay as
// the second origin: the output is sample-identical to an undisturbed play
// of the same track (no gap, no repeated or lost sample), the track
// completes, no object waited much longer than the 1.5 s attempt timeout,
// and the failed primary gets only the requests in flight when it failed
// (then it is quarantined).
func TestPrimaryFailsMidTrack(t *testing.T) {
	tb := newTestbed(t)
	clean := tb.openEngine(t, core.DefaultOptions(), tb.url)
	want := playThroughEngine(t, clean, noGain(model.TierHigh), playItems(albumOf(tb, 1)), nil).samples

	target, err := url.Parse(tb.url)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"hang", "kill"} {
		t.Run(mode, func(t *testing.T) {
			proxy := httputil.NewSingleHostReverseProxy(target)
			var failed atomic.Bool
			var afterFailure atomic.Int64
			primary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if failed.Load() {
					afterFailure.Add(1)
					<-r.Context().Done()
					return
				}
				proxy.ServeHTTP(w, r)
			}))
			t.Cleanup(primary.Close)

			var slowest, primaryErrs atomic.Int64
			obs := func(ev fetch.Event) {
				if d := int64(ev.Duration); d > slowest.Load() {
					slowest.Store(d)
				}
				if ev.Err != nil && ev.Origin == primary.URL {
					primaryErrs.Add(1)
				}
			}
			e := tb.openEngine(t, core.DefaultOptions().WithObserver(obs), primary.URL, tb.url)
			mid := int64(len(want) / 2 / 3) // a third into the track, frames
			run := playThroughEngineAt(t, e, noGain(model.TierHigh), playItems(albumOf(tb, 1)), nil, mid, func(*player.Player) {
				failed.Store(true)
				if mode == "kill" {
					primary.Listener.Close()
					primary.CloseClientConnections()
				}
			})
			if !failed.Load() {
				t.Fatal("the primary never failed under the play: the test did not exercise failover")
			}
			if primaryErrs.Load() == 0 {
				t.Fatal("no request failed at the primary: the test did not exercise failover")
			}
			if !equalFloats(run.samples, want) {
				t.Fatalf("output (%d frames) differs from the undisturbed play (%d frames)", len(run.samples)/2, len(want)/2)
			}
			if len(run.history) != 1 || run.history[0].Event.End != model.EndCompleted {
				t.Fatalf("history %+v", run.history)
			}
			if d := time.Duration(slowest.Load()); d > 2*time.Second {
				t.Errorf("slowest origin attempt %v, want ≤ 2 s", d)
			}
			if n := afterFailure.Load(); n > 3 {
				t.Errorf("the failed primary was asked %d times after it failed, want ≤ 3 (then quarantined)", n)
			}
		})
	}
}

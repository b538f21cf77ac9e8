package download_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
)

// TestRelayBusyWaitsRetryAfter: the relay refuses every blob (or every
// license request) with 503 Retry-After: 7, then with 429 and a
// Retry-After of ten days, then serves them. The downloads pause ("relay busy") for at least each
// Retry-After — the second capped at api.MaxRetryAfter — on the
// manager's fake timer, fail no track, and then complete. Before, the
// first refusal failed every track in flight (EventFailed) until the
// user added the album again.
func TestRelayBusyWaitsRetryAfter(t *testing.T) {
	for _, prefix := range []string{"/v1/blobs/", "/v1/licenses"} {
		t.Run(prefix, func(t *testing.T) { testRelayBusy(t, prefix) })
	}
}

func testRelayBusy(t *testing.T, prefix string) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	var (
		mu     sync.Mutex
		phase  int
		waits  []time.Duration
		failed []download.Event
		paused []string
	)
	refusals := []struct {
		code  int
		after string
	}{{http.StatusServiceUnavailable, "7"}, {http.StatusTooManyRequests, "864000"}}
	fail := func(r *http.Request) int {
		mu.Lock()
		defer mu.Unlock()
		if phase < len(refusals) && strings.HasPrefix(r.URL.Path, prefix) {
			return refusals[phase].code
		}
		return 0
	}
	b.fail.Store(&fail)
	ra := refusals[0].after
	b.retryAfter.Store(&ra)
	d := b.openDevice(t, t.TempDir(), "boot1", download.DefaultOptions().WithWorkers(1).WithEvents(func(e download.Event) {
		mu.Lock()
		defer mu.Unlock()
		switch e.Kind {
		case download.EventFailed:
			failed = append(failed, e)
		case download.EventPaused:
			paused = append(paused, e.Reason)
		}
	}))
	download.SetTimer(d.dl, func(dur time.Duration) <-chan time.Time {
		if dur == time.Hour {
			return nil // idle: a Nudge or new work wakes it
		}
		mu.Lock()
		defer mu.Unlock()
		waits = append(waits, dur)
		phase++
		if phase < len(refusals) {
			next := refusals[phase].after
			b.retryAfter.Store(&next)
		}
		fired := make(chan time.Time, 1)
		fired <- time.Time{}
		return fired
	})
	if err := d.dl.Add(ctx, download.Ref{Kind: download.KindAlbum, ID: string(p.album), Tier: model.TierLow}); err != nil {
		t.Fatal(err)
	}
	if err := d.dl.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range p.tracks {
		if !d.dl.Downloaded(id, model.TierLow) {
			t.Errorf("%s not downloaded", id)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(failed) != 0 {
		t.Fatalf("tracks failed on a temporary refusal: %+v", failed)
	}
	if len(waits) != 2 || waits[0] < 7*time.Second || waits[0] > 8*time.Second || waits[1] != api.MaxRetryAfter {
		t.Fatalf("waits %v, want [7s, %v]", waits, api.MaxRetryAfter)
	}
	if len(paused) == 0 || paused[0] != download.PausedRelayBusy {
		t.Fatalf("paused %q, want %q", paused, download.PausedRelayBusy)
	}
}

package core_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
)

// keyLateClock is the system clock, except that the content-key lookup
// (core's contentKey) waits until late is closed (at most 20 s): the
// manifest request, made beside it, is answered first, as it can be on a
// loaded machine.
type keyLateClock struct{ late chan struct{} }

func (c keyLateClock) Now() time.Time {
	buf := make([]byte, 16<<10)
	if strings.Contains(string(buf[:runtime.Stack(buf, false)]), "core.(*Engine).contentKey") {
		select {
		case <-c.late:
		case <-time.After(20 * time.Second):
		}
	}
	return time.Now()
}

// TestOpenTrackUnregisteredWhateverFinishesFirst: OpenTrack on a device
// without a token is ErrNotRegistered even when the manifest request
// (sent without a token) is refused with 401 before the content-key
// lookup finds no token. It was the manifest's bare 401, matching no
// sentinel, whenever that answer came first (TestLostIdentityDropsToken
// failed so under load).
func TestOpenTrackUnregisteredWhateverFinishesFirst(t *testing.T) {
	tb := newTestbed(t)
	ctx := context.Background()
	clock := keyLateClock{late: make(chan struct{})}
	var once sync.Once
	opts := core.DefaultOptions().WithOrigins(tb.url).WithLogger(quiet()).WithCatalogKey(tb.catalogPub).
		WithClock(clock).WithObserver(func(ev fetch.Event) {
		if ev.Request.Kind == fetch.KindManifest && ev.Err != nil {
			once.Do(func() { close(clock.late) })
		}
	})
	e, err := core.Open(ctx, t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := e.OpenTrack(ctx, tb.tracks[0], model.TierLow); !errors.Is(err, core.ErrNotRegistered) {
		t.Fatalf("OpenTrack without a token = %v, want ErrNotRegistered", err)
	}
}

package core_test

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
	tbed "github.com/segue-fm/segue/internal/testbed"
)

// keyLateClock is the system clock, except that the content-key lookup
// (core's contentKey) waits until late is closed (at most 20 s): the
// manifest request, made beside it, is answered first, as it can be on a
// loaded machine. held counts the lookups it held back, so a test can
// tell that it did (a renamed contentKey would make it a plain clock).
type keyLateClock struct {
	late chan struct{}
	held *atomic.Int32
}

func (c keyLateClock) Now() time.Time {
	buf := make([]byte, 16<<10)
	if strings.Contains(string(buf[:runtime.Stack(buf, false)]), "core.(*Engine).contentKey") {
		c.held.Add(1)
		select {
		case <-c.late:
		case <-time.After(20 * time.Second):
		}
	}
	return time.Now()
}

// TestOpenTrackCredentialErrorWhateverFinishesFirst: OpenTrack on a
// device without a token is ErrNotRegistered, and with a token the relay
// refuses ErrUnauthorized, even when the manifest request is refused
// with 401 before the content-key lookup ends. Both were the manifest's
// bare 401, matching neither sentinel, whenever that answer came first
// (TestLostIdentityDropsToken failed so under load).
func TestOpenTrackCredentialErrorWhateverFinishesFirst(t *testing.T) {
	r := tbed.NewRelay(t, tbed.DefaultOptions().WithLicenses(true))
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, e *core.Engine)
		want  error
	}{
		{"no token", func(*testing.T, *core.Engine) {}, core.ErrNotRegistered},
		{"revoked token", func(t *testing.T, e *core.Engine) {
			tbed.Register(t, e, testUser, "revoked")
			tbed.Deregister(t, r.URL, e.DeviceID(), e.Token())
		}, core.ErrUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := keyLateClock{late: make(chan struct{}), held: new(atomic.Int32)}
			var once sync.Once
			opts := core.DefaultOptions().WithOrigins(r.URL).WithLogger(quiet()).WithCatalogKey(r.CatalogKey).
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
			tc.setup(t, e)
			if _, err := e.OpenTrack(ctx, r.Tracks[0], model.TierLow); !errors.Is(err, tc.want) {
				t.Fatalf("OpenTrack = %v, want %v", err, tc.want)
			}
			if clock.held.Load() == 0 {
				t.Fatal("the content-key lookup was never held back: keyLateClock no longer finds contentKey on the stack")
			}
		})
	}
}

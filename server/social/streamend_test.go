package social_test

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/server/social"
)

// openStream opens GET /v1/activity/stream with token and returns a
// channel that receives what was read once the relay ends the stream.
func openStream(t *testing.T, base, token string) <-chan string {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), "GET", base+"/v1/activity/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	ended := make(chan string, 1)
	go func() {
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		ended <- string(b)
	}()
	return ended
}

// TestStreamEndsWithDevice: an activity stream ends when its device is
// deregistered (DELETE /v1/devices/{id}), within a second as its sync
// connections do, and when its token expires; the account's other
// device's stream stays open. Both stayed open (keep-alives every 25 s)
// and went on delivering friends' activity.
func TestStreamEndsWithDevice(t *testing.T) {
	mount := func(dd *catalog.DataDir, srv *relay.Server) {
		social.NewForRelay(dd, srv, social.DefaultOptions().WithLogger(slog.New(slog.DiscardHandler))).Mount(srv)
	}
	t.Run("deregistered", func(t *testing.T) {
		r := testbed.NewRelay(t, testbed.DefaultOptions().WithLicenses(true).WithMount(mount))
		ada, other := testbed.Device(t, r, "ada"), testbed.Device(t, r, "ada")
		gone, kept := openStream(t, r.URL, ada.Token()), openStream(t, r.URL, other.Token())
		time.Sleep(100 * time.Millisecond)
		if code, _, b := do(t, "DELETE", r.URL+"/v1/devices/"+string(ada.DeviceID()), ada.Token(), ""); code != http.StatusNoContent {
			t.Fatalf("deregister: %d %s", code, b)
		}
		select {
		case got := <-gone:
			if !strings.HasPrefix(got, ": ready\n\n") {
				t.Fatalf("stream read %q", got)
			}
		case <-time.After(time.Second):
			t.Fatal("the deregistered device's stream is still open after 1 s")
		}
		select {
		case got := <-kept:
			t.Fatalf("the other device's stream ended: %q", got)
		case <-time.After(200 * time.Millisecond):
		}
	})
	t.Run("expired", func(t *testing.T) {
		const ttl = 3 * time.Second
		r := testbed.NewRelay(t, testbed.DefaultOptions().WithMount(mount).
			WithRelayOptions(func(o relay.Options) relay.Options { return o.WithTokenTTL(ttl) }))
		ada := testbed.Device(t, r, "ada")
		t0 := time.Now()
		ended := openStream(t, r.URL, ada.Token())
		select {
		case <-ended:
			if d := time.Since(t0); d < ttl/2 {
				t.Fatalf("the stream ended after %v, before its token expired", d)
			}
		case <-time.After(ttl + 2*time.Second):
			t.Fatalf("the stream is still open %v after its token expired", 2*time.Second)
		}
	})
}

// TestLimitErrors: the limits of activity streams and updates are 429s
// (relay.ErrTooManyRequests) that say what was counted; they read "too
// many login attempts" when they wrapped the login limiter's error.
func TestLimitErrors(t *testing.T) {
	for _, err := range []error{social.ErrUserStreams, social.ErrActivityRate} {
		if !errors.Is(err, relay.ErrTooManyRequests) || strings.Contains(err.Error(), "login") {
			t.Errorf("%v: want a relay.ErrTooManyRequests not about logins", err)
		}
	}
}

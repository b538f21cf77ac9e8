package counting_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/license"
	"github.com/segue-fm/segue/server/relay"
)

// skew is the default allowed clock skew of counting.DefaultOptions.
const skew = 5 * time.Minute

// fakeClock is a settable relay clock for the counting service.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// at is a completed play of track starting at start (Unix ms).
func at(seq uint64, track model.TrackID, start, playedMs int64) api.PlayRecord {
	return api.PlayRecord{Seq: seq, Track: track, Tier: model.TierLow, StartedAt: start, PlayedMs: playedMs,
		EndReason: model.EndCompleted, Source: model.SourceStream}
}

// expect uploads evs from d and compares every status with want.
func expect(t *testing.T, d *device, evs []api.PlayRecord, want []string) {
	t.Helper()
	code, ans := d.upload(t, evs)
	if code != http.StatusOK || len(ans.Results) != len(evs) {
		t.Fatalf("upload: %d, %d results", code, len(ans.Results))
	}
	for i, w := range want {
		if got := ans.Results[i].Status; got != w {
			t.Errorf("event %d (seq %d): %s, want %s", i, evs[i].Seq, got, w)
		}
	}
}

// accountCreated returns when user's account was created, as the relay
// stored it.
func accountCreated(t *testing.T, f *fixture, user string) time.Time {
	t.Helper()
	b, err := f.dd.Store.Get(context.Background(), relay.AccountKey(model.UserID(user)))
	if err != nil {
		t.Fatal(err)
	}
	var a relay.Account
	if err := relay.DecodeRecord(b, &a); err != nil || a.Created.IsZero() {
		t.Fatalf("account %+v, %v", a, err)
	}
	return a.Created
}

// TestPlayTooOld: a play is refused as too_old when it started before a
// device could still hold it, the license's offline window (validity +
// grace) plus the skew before the relay's clock; one started exactly then
// is accepted, and so is every later one. The relay's clock runs 40 days
// ahead so that these starts are after the account's creation. A shorter
// window (WithOfflineWindow) moves the bound.
func TestPlayTooOld(t *testing.T) {
	window := license.DefaultOptions().OfflineWindow()
	if window != license.DefaultValidity+license.DefaultGrace {
		t.Fatalf("offline window %v", window)
	}
	for _, c := range []struct {
		name   string
		window time.Duration // 0: the default
	}{{"default window", 0}, {"one day", 24 * time.Hour}} {
		t.Run(c.name, func(t *testing.T) {
			clk := &fakeClock{now: time.Now().Add(40 * 24 * time.Hour).Truncate(time.Millisecond)}
			f := newFixture(t, counting.DefaultOptions().WithThreshold(time.Second).WithOfflineWindow(c.window).WithClock(clk.Now))
			d := newDevice(t, f, "olga")
			tr := f.r.Tracks[0]
			w := window
			if c.window > 0 {
				w = c.window
			}
			bound := clk.Now().Add(-w - skew).UnixMilli()
			cases := []struct {
				start int64
				want  string
			}{
				{1, api.PlayTooOld},
				{time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), api.PlayTooOld},
				{clk.Now().Add(-40 * 24 * time.Hour).UnixMilli(), api.PlayTooOld},
				{bound - 1, api.PlayTooOld},
				{bound, api.PlayAccepted},
				{bound + 60_000, api.PlayAccepted},
				{clk.Now().Add(-time.Hour).UnixMilli(), api.PlayAccepted},
			}
			var evs []api.PlayRecord
			var want []string
			for i, c := range cases {
				evs = append(evs, at(uint64(i+1), tr, c.start, 1500))
				want = append(want, c.want)
			}
			expect(t, d, evs, want)
		})
	}
}

// TestPlayBeforeAccount: a play that started before its device's account
// was created, by more than the skew, is refused as before_account.
func TestPlayBeforeAccount(t *testing.T) {
	f := newFixture(t, counting.DefaultOptions().WithThreshold(time.Second))
	d := newDevice(t, f, "pia")
	created := accountCreated(t, f, "pia")
	tr := f.r.Tracks[0]
	bound := created.Add(-skew).UnixMilli()
	expect(t, d, []api.PlayRecord{at(1, tr, bound-1, 1500), at(2, tr, bound, 1500), at(3, tr, created.UnixMilli(), 1500),
		at(4, tr, created.Add(-time.Hour).UnixMilli(), 1500)},
		[]string{api.PlayBeforeAccount, api.PlayAccepted, api.PlayAccepted, api.PlayBeforeAccount})
}

// TestPlayNotReleased: plays of an embargoed album's tracks are refused
// as not_released, including after the release when they started before
// it (by more than the skew); a release scheduled after a track's first
// accepted play applies at once (the track cache follows the catalog).
func TestPlayNotReleased(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{now: time.Now().Add(3 * time.Hour).Truncate(time.Millisecond)}
	f := newFixture(t, counting.DefaultOptions().WithThreshold(time.Second).WithClock(clk.Now))
	d := newDevice(t, f, "quinn")
	tr := f.r.Tracks[0]
	track, err := f.dd.Catalog.Track(ctx, tr)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(time.Minute).UnixMilli()
	expect(t, d, []api.PlayRecord{at(1, tr, start, 1500)}, []string{api.PlayAccepted})
	// Embargoed until tomorrow: no play can have started yet.
	if err := f.dd.Catalog.ScheduleRelease(ctx, track.AlbumID, clk.Now().Add(24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	expect(t, d, []api.PlayRecord{at(2, tr, start+10_000, 1500), at(3, tr, clk.Now().UnixMilli()-2000, 1500)},
		[]string{api.PlayNotReleased, api.PlayNotReleased})
	// Released an hour ago (whole seconds, as ReleaseAt keeps it).
	rel := clk.Now().Add(-time.Hour).Truncate(time.Second)
	if err := f.dd.Catalog.ScheduleRelease(ctx, track.AlbumID, rel); err != nil {
		t.Fatal(err)
	}
	bound := rel.Add(-skew).UnixMilli()
	expect(t, d, []api.PlayRecord{at(4, tr, bound-1, 1500), at(5, tr, bound, 1500), at(6, tr, rel.Add(time.Minute).UnixMilli(), 1500),
		at(7, f.r.Tracks[1], bound-1, 1500)},
		[]string{api.PlayNotReleased, api.PlayAccepted, api.PlayAccepted, api.PlayNotReleased})
}

// longTrack returns the longest demo track and a played time of 14 s,
// longer than a crossfade (12 s) and within it.
func longTrack(t *testing.T, f *fixture) (model.TrackID, int64) {
	t.Helper()
	var best model.TrackID
	var ms int64
	for _, id := range f.r.Tracks {
		tr, err := f.dd.Catalog.Track(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if d := tr.Duration().Milliseconds(); d > ms {
			best, ms = id, d
		}
	}
	if ms < 14_000 {
		t.Fatalf("longest demo track %d ms, want at least 14 s", ms)
	}
	return best, 14_000
}

// TestOverlappingPlays: one device cannot play two tracks at once, beyond
// a crossfade. Five 14 s streams started together count once; a stream
// overlapping an accepted one by exactly the longest crossfade is
// accepted, 1 ms more is overlapping; plays on the trusted clock are
// compared only with each other; plays that do not count as streams, and
// streams no longer than a crossfade, are not checked. A retry of an
// accepted event is still a duplicate, and the state survives a relay
// restart.
func TestOverlappingPlays(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{now: time.Now().Add(time.Hour).Truncate(time.Millisecond)}
	f := newFixture(t, counting.DefaultOptions().WithThreshold(5*time.Second).WithClock(clk.Now))
	d := newDevice(t, f, "rosa")
	tr, l := longTrack(t, f)
	allow := counting.OverlapAllowance.Milliseconds()
	t0 := time.Now().Add(time.Minute).UnixMilli()
	first := []api.PlayRecord{at(1, tr, t0, l), at(2, tr, t0, l), at(3, tr, t0, l), at(4, tr, t0, l), at(5, tr, t0, l)}
	expect(t, d, first, []string{api.PlayAccepted, api.PlayOverlapping, api.PlayOverlapping, api.PlayOverlapping, api.PlayOverlapping})
	crossfaded := t0 + l - allow
	trusted := at(8, tr, t0, l)
	trusted.Offline, trusted.TrustedTime, trusted.Source = true, true, model.SourceDownload
	expect(t, d, []api.PlayRecord{
		at(6, tr, crossfaded, l),
		at(7, tr, crossfaded+l-allow-1, l),
		trusted,
		at(9, tr, t0, 4_000),    // not a stream
		at(10, tr, t0+1, allow), // a stream no longer than a crossfade
	}, []string{api.PlayAccepted, api.PlayOverlapping, api.PlayAccepted, api.PlayAccepted, api.PlayAccepted})
	expect(t, d, first, []string{api.PlayDuplicate, api.PlayOverlapping, api.PlayOverlapping, api.PlayOverlapping, api.PlayOverlapping})
	if err := f.r.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := f.r.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	expect(t, d, []api.PlayRecord{at(11, tr, t0+1000, l), at(12, tr, crossfaded+l-allow, l)},
		[]string{api.PlayOverlapping, api.PlayAccepted})
	for {
		n, err := f.svc.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	// Streams: 1, 6, 8, 10, 12 (9 is under the threshold).
	if n, err := f.svc.TrackStreams(ctx, tr, counting.Month(t0)); err != nil || n != 5 {
		t.Errorf("streams %d, %v; want 5", n, err)
	}
}

// TestOverlappingConcurrent: overlapping streams of one device uploaded
// in concurrent requests: exactly one is accepted.
func TestOverlappingConcurrent(t *testing.T) {
	f := newFixture(t, counting.DefaultOptions().WithThreshold(5*time.Second))
	d := newDevice(t, f, "sami")
	tr, l := longTrack(t, f)
	t0 := time.Now().UnixMilli()
	const n = 8
	statuses := make(chan string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			code, ans := d.upload(t, []api.PlayRecord{at(uint64(i+1), tr, t0+int64(i), l)})
			if code != http.StatusOK || len(ans.Results) != 1 {
				t.Errorf("upload %d: %d", i, code)
				return
			}
			statuses <- ans.Results[0].Status
		}()
	}
	wg.Wait()
	close(statuses)
	got := map[string]int{}
	for s := range statuses {
		got[s]++
	}
	if got[api.PlayAccepted] != 1 || got[api.PlayOverlapping] != n-1 {
		t.Errorf("statuses %v, want 1 accepted and %d overlapping", got, n-1)
	}
}

// TestOverlapStateExpires: a device's overlap state (its recent streams'
// times) is deleted once nothing it holds can overlap an acceptable play,
// not a millisecond before: the end of the UTC day of its last write,
// plus twice the skew and the offline window.
func TestOverlapStateExpires(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{now: time.Now().Add(time.Hour).Truncate(time.Millisecond)}
	f := newFixture(t, counting.DefaultOptions().WithThreshold(5*time.Second).WithClock(clk.Now))
	d := newDevice(t, f, "tove")
	tr, l := longTrack(t, f)
	written := clk.Now()
	expect(t, d, []api.PlayRecord{at(1, tr, time.Now().UnixMilli(), l)}, []string{api.PlayAccepted})
	keys := func() int {
		n := 0
		if err := f.dd.Store.Iterate(ctx, []byte("cnt/ov"), false, func(_, _ []byte) error { n++; return nil }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if k := keys(); k != 2 {
		t.Fatalf("%d overlap keys, want the state and its index entry", k)
	}
	dayEnd := written.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	expiry := dayEnd.Add(2*skew + license.DefaultValidity + license.DefaultGrace)
	for _, c := range []struct {
		now    time.Time
		pruned int
		keys   int
	}{{written, 0, 2}, {expiry.Add(-time.Millisecond), 0, 2}, {expiry, 1, 0}, {expiry.Add(time.Hour), 0, 0}} {
		clk.Set(c.now)
		n, err := f.svc.PruneOverlaps(ctx)
		if err != nil || n != c.pruned || keys() != c.keys {
			t.Errorf("at %v: pruned %d, %v, %d keys left; want %d, %d", c.now, n, err, keys(), c.pruned, c.keys)
		}
	}
}

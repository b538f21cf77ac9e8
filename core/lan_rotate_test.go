package core_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	tbed "github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/sync/p2p"
)

// timerClock is a core.TimerClock whose timers fire only when the test
// says (fire); it counts the timers asked for.
type timerClock struct {
	shiftClock
	mu     sync.Mutex
	timers []chan time.Time
	asked  int
}

func (c *timerClock) After(time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.timers = append(c.timers, ch)
	c.asked++
	return ch
}

// fire fires the pending timers and returns how many timers had been
// asked for by then.
func (c *timerClock) fire() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ch := range c.timers {
		ch <- c.Now()
	}
	c.timers = nil
	return c.asked
}

func (c *timerClock) timersAsked() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.asked
}

// refreshBySchedule fires the LAN key schedule of the engine whose clock
// is c and waits until the refresh ran (its node asked for the next
// timer).
func refreshBySchedule(t *testing.T, c *timerClock) {
	t.Helper()
	waitUntil(t, "the LAN key schedule waits", func() bool { return c.timersAsked() > 0 })
	n := c.fire()
	waitUntil(t, "the LAN keys are refreshed", func() bool { return c.timersAsked() > n })
}

// TestLANKeyRotation: the relay's LAN keys rotate every hour
// (relay.WithLANKeyEpoch, by its clock) and alice's phone refreshes
// them on its schedule (core.WithLANKeyRefresh, fired by a fake clock).
// The tablet, which fetched its keys an epoch before the phone's
// refresh, still syncs with it (keys of the previous epoch are held);
// the laptop's session, started before, survives two rotations; an
// old device whose keys are two epochs behind (as a key that leaked)
// is refused until it refreshes them (Docs.RefreshLANKeys). Before, a
// pair of accounts had one key for ever.
func TestLANKeyRotation(t *testing.T) {
	ctx := t.Context()
	rclk := &shiftClock{}
	r := tbed.NewRelay(t, tbed.DefaultOptions().WithDemoAlbum(false).WithRelayOptions(func(o relay.Options) relay.Options {
		return o.WithLANKeyEpoch(time.Hour).WithClock(rclk.Now)
	}))
	device := func(name string, clk core.Clock, refresh time.Duration) (*core.Engine, *core.Docs, *p2p.Node) {
		e := tbed.Engine(t, core.DefaultOptions().WithOrigins(r.URL).WithClock(clk).WithLANKeyRefresh(refresh))
		tbed.Register(t, e, "alice", name)
		d := syncingDocs(t, e, "alice")
		return e, d, startLAN(t, d)
	}
	phoneClk := &timerClock{}
	_, _, pn := device("phone", phoneClk, time.Hour)
	laptopE, _, ln := device("laptop", &timerClock{}, time.Hour)
	_, old, on := device("old", &shiftClock{}, 0)
	if err := ln.Connect(ctx, pn.Addrs()[0]); err != nil {
		t.Fatalf("laptop: %v", err)
	}
	laptopSyncs := func() bool {
		return slices.ContainsFunc(pn.Peers(), func(p p2p.PeerStatus) bool { return p.Device == laptopE.DeviceID() })
	}

	rclk.set(time.Hour)
	_, _, tn := device("tablet", &shiftClock{off: time.Hour}, 0) // keys of the epoch after old's
	rclk.set(2 * time.Hour)
	refreshBySchedule(t, phoneClk) // two epochs after old's keys, one after the tablet's
	if err := tn.Connect(ctx, pn.Addrs()[0]); err != nil {
		t.Fatalf("tablet, keys one epoch behind: %v", err)
	}
	// The phone resets the stream of a dialler that proved no key it
	// holds, without a word.
	if err := on.Connect(ctx, pn.Addrs()[0]); err == nil || len(on.Peers()) != 0 {
		t.Fatalf("old device, keys two epochs behind: err %v, peers %+v", err, on.Peers())
	}
	if !laptopSyncs() {
		t.Fatal("the laptop's session ended with the rotation")
	}
	if err := old.RefreshLANKeys(ctx); err != nil {
		t.Fatal(err)
	}
	if err := on.Connect(ctx, pn.Addrs()[0]); err != nil {
		t.Fatalf("old device, keys refreshed: %v", err)
	}
	if !laptopSyncs() {
		t.Fatal("the laptop's session ended")
	}
}

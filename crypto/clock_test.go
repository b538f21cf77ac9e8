package crypto

import (
	"errors"
	"testing"
	"time"
)

// fakeDevice is a device with a settable wall clock and a monotonic clock
// that resets on reboot.
type fakeDevice struct {
	wall time.Time
	mono time.Duration
}

func (d *fakeDevice) advance(dt time.Duration) { d.wall = d.wall.Add(dt); d.mono += dt }

func TestTrustedClock(t *testing.T) {
	h := time.Hour
	type step struct {
		op   string // advance, setwall, reboot, rebooted, observe, raise, persist
		dt   time.Duration
		at   time.Time
		want time.Time // expected Now after the step (zero: skip)
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"wound-back-does-not-extend", []step{
			{op: "observe", at: t0, want: t0},
			{op: "advance", dt: 10 * h, want: t0.Add(10 * h)},
			{op: "setwall", at: t0.Add(-100 * h), want: t0.Add(10 * h)},
			{op: "advance", dt: h, want: t0.Add(11 * h)},
		}},
		{"wound-forward-is-ignored-while-anchored", []step{
			{op: "observe", at: t0, want: t0},
			{op: "setwall", at: t0.Add(1000 * h), want: t0},
			{op: "advance", dt: h, want: t0.Add(h)},
		}},
		{"reboot-falls-back-to-wall-but-never-backwards", []step{
			{op: "observe", at: t0, want: t0},
			{op: "advance", dt: 5 * h, want: t0.Add(5 * h)},
			{op: "setwall", at: t0.Add(-24 * h)},
			{op: "reboot", want: t0.Add(5 * h)},
			{op: "advance", dt: 2 * h, want: t0.Add(7 * h)},
		}},
		{"reboot-with-honest-wall", []step{
			{op: "observe", at: t0, want: t0},
			{op: "reboot", dt: 3 * h, want: t0.Add(3 * h)},
		}},
		{"replayed-server-time-ignored", []step{
			{op: "observe", at: t0.Add(10 * h), want: t0.Add(10 * h)},
			{op: "observe", at: t0, want: t0.Add(10 * h)},
		}},
		{"newer-server-time-corrects-forward-skew", []step{
			{op: "setwall", at: t0.Add(1000 * h)},
			{op: "advance", dt: 0, want: t0.Add(1000 * h)},
			{op: "observe", at: t0.Add(h), want: t0.Add(h)},
			{op: "advance", dt: h, want: t0.Add(2 * h)},
		}},
		{"survives-persist", []step{
			{op: "observe", at: t0, want: t0},
			{op: "advance", dt: 4 * h, want: t0.Add(4 * h)},
			{op: "persist", want: t0.Add(4 * h)},
			{op: "setwall", at: t0.Add(-10 * h)},
			{op: "reboot", want: t0.Add(4 * h)},
			{op: "persist"},
			{op: "observe", at: t0, want: t0.Add(4 * h)},
		}},
		{"raise-moves-forward-only", []step{
			{op: "observe", at: t0, want: t0},
			{op: "raise", at: t0.Add(-h), want: t0},
			{op: "raise", at: t0.Add(50 * h), want: t0.Add(50 * h)},
			{op: "advance", dt: h, want: t0.Add(51 * h)},
			{op: "persist", want: t0.Add(51 * h)},
		}},
		{"server-time-corrects-a-raise-ahead", []step{
			{op: "observe", at: t0, want: t0},
			{op: "raise", at: t0.Add(8760 * h), want: t0.Add(8760 * h)},
			{op: "persist"},
			{op: "observe", at: t0.Add(h), want: t0.Add(h)},
		}},
		{"raise-is-no-server-time", []step{
			{op: "raise", at: t0.Add(10 * h), want: t0.Add(10 * h)},
			{op: "observe", at: t0.Add(h), want: t0.Add(h)},
		}},
		{"rebooted-drops-the-anchor", []step{
			{op: "observe", at: t0, want: t0},
			{op: "persist"},
			{op: "rebooted", dt: 10 * h, want: t0.Add(10 * h)},
			{op: "advance", dt: h, want: t0.Add(11 * h)},
		}},
		{"no-observation-uses-wall", []step{
			{op: "advance", dt: 0, want: t0},
			{op: "setwall", at: t0.Add(-h), want: t0},
			{op: "advance", dt: 2 * h, want: t0.Add(2 * h)},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dev := &fakeDevice{wall: t0, mono: 1000 * h}
			var c TrustedClock
			for i, s := range tc.steps {
				switch s.op {
				case "advance":
					dev.advance(s.dt)
				case "setwall":
					dev.wall = s.at
				case "reboot":
					dev.wall = dev.wall.Add(s.dt)
					dev.mono = time.Second
				case "observe":
					c.Observe(s.at, dev.mono)
				case "rebooted":
					// A new boot whose readings start where the old
					// anchor stood: only Rebooted tells them apart.
					dev.wall = dev.wall.Add(s.dt)
					c.Rebooted()
				case "raise":
					c.Raise(s.at, dev.wall, dev.mono)
				case "persist":
					b, err := c.MarshalBinary()
					if err != nil {
						t.Fatal(err)
					}
					var c2 TrustedClock
					if err := c2.UnmarshalBinary(b); err != nil {
						t.Fatal(err)
					}
					c = c2
				}
				if !s.want.IsZero() {
					if got := c.Now(dev.wall, dev.mono); !got.Equal(s.want) {
						t.Fatalf("step %d (%s): Now = %v, want %v", i, s.op, got, s.want)
					}
				}
			}
		})
	}
}

// TestTrustedClockRandomWalk: under a seeded storm of clock changes and
// reboots, Now never decreases between observations and never lags true
// elapsed monotonic time.
func TestTrustedClockRandomWalk(t *testing.T) {
	r := seeded(99)
	var b [8]byte
	rnd := func(n int) int { r.Read(b[:1]); return int(b[0]) % n }
	dev := &fakeDevice{wall: t0, mono: time.Hour}
	var c TrustedClock
	c.Observe(t0, dev.mono)
	prev := c.Now(dev.wall, dev.mono)
	for i := range 5000 {
		switch rnd(4) {
		case 0:
			dev.advance(time.Duration(rnd(120)) * time.Minute)
		case 1:
			dev.wall = dev.wall.Add(-time.Duration(rnd(1000)) * time.Hour)
		case 2:
			dev.mono = time.Duration(rnd(10)) * time.Second // reboot
		case 3:
			raw, _ := c.MarshalBinary()
			if err := c.UnmarshalBinary(raw); err != nil {
				t.Fatal(err)
			}
		}
		now := c.Now(dev.wall, dev.mono)
		if now.Before(prev) {
			t.Fatalf("step %d: clock went back from %v to %v", i, prev, now)
		}
		prev = now
	}
	var bad TrustedClock
	for _, in := range [][]byte{nil, {0xa0}, {0xa1, 0x01, 0x02}} {
		if err := bad.UnmarshalBinary(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("unmarshal %x: %v", in, err)
		}
	}
}

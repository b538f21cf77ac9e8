package playsim

import (
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/server/recs/eval"
)

func digest(t *testing.T, o Options, s Shape) ([32]byte, []Account, map[Label]int) {
	t.Helper()
	h := sha256.New()
	plays := map[Label]int{}
	byUser := map[string]Label{}
	accts, err := Run(o, s, func(p Play) {
		b, _ := json.Marshal(p)
		h.Write(b)
		plays[byUser[string(p.User)]]++
	})
	if err != nil {
		t.Fatal(err)
	}
	var d [32]byte
	copy(d[:], h.Sum(nil))
	return d, accts, plays
}

// TestRunDeterministic: the same seed gives the same plays, another seed
// different ones; every strategy produces accounts with plays inside the
// simulated span.
func TestRunDeterministic(t *testing.T) {
	s := SyntheticShape(1, 50, 300)
	o := DefaultOptions().WithHumans(30).WithLight(10).WithBots(5).WithDays(7)
	a, accts, _ := digest(t, o, s)
	b, _, _ := digest(t, o, s)
	c, _, _ := digest(t, o.WithSeed(2), s)
	if a != b {
		t.Fatal("same seed, different plays")
	}
	if a == c {
		t.Fatal("different seeds, same plays")
	}
	if want := 30 + 10 + 5*len(Strategies); len(accts) != want {
		t.Fatalf("%d accounts, want %d", len(accts), want)
	}
	labels := map[Label]int{}
	for _, ac := range accts {
		labels[ac.Label]++
	}
	for _, st := range Strategies {
		if labels[st] != 5 {
			t.Errorf("%s: %d accounts", st, labels[st])
		}
	}
	start := DefaultOptions().start.UnixMilli()
	users := map[string]Label{}
	for _, ac := range accts {
		users[string(ac.User)] = ac.Label
	}
	per := map[Label]int{}
	_, err := Run(o, s, func(p Play) {
		per[users[string(p.User)]]++
		if p.Event.StartedAt < start || p.Event.StartedAt > start+8*int64(24*time.Hour/time.Millisecond) {
			t.Errorf("play at %d outside the span", p.Event.StartedAt)
		}
		if p.Event.PlayedMs < 0 {
			t.Errorf("negative played %d", p.Event.PlayedMs)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range append([]Label{Human}, Strategies...) {
		if per[l] == 0 {
			t.Errorf("%s: no plays", l)
		}
	}
}

// TestRunBadOptions: out-of-range options and empty shapes are errors.
func TestRunBadOptions(t *testing.T) {
	s := SyntheticShape(1, 5, 10)
	for _, o := range []Options{DefaultOptions().WithDays(0), DefaultOptions().WithHumans(-1), DefaultOptions().WithLight(-1), DefaultOptions().WithBots(1 << 20)} {
		if _, err := Run(o, s, func(Play) {}); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
	if _, err := Run(DefaultOptions(), Shape{}, func(Play) {}); err == nil {
		t.Error("empty shape: no error")
	}
}

// TestShapeFromLastFM: listeners take their artist weights (heaviest
// first) and friend counts from the data; popularity sums the weights;
// users without plays are dropped.
func TestShapeFromLastFM(t *testing.T) {
	d, err := eval.ParseLastFM(strings.NewReader("userID\tartistID\tweight\n2\t51\t10\n2\t52\t30\n3\t51\t5\n"),
		strings.NewReader("2\t3\n3\t2\n2\t9\n"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ShapeFromLastFM(d)
	if err != nil {
		t.Fatal(err)
	}
	if s.Artists != 2 || s.Popularity[0] != 15 || s.Popularity[1] != 30 || len(s.Listeners) != 2 {
		t.Fatalf("shape %+v", s)
	}
	if l := s.Listeners[0]; l.Artists[0] != 1 || l.Weights[0] != 30 || l.Friends != 1 {
		t.Errorf("listener 0 %+v", l)
	}
	if _, err := ShapeFromLastFM(&eval.Dataset{}); err == nil {
		t.Error("empty data set: no error")
	}
}

// TestOneAccountPerDevice: the relay refuses a device key already
// registered to another account (relay.ErrDeviceTaken), so every logged
// device id carries one account's plays, family tablets and farm phones
// included, and each account's Devices are the ids its plays carry.
func TestOneAccountPerDevice(t *testing.T) {
	owner := map[string]string{}
	used := map[string]map[string]bool{}
	accts, err := Run(DefaultOptions().WithHumans(200).WithBots(10).WithDays(3), SyntheticShape(4, 100, 500), func(p Play) {
		if u, ok := owner[string(p.Device)]; ok && u != string(p.User) {
			t.Fatalf("device %s carries plays of %s and %s", p.Device, u, p.User)
		}
		owner[string(p.Device)] = string(p.User)
		if used[string(p.User)] == nil {
			used[string(p.User)] = map[string]bool{}
		}
		used[string(p.User)][string(p.Device)] = true
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accts {
		listed := map[string]bool{}
		for _, d := range a.Devices {
			listed[string(d)] = true
		}
		for d := range used[string(a.User)] {
			if !listed[d] {
				t.Fatalf("%s (%s) plays on %s, not among its devices %v", a.User, a.Label, d, a.Devices)
			}
		}
	}
}

// TestFewPlays: light humans and small-farm accounts make between 1 (3
// for the farm) and MaxLightPlays plays in the month, so the scorer never
// scores them alone; a small farm's 10 accounts stream the same 2–5
// promoted tracks, which no human streams (the cover plays are spread
// over popular tracks); light humans join the other
// humans' label.
func TestFewPlays(t *testing.T) {
	o := DefaultOptions().WithHumans(50).WithLight(40).WithBots(20)
	plays := map[string]int{}
	tracks := map[string]map[string]int{}
	accts, err := Run(o, SyntheticShape(5, 100, 500), func(p Play) {
		plays[string(p.User)]++
		if tracks[string(p.User)] == nil {
			tracks[string(p.User)] = map[string]int{}
		}
		tracks[string(p.User)][string(p.Event.Track)]++
	})
	if err != nil {
		t.Fatal(err)
	}
	var light, farm []Account
	for i, a := range accts {
		switch {
		case a.Label == Human && i >= o.Humans() && i < o.Humans()+o.Light():
			light = append(light, a)
		case a.Label == BotSmallFarm:
			farm = append(farm, a)
		}
	}
	if len(light) != 40 || len(farm) != 20 {
		t.Fatalf("%d light humans, %d small-farm accounts; want 40 and 20", len(light), len(farm))
	}
	for _, a := range light {
		if n := plays[string(a.User)]; n < 1 || n > MaxLightPlays {
			t.Errorf("light human %s: %d plays", a.User, n)
		}
	}
	humanTracks := map[string]bool{}
	for _, a := range accts {
		if a.Label == Human {
			for tr := range tracks[string(a.User)] {
				humanTracks[tr] = true
			}
		}
	}
	for f := range 2 {
		shared := map[string]int{} // promoted track → accounts of the farm
		for _, a := range farm[f*10 : f*10+10] {
			if n := plays[string(a.User)]; n < 3 || n > MaxLightPlays {
				t.Errorf("small-farm account %s: %d plays", a.User, n)
			}
			for tr := range tracks[string(a.User)] {
				if !humanTracks[tr] {
					shared[tr]++
				}
			}
		}
		n := 0 // promoted tracks, streamed by at least 3 of the farm's accounts (cover plays are spread)
		for _, k := range shared {
			if k >= 3 {
				n++
			}
		}
		if n < 2 || n > 5 {
			t.Errorf("farm %d streams %d promoted tracks, want 2–5: %v", f, n, shared)
		}
	}
}

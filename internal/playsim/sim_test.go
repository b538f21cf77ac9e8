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
	o := DefaultOptions().WithHumans(30).WithBots(5).WithDays(7)
	a, accts, _ := digest(t, o, s)
	b, _, _ := digest(t, o, s)
	c, _, _ := digest(t, o.WithSeed(2), s)
	if a != b {
		t.Fatal("same seed, different plays")
	}
	if a == c {
		t.Fatal("different seeds, same plays")
	}
	if want := 30 + 5*len(Strategies); len(accts) != want {
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
	for _, o := range []Options{DefaultOptions().WithDays(0), DefaultOptions().WithHumans(-1), DefaultOptions().WithBots(1 << 20)} {
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

package msync_test

import (
	"slices"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/internal/amchunk"
	"github.com/segue-fm/segue/sync/msync"
)

// commitKey sets key in d's root and commits, returning the change hash.
func commitKey(t *testing.T, d *automerge.Doc, key string) automerge.ChangeHash {
	t.Helper()
	if err := d.RootMap().Set(key, int64(1)); err != nil {
		t.Fatal(err)
	}
	h, err := d.Commit(key)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// TestSkippedDependencyIsAskedFor: a device has sent its change E and
// waits for the relay's answer; the relay's answer carries F but skips
// F's dependency D (a false positive of the device's Bloom filter). F
// cannot be applied. automerge 0.5 and Receive alone then say nothing
// more (the document stays apart until one side edits it again); after
// AskForSkipped the device's next message needs D.
func TestSkippedDependencyIsAskedFor(t *testing.T) {
	relay := automerge.New()
	commitKey(t, relay, "base")
	dev, err := relay.Fork()
	if err != nil {
		t.Fatal(err)
	}
	commitKey(t, dev, "e")
	amDev, amRelay := automerge.NewSyncState(dev), automerge.NewSyncState(relay)
	gDev, err := msync.Index(dev)
	if err != nil {
		t.Fatal(err)
	}
	gRelay, err := msync.Index(relay)
	if err != nil {
		t.Fatal(err)
	}
	sDev, sRelay := &msync.State{}, &msync.State{}
	addAll := func(g *msync.Graph) func(m *msync.Message) error {
		return func(m *msync.Message) error {
			for i, c := range m.Changes {
				g.Add(c, m.Raw[i])
			}
			return nil
		}
	}
	// First round trip, with automerge's states and msync's side by side.
	m0, _ := amDev.GenerateMessage()
	if _, err := amRelay.ReceiveMessage(m0.Bytes()); err != nil {
		t.Fatal(err)
	}
	m1, _ := amRelay.GenerateMessage()
	if _, err := amDev.ReceiveMessage(m1.Bytes()); err != nil {
		t.Fatal(err)
	}
	g0, err := msync.DecodeMessage(generate(t, gDev, sDev).Encode())
	if err != nil {
		t.Fatal(err)
	}
	if err := msync.Receive(gRelay, sRelay, g0, addAll(gRelay)); err != nil {
		t.Fatal(err)
	}
	g1, err := msync.DecodeMessage(generate(t, gRelay, sRelay).Encode())
	if err != nil {
		t.Fatal(err)
	}
	if err := msync.Receive(gDev, sDev, g1, addAll(gDev)); err != nil {
		t.Fatal(err)
	}
	// The relay gains D and F; the device sends E and is in flight.
	hD := commitKey(t, relay, "d")
	hF := commitKey(t, relay, "f")
	if m2, ok := amDev.GenerateMessage(); !ok || len(m2.Changes()) != 1 {
		t.Fatalf("automerge device did not send its change")
	}
	if m2 := generate(t, gDev, sDev); m2 == nil || len(m2.Changes) != 1 || !sDev.InFlight {
		t.Fatalf("msync device did not send its change: %+v", m2)
	}
	// The relay's answer: F without D.
	ch, err := relay.Change(hF)
	if err != nil {
		t.Fatal(err)
	}
	rawF := ch.Save()
	cF, err := msync.ParseChange(rawF)
	if err != nil {
		t.Fatal(err)
	}
	skipped := &msync.Message{Heads: []automerge.ChangeHash{hF}, Changes: []msync.Change{cF}, Raw: [][]byte{rawF}, Have: []msync.Have{{}}}
	if _, err := amDev.ReceiveMessage(skipped.Encode()); err != nil {
		t.Fatal(err)
	}
	if _, ok := amDev.GenerateMessage(); ok {
		t.Fatal("automerge answered the skipped dependency: AskForSkipped may no longer be needed")
	}
	queue := func(m *msync.Message) error {
		for _, c := range m.Changes {
			gDev.Queue(c)
		}
		return nil
	}
	if err := msync.Receive(gDev, sDev, skipped, queue); err != nil {
		t.Fatal(err)
	}
	before := *sDev
	if m := generate(t, gDev, &before); m != nil {
		t.Fatal("Receive alone answered: it departs from automerge")
	}
	msync.AskForSkipped(gDev, sDev, skipped)
	m := generate(t, gDev, sDev)
	if m == nil || len(m.Need) != 1 || m.Need[0] != hD {
		t.Fatalf("after AskForSkipped: %+v, want a message needing %x", m, hD)
	}
	// A message whose changes all applied changes nothing.
	s := &msync.State{InFlight: true}
	msync.AskForSkipped(gDev, s, g1)
	if !s.InFlight {
		t.Fatal("AskForSkipped ended the wait after a message whose changes all applied")
	}
}

// TestUnsentHeadIsAskedFor: the relay (msync's state) has sent its
// change R to a device (automerge's state, as devices run), which edits
// before acknowledging it. The device's change X is a false positive of
// the Bloom filter of the relay's message (found by trying X's value 0,
// 1, 2, … with fixed actors and no timestamps), so automerge sends the
// device's heads without X. Receive alone leaves the relay in flight (R
// is acknowledged only by X, which it cannot place) and silent, as
// automerge would be; after AskForSkipped the relay's next message needs
// X, and the exchange converges.
func TestUnsentHeadIsAskedFor(t *testing.T) {
	relay := automerge.New()
	if err := relay.SetActorID("aa"); err != nil {
		t.Fatal(err)
	}
	setKey(t, relay, "base", 0)
	g, err := msync.Index(relay)
	if err != nil {
		t.Fatal(err)
	}
	r := &goRelay{doc: relay, g: g, s: &msync.State{}}
	dev := automerge.New()
	if err := dev.SetActorID("dd"); err != nil {
		t.Fatal(err)
	}
	devSS := automerge.NewSyncState(dev)
	relayExchange(t, devSS, r)

	setKey(t, relay, "r", 0)
	r.edited(t)
	mR := r.generate(t)
	if _, err := devSS.ReceiveMessage(mR); err != nil {
		t.Fatal(err)
	}
	dm, err := msync.DecodeMessage(mR)
	if err != nil {
		t.Fatal(err)
	}
	if len(dm.Changes) != 1 || len(dm.Have) != 1 {
		t.Fatalf("relay's message: %d changes, %d haves; want R and a filter", len(dm.Changes), len(dm.Have))
	}
	hX, err := amchunk.FalsePositive(dev, "x", dm.Have[0].Bloom.Contains, 100000)
	if err != nil {
		t.Fatal(err)
	}
	heads, ok := devSS.GenerateMessage()
	if !ok {
		t.Fatal("the automerge device did not answer")
	}
	if len(heads.Changes()) != 0 || !slices.Equal(heads.Heads(), []automerge.ChangeHash{hX}) {
		t.Fatalf("automerge device sent %d changes, heads %v; want X's head alone", len(heads.Changes()), heads.Heads())
	}
	m, err := msync.DecodeMessage(heads.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var after []automerge.ChangeHash
	if err := msync.Receive(r.g, r.s, m, msync.ApplyTo(r.doc, r.g, heads.Bytes(), &after)); err != nil {
		t.Fatal(err)
	}
	before := *r.s
	if generate(t, r.g, &before) != nil {
		t.Fatal("Receive alone answered: it departs from automerge")
	}
	msync.AskForSkipped(r.g, r.s, m)
	ask := generate(t, r.g, r.s)
	if ask == nil || !slices.Equal(ask.Need, []automerge.ChangeHash{hX}) {
		t.Fatalf("after AskForSkipped: %+v, want a message needing %v", ask, hX)
	}
	if _, err := devSS.ReceiveMessage(ask.Encode()); err != nil {
		t.Fatal(err)
	}
	relayExchange(t, devSS, r)
	if !slices.Equal(dev.Heads(), relay.Heads()) {
		t.Fatalf("device heads %v, relay %v", dev.Heads(), relay.Heads())
	}
}

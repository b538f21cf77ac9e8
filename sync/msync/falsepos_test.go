package msync_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/sync/msync"
)

// relayEnd is the relay's end of a sync session: generate returns its
// next message (nil: none), receive takes the device's.
type relayEnd interface {
	generate(t *testing.T) []byte
	receive(t *testing.T, msg []byte)
	// edited brings the end up to date after changes applied to its
	// document outside the session.
	edited(t *testing.T)
}

// amRelay is the relay with automerge's sync state (automerge's rule).
type amRelay struct{ ss *automerge.SyncState }

func (r *amRelay) generate(*testing.T) []byte {
	if m, ok := r.ss.GenerateMessage(); ok {
		return m.Bytes()
	}
	return nil
}

func (r *amRelay) receive(t *testing.T, msg []byte) {
	t.Helper()
	if _, err := r.ss.ReceiveMessage(msg); err != nil {
		t.Fatal(err)
	}
}

func (r *amRelay) edited(*testing.T) {}

// goRelay is the relay with msync's state, as sync/repo runs it
// (Receive through ApplyTo, then AskForSkipped).
type goRelay struct {
	doc *automerge.Doc
	g   *msync.Graph
	s   *msync.State
}

func (r *goRelay) generate(t *testing.T) []byte {
	if m := generate(t, r.g, r.s); m != nil {
		return m.Encode()
	}
	return nil
}

func (r *goRelay) receive(t *testing.T, msg []byte) {
	t.Helper()
	m, err := msync.DecodeMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	var heads []automerge.ChangeHash
	if err := msync.Receive(r.g, r.s, m, msync.ApplyTo(r.doc, r.g, msg, &heads)); err != nil {
		t.Fatal(err)
	}
	msync.AskForSkipped(r.g, r.s, m)
}

func (r *goRelay) edited(t *testing.T) {
	t.Helper()
	var err error
	if r.g, err = msync.CatchUp(r.g, r.doc, r.doc.Heads()); err != nil {
		t.Fatal(err)
	}
}

// noTime commits without a timestamp, so that change hashes depend only
// on the actor, the operations and the dependencies.
var noTime = automerge.CommitOptions{Time: &time.Time{}}

func setKey(t *testing.T, d *automerge.Doc, key string, v int64) automerge.ChangeHash {
	t.Helper()
	if err := d.RootMap().Set(key, v); err != nil {
		t.Fatal(err)
	}
	h, err := d.Commit(key, noTime)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// relayExchange runs device ↔ relay until neither speaks (at most 20
// rounds).
func relayExchange(t *testing.T, dev *automerge.SyncState, r relayEnd) {
	t.Helper()
	for range 20 {
		said := false
		if m, ok := dev.GenerateMessage(); ok {
			r.receive(t, m.Bytes())
			said = true
		}
		if m := r.generate(t); m != nil {
			if _, err := dev.ReceiveMessage(m); err != nil {
				t.Fatal(err)
			}
			said = true
		}
		if !said {
			return
		}
	}
	t.Fatal("no quiet after 20 rounds")
}

// TestFalsePositiveSent: a device (automerge's sync state, as devices
// run) sends its changes E0…E9 and waits for them to be acknowledged.
// Before the relay answers, another writer's change D (on E9) and F (on
// D) reach it. D is a false positive of the device's Bloom filter
// {E0…E9}, found by trying D's value 0, 1, 2, … with fixed actors and
// no timestamps (the first hit is value 103; about 1 value in 150 hits a
// 10-entry filter). With automerge's rule the relay sends F without D:
// the device cannot apply F, cannot see that F acknowledges its E9,
// stays in flight and says nothing; the relay waits for it: the
// document stays apart. With msync's rule the relay sends D and F and
// both end at the same heads.
func TestFalsePositiveSent(t *testing.T) {
	for _, tc := range []struct {
		name     string
		msync    bool
		converge bool
	}{
		{"automerge rule stalls", false, false},
		{"msync rule converges", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			relay := automerge.New()
			if err := relay.SetActorID("aa"); err != nil {
				t.Fatal(err)
			}
			setKey(t, relay, "base", 0)
			dev := automerge.New()
			if err := dev.SetActorID("dd"); err != nil {
				t.Fatal(err)
			}
			var r relayEnd = &amRelay{automerge.NewSyncState(relay)}
			var gr *goRelay
			if tc.msync {
				g, err := msync.Index(relay)
				if err != nil {
					t.Fatal(err)
				}
				gr = &goRelay{doc: relay, g: g, s: &msync.State{}}
				r = gr
			}
			devSS := automerge.NewSyncState(dev)
			relayExchange(t, devSS, r)
			var es []automerge.ChangeHash
			for i := range 10 {
				es = append(es, setKey(t, dev, fmt.Sprintf("e%d", i), int64(i)))
			}
			m1, ok := devSS.GenerateMessage()
			if !ok || len(m1.Changes()) != len(es) {
				t.Fatalf("the device did not send its changes (%v, %d)", ok, len(m1.Changes()))
			}
			r.receive(t, m1.Bytes())
			bloom := msync.NewBloom(es)
			var writer *automerge.Doc
			var hD automerge.ChangeHash
			var err error
			value := int64(0)
			for ; value < 5000; value++ {
				if writer, err = relay.Fork(); err != nil {
					t.Fatal(err)
				}
				if err := writer.SetActorID("ee"); err != nil {
					t.Fatal(err)
				}
				if hD = setKey(t, writer, "d", value); bloom.Contains(&hD) {
					break
				}
			}
			if value != 103 {
				t.Fatalf("first false positive at value %d, documented as 103", value)
			}
			hF := setKey(t, writer, "f", 0)
			chs, err := writer.Changes(relay.Heads()...)
			if err != nil {
				t.Fatal(err)
			}
			if err := relay.Apply(chs...); err != nil {
				t.Fatal(err)
			}
			r.edited(t)
			m2 := r.generate(t)
			dm, err := msync.DecodeMessage(m2)
			if err != nil {
				t.Fatal(err)
			}
			var sent []automerge.ChangeHash
			for _, c := range dm.Changes {
				sent = append(sent, c.Hash)
			}
			if want := []automerge.ChangeHash{hF}; tc.msync {
				want = []automerge.ChangeHash{hD, hF}
				if !slices.Equal(sent, want) {
					t.Fatalf("relay sent %v, want D and F %v", sent, want)
				}
			} else if !slices.Equal(sent, want) {
				t.Fatalf("automerge sent %v, want F alone %v: D is no longer skipped", sent, want)
			}
			if _, err := devSS.ReceiveMessage(m2); err != nil {
				t.Fatal(err)
			}
			relayExchange(t, devSS, r)
			if got := slices.Equal(dev.Heads(), relay.Heads()); got != tc.converge {
				t.Fatalf("converged = %v, want %v: device heads %v, relay %v", got, tc.converge, dev.Heads(), relay.Heads())
			}
			if !tc.converge && slices.Contains(dev.Heads(), hF) {
				t.Fatal("the device applied F")
			}
			if tc.msync && !slices.Equal(gr.g.Heads(), relay.Heads()) {
				t.Fatal("the relay's graph and document differ")
			}
		})
	}
}

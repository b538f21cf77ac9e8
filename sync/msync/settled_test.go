package msync_test

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/sync/msync"
)

// TestSettledAgainstAutomerge gives automerge and msync, holding the
// same five changes, the same crafted peer message, then requires the
// same next message from both (nil included) and that msync took
// Generate's shortcut where expected: for an acknowledgement of our
// heads, whether or not we sent them before (receiving it records them
// as sent). Each other case breaks one of the shortcut's conditions with
// a message a hostile or lagging peer could send; automerge answers some
// of them, and msync's full computation must then answer the same.
func TestSettledAgainstAutomerge(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 7))
	base := automerge.New()
	if err := base.SetActorID("0a0b0c0d"); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		edit(t, base, rng, "s")
	}
	saved := base.Save()
	ours := base.Heads()
	chs, err := base.Changes()
	if err != nil {
		t.Fatal(err)
	}
	first, second := chs[0].Hash(), chs[1].Hash()
	// A peer's change on top of ours, sent with a filter built since the
	// heads the change gives (a peer may do that): the change brings us
	// to its heads, which we did not send.
	peer, err := automerge.Load(saved)
	if err != nil {
		t.Fatal(err)
	}
	if err := peer.SetActorID("0e0f"); err != nil {
		t.Fatal(err)
	}
	edit(t, peer, rng, "p")
	theirs := peer.Heads()
	extra, err := peer.Changes(ours...)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		m       msync.Message
		resent  bool // both sent their heads before the peer's message
		settled bool // msync takes the shortcut
		answers bool // automerge has a message to send
	}{
		{"acknowledgement", msync.Message{Heads: ours, Have: []msync.Have{{LastSync: ours}}}, true, true, false},
		{"acknowledgement before we sent", msync.Message{Heads: ours, Have: []msync.Have{{LastSync: ours}}}, false, true, false},
		{"needs a change it holds", msync.Message{Heads: ours, Need: []automerge.ChangeHash{first}, Have: []msync.Have{{LastSync: ours}}}, true, false, true},
		{"filter since an older point", msync.Message{Heads: ours, Have: []msync.Have{{LastSync: []automerge.ChangeHash{second}}}}, true, false, true},
		{"no filter", msync.Message{Heads: ours}, true, false, false},
		{"two filters", msync.Message{Heads: ours, Have: []msync.Have{{LastSync: ours}, {LastSync: ours}}}, true, false, false},
		{"changes bring us to its heads", msync.Message{Heads: theirs, Have: []msync.Have{{LastSync: theirs}}, Raw: [][]byte{extra[0].Save()}}, true, false, true},
		{"behind", msync.Message{Heads: []automerge.ChangeHash{second}, Have: []msync.Have{{LastSync: []automerge.ChangeHash{second}, Bloom: msync.NewBloom(nil)}}}, true, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := loadSide(t, saved)
			g := s.g
			var counts lockCounts
			if c.resent {
				s.generate(t, 0, &counts)
			}
			s.receive(t, 1, c.m.Encode())
			if got := msync.Settled(s.st, g.Heads()); got != c.settled {
				t.Fatalf("settled %v, want %v", got, c.settled)
			}
			var want []byte
			if sm, ok := s.amSS.GenerateMessage(); ok {
				want = sm.Bytes()
			}
			var got []byte
			if m := generate(t, g, s.st); m != nil {
				got = m.Encode()
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("msync %x, automerge %x", got, want)
			}
			if c.answers != (want != nil) {
				t.Fatalf("automerge answers: %v, want %v", want != nil, c.answers)
			}
		})
	}
}

package msync_test

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/sync/msync"
)

// realChange returns the raw bytes, hash and deps of a change made on
// top of another one.
func realChange(t testing.TB) ([]byte, automerge.ChangeHash, []automerge.ChangeHash) {
	t.Helper()
	d := automerge.New()
	for _, v := range []string{"a", "b"} {
		if err := d.RootMap().Set("k", v); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Commit(v); err != nil {
			t.Fatal(err)
		}
	}
	chs, err := d.Changes()
	if err != nil {
		t.Fatal(err)
	}
	c := chs[1]
	return c.Save(), c.Hash(), c.Dependencies()
}

func TestParseChange(t *testing.T) {
	raw, hash, deps := realChange(t)
	c, err := msync.ParseChange(raw)
	if err != nil {
		t.Fatal(err)
	}
	if c.Hash != hash || !slices.Equal(c.Deps, deps) || len(deps) != 1 {
		t.Fatalf("parsed %v %v, automerge %v %v", c.Hash, c.Deps, hash, deps)
	}
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(raw)) }
	for _, tc := range []struct {
		name string
		raw  []byte
	}{
		{"empty", nil},
		{"short", raw[:8]},
		{"bad magic", mut(func(b []byte) []byte { b[0] ^= 1; return b })},
		{"bad checksum", mut(func(b []byte) []byte { b[4] ^= 1; return b })},
		{"document chunk", mut(func(b []byte) []byte { b[8] = 0; return b })},
		{"compressed chunk", mut(func(b []byte) []byte { b[8] = 2; return b })},
		{"truncated", raw[:len(raw)-1]},
		{"trailing byte", append(bytes.Clone(raw), 0)},
		{"body changed", mut(func(b []byte) []byte { b[len(b)-1] ^= 1; return b })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := msync.ParseChange(tc.raw); !errors.Is(err, msync.ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestDecodeState(t *testing.T) {
	d := automerge.New()
	if err := d.RootMap().Set("k", "v"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Commit("x"); err != nil {
		t.Fatal(err)
	}
	peer := automerge.New()
	ss, ps := automerge.NewSyncState(d), automerge.NewSyncState(peer)
	for range 4 {
		if m, ok := ss.GenerateMessage(); ok {
			if _, err := ps.ReceiveMessage(m.Bytes()); err != nil {
				t.Fatal(err)
			}
		}
		if m, ok := ps.GenerateMessage(); ok {
			if _, err := ss.ReceiveMessage(m.Bytes()); err != nil {
				t.Fatal(err)
			}
		}
	}
	saved := ss.Save()
	st, err := msync.DecodeState(saved)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.SharedHeads, d.Heads()) || !bytes.Equal(st.Encode(), saved) {
		t.Fatalf("shared heads %v, encoded %x; automerge %x", st.SharedHeads, st.Encode(), saved)
	}
	if _, err := automerge.LoadSyncState(d, (&msync.State{SharedHeads: d.Heads()}).Encode()); err != nil {
		t.Fatalf("automerge reads msync's state: %v", err)
	}
	for _, tc := range []struct {
		name string
		raw  []byte
	}{
		{"empty", nil},
		{"wrong type", []byte{0x42, 0}},
		{"no count", []byte{0x43}},
		{"short hash", append([]byte{0x43, 1}, make([]byte, 31)...)},
		{"huge count", []byte{0x43, 0xff, 0xff, 0xff, 0xff, 0x0f}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := msync.DecodeState(tc.raw); !errors.Is(err, msync.ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestDecodeBloom(t *testing.T) {
	var hs []automerge.ChangeHash
	for i := range 50 {
		hs = append(hs, automerge.ChangeHash{byte(i), byte(i * 7), 3, 4, 5, 6, 7, byte(i), 9, 10, 11, byte(i * 3)})
	}
	b := msync.NewBloom(hs)
	got, err := msync.DecodeBloom(b.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for i := range hs {
		if !got.Contains(&hs[i]) {
			t.Fatalf("decoded filter lost hash %d", i)
		}
	}
	if len(msync.NewBloom(nil).Bytes()) != 0 {
		t.Fatal("empty filter encodes to bytes")
	}
	for _, tc := range []struct {
		name string
		raw  []byte
	}{
		{"bad leb", []byte{0xff}},
		{"short bits", []byte{10, 10, 7, 0}},
		{"entries without bits", []byte{3, 0, 7}},
		{"too many probes", append([]byte{1, 10, 65}, 0, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := msync.DecodeBloom(tc.raw); !errors.Is(err, msync.ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

// FuzzParseChange holds ParseChange to automerge: every chunk it
// accepts automerge loads, with the same hash and dependencies.
func FuzzParseChange(f *testing.F) {
	raw, _, _ := realChange(f)
	f.Add(raw)
	f.Add(raw[:20])
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := msync.ParseChange(b)
		if err != nil {
			return
		}
		// Go accepted only the header; the operations may still be
		// invalid, which automerge reports at load: both fine.
		chs, err := automerge.LoadChanges(b)
		if err != nil || len(chs) != 1 {
			return
		}
		defer automerge.CloseChanges(chs)
		if chs[0].Hash() != c.Hash || !slices.Equal(chs[0].Dependencies(), c.Deps) {
			t.Fatalf("msync %v %v, automerge %v %v", c.Hash, c.Deps, chs[0].Hash(), chs[0].Dependencies())
		}
	})
}

// FuzzDecodeMessage: the decoder never panics, and what it accepts
// encodes back to a message that decodes to the same fields.
func FuzzDecodeMessage(f *testing.F) {
	raw, _, _ := realChange(f)
	h := automerge.ChangeHash{1, 2, 3}
	m := &msync.Message{Heads: []automerge.ChangeHash{h}, Need: []automerge.ChangeHash{h},
		Have: []msync.Have{{LastSync: []automerge.ChangeHash{h}, Bloom: msync.NewBloom([]automerge.ChangeHash{h})}}, Raw: [][]byte{raw}}
	f.Add(m.Encode())
	f.Add([]byte{0x42, 0, 0, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := msync.DecodeMessage(b)
		if err != nil {
			return
		}
		again, err := msync.DecodeMessage(m.Encode())
		if err != nil {
			t.Fatalf("re-encoded message does not decode: %v", err)
		}
		if !slices.Equal(again.Heads, m.Heads) || !slices.Equal(again.Need, m.Need) || len(again.Have) != len(m.Have) || len(again.Changes) != len(m.Changes) {
			t.Fatal("re-encoded message differs")
		}
		st := &msync.State{}
		g := msync.NewGraph()
		_ = msync.Receive(g, st, m, func(*msync.Message) error { return nil })
		_ = generate(t, g, st)
	})
}

// FuzzDecodeAgreesWithAutomerge holds DecodeMessage to automerge's
// decoder: a message automerge reads, msync reads (except the refusals
// the package documents: a Bloom filter with entries but no bits or
// more than MaxProbes probes, a change whose checksum does not match,
// whose chunk type is not 1 or whose length is not its bytes);
// a message without changes that msync reads, automerge reads (with
// changes, msync leaves their operations to automerge: Receive's apply
// decodes the message with automerge, so both refuse it alike).
func FuzzDecodeAgreesWithAutomerge(f *testing.F) {
	raw, _, _ := realChange(f)
	h := automerge.ChangeHash{1, 2, 3}
	m := &msync.Message{Heads: []automerge.ChangeHash{h}, Need: []automerge.ChangeHash{h},
		Have: []msync.Have{{LastSync: []automerge.ChangeHash{h}, Bloom: msync.NewBloom([]automerge.ChangeHash{h, {4}})}}, Raw: [][]byte{raw}}
	f.Add(m.Encode())
	m.Raw = nil
	f.Add(m.Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		sm, amErr := automerge.LoadSyncMessage(b)
		sm.Close()
		gm, goErr := msync.DecodeMessage(b)
		if amErr == nil && goErr != nil && !documented(goErr) {
			t.Fatalf("automerge reads %x, msync: %v", b, goErr)
		}
		if goErr == nil && len(gm.Changes) == 0 && amErr != nil {
			t.Fatalf("msync reads %x, automerge: %v", b, amErr)
		}
	})
}

func documented(err error) bool {
	for _, s := range []string{"entries without bits", "probes, at most", "checksum mismatch", "chunk type", "bytes follow"} {
		if strings.Contains(err.Error(), s) {
			return true
		}
	}
	return false
}

// The helpers below call the graph's readers and fail tb on an error:
// the graphs of these tests hold every chunk in memory.

func generate(tb testing.TB, g *msync.Graph, s *msync.State) *msync.Message {
	tb.Helper()
	m, err := msync.Generate(g, s)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

func rawAt(tb testing.TB, g *msync.Graph, i int) []byte {
	tb.Helper()
	b, err := g.RawAt(i)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func rawOf(tb testing.TB, g *msync.Graph, h automerge.ChangeHash) []byte {
	tb.Helper()
	b, err := g.Raw(h)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func appendRaw(tb testing.TB, g *msync.Graph, dst []byte, from int) []byte {
	tb.Helper()
	b, err := g.AppendRaw(dst, from)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

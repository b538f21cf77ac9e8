package relaysync_test

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// relayChanges returns the hashes of every change the relay stores for id.
func relayChanges(t *testing.T, repo *peer.RepoAdapter, id docs.DocumentID) []automerge.ChangeHash {
	t.Helper()
	var out []automerge.ChangeHash
	if err := repo.View(t.Context(), id, func(doc *automerge.Doc) error {
		cs, err := doc.Changes()
		for _, c := range cs {
			out = append(out, c.Hash())
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// withFalsePositive rewrites a relay sync message so its Bloom filters
// also claim hash (automerge-rs sync/bloom.rs: LEB128 entries, bits per
// entry and probes, then the bits; probes from the hash's first three
// little-endian words). Automerge's filter has such false positives for
// about 1 % of the changes; the sender then skips the claimed change and
// sends only the changes after it.
func withFalsePositive(t *testing.T, msg []byte, hash automerge.ChangeHash) []byte {
	t.Helper()
	m, err := wire.ParseSync(msg)
	if err != nil {
		t.Fatal(err)
	}
	for i, h := range m.Have {
		entries, bitsPer, probes := uint64(1), uint64(10), uint64(7)
		var bits []byte
		if p := h.Bloom; len(p) > 0 {
			read := func() uint64 {
				v, n := binary.Uvarint(p)
				if n <= 0 {
					t.Fatalf("bad bloom filter %x", h.Bloom)
				}
				p = p[n:]
				return v
			}
			entries, bitsPer, probes = read(), read(), read()
			bits = slices.Clone(p)
		}
		if n := int((entries*bitsPer + 7) / 8); len(bits) < n {
			bits = append(bits, make([]byte, n-len(bits))...)
		}
		mod := uint32(8 * len(bits))
		x := binary.LittleEndian.Uint32(hash[0:4]) % mod
		y := binary.LittleEndian.Uint32(hash[4:8]) % mod
		z := binary.LittleEndian.Uint32(hash[8:12]) % mod
		bits[x>>3] |= 1 << (x & 7)
		for range probes - 1 {
			x = (x + y) % mod
			y = (y + z) % mod
			bits[x>>3] |= 1 << (x & 7)
		}
		out := binary.AppendUvarint(nil, entries)
		out = binary.AppendUvarint(out, bitsPer)
		out = binary.AppendUvarint(out, probes)
		m.Have[i].Bloom = append(out, bits...)
	}
	return m.Encode()
}

// TestCollaboratorOutOfOrderThroughRelay: bob, collaborator on alice's
// playlist, adds two entries while the relay's Bloom filter falsely
// claims the first, so bob's device sends the second alone — over a
// real WebSocket to the relay's session. The relay used to refuse it
// ("change depends on changes not sent") and every later edit of bob's
// with it; it now holds it, asks for the first, and stores both. When
// the second change instead adds a collaborator, the pair is refused
// once the first arrives and nothing of either is stored.
func TestCollaboratorOutOfOrderThroughRelay(t *testing.T) {
	for _, tc := range []struct {
		name   string
		second func(p *docs.Playlist) error
		refuse bool
	}{
		{"entries", func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "bob", "b2"); return err }, false},
		{"adds a collaborator", func(p *docs.Playlist) error { return p.SetCollaborators("bob", "mallory") }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url, repo := openRelay(t, relaysync.DefaultOptions())
			id := randomID(t)
			alice := newPlaylistDoc(t, "alice", "bob")
			upload(t, url, id, alice)
			bobDoc, err := alice.Fork()
			if err != nil {
				t.Fatal(err)
			}
			bp := addTrack(t, bobDoc, "bob", "b1")
			first := bobDoc.Heads()[0]
			if err := tc.second(bp); err != nil {
				t.Fatal(err)
			}
			second := bobDoc.Heads()[0]
			bob := live(t, url, "bob")
			ss := automerge.NewSyncState(bobDoc)
			var refusal *wire.Message
			sentAlone := false
			for range 30 {
				if m, ok := ss.GenerateMessage(); ok {
					if cs := m.Changes(); len(cs) == 1 && cs[0].Hash() == second {
						sentAlone = true
					}
					if err := bob.Send(t.Context(), &wire.Message{Type: wire.TypeSync, SenderID: bob.user, TargetID: "relay", DocumentID: id.String(), Data: m.Bytes()}); err != nil {
						t.Fatal(err)
					}
				}
				m := bob.next(t, 300*time.Millisecond)
				if m == nil {
					break
				}
				if m.Type == wire.TypeError {
					refusal = m
					break
				}
				if m.Type != wire.TypeSync || m.DocumentID != id.String() {
					continue
				}
				data := m.Data
				if !slices.Contains(relayChanges(t, repo, id), first) {
					data = withFalsePositive(t, data, first)
				}
				if _, err := ss.ReceiveMessage(data); err != nil {
					t.Fatal(err)
				}
			}
			if !sentAlone {
				t.Fatal("bob's device never sent its second change alone: no false positive simulated")
			}
			got := relayChanges(t, repo, id)
			if !tc.refuse {
				if refusal != nil {
					t.Fatalf("relay refused bob's out-of-order change: %s", refusal.Message)
				}
				if tracks := relayTracks(t, repo, id); !slices.Equal(tracks, []string{"t1", "b1", "b2"}) {
					t.Fatalf("relay tracks %v, want t1 b1 b2", tracks)
				}
				return
			}
			if refusal == nil || !strings.Contains(refusal.Message, "collaborators") {
				t.Fatalf("relay answered %+v, want an error naming collaborators", refusal)
			}
			if slices.Contains(got, first) || slices.Contains(got, second) {
				t.Fatal("the relay stored changes of a refused pair")
			}
			if _, collabs, _ := aclState(t, repo, id); !slices.Equal(collabs, []model.UserID{"bob"}) {
				t.Fatalf("collaborators %v after the refusal", collabs)
			}
		})
	}
}

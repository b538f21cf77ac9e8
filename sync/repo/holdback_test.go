package repo

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/wire"
)

// sharedPlaylist is an owner's playlist shared with bob, as raw
// automerge (the ACL fields are what the check looks at).
func sharedPlaylist(t testing.TB) *automerge.Doc {
	t.Helper()
	d := automerge.New()
	root := d.RootMap()
	for k, v := range map[string]any{"owner": "alice", "type": "playlist", "name": "mix"} {
		if err := root.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := root.Set("collaborators", map[string]any{"bob": true}); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Commit("create"); err != nil {
		t.Fatal(err)
	}
	return d
}

// bloomAdd returns an automerge Bloom filter (automerge-rs sync/bloom.rs:
// LEB128 entries, bits per entry, probes, then the bits) that also
// claims hash: the sender then believes the receiver holds it — a false
// positive, which automerge's filter has for about 1 % of the changes.
func bloomAdd(t *testing.T, bloom []byte, hash automerge.ChangeHash) []byte {
	t.Helper()
	entries, bitsPer, probes := uint64(1), uint64(10), uint64(7)
	var bits []byte
	if len(bloom) > 0 {
		p := bloom
		read := func() uint64 {
			v, n := binary.Uvarint(p)
			if n <= 0 {
				t.Fatalf("bad bloom filter %x", bloom)
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
	return append(out, bits...)
}

// claimHeld rewrites a relay message so its Bloom filters claim hash.
func claimHeld(t *testing.T, msg []byte, hash automerge.ChangeHash) []byte {
	t.Helper()
	m, err := wire.ParseSync(msg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Have {
		m.Have[i].Bloom = bloomAdd(t, m.Have[i].Bloom, hash)
	}
	return m.Encode()
}

// falsePositiveExchange loads an owner's shared playlist into a relay
// repo, lets the collaborator bob commit x then y (made by edit), and
// syncs bob with the relay while every relay message's Bloom filter
// falsely claims x until the relay holds it — so bob first sends y
// alone. bob's messages go through docs.CheckACLUntouched as on the
// relay. It returns the relay, the document id, the first error of a
// relay receive and the hashes of x and y.
func falsePositiveExchange(t *testing.T, opts Options, edit func(d *automerge.Doc, step int)) (r *Repo, id docs.DocumentID, err error, x, y automerge.ChangeHash) {
	t.Helper()
	ctx := context.Background()
	r, oErr := Open(ctx, store.NewMemory(), opts)
	if oErr != nil {
		t.Fatal(oErr)
	}
	t.Cleanup(func() { r.Close() })
	owner := sharedPlaylist(t)
	id, idErr := docs.NewDocumentID(r.rand)
	if idErr != nil {
		t.Fatal(idErr)
	}
	oss := automerge.NewSyncState(owner)
	for i := 0; i < 10; i++ {
		m, ok := oss.GenerateMessage()
		if ok {
			if err := r.ReceiveSyncMessage(ctx, "alice", id, m.Bytes()); err != nil {
				t.Fatal(err)
			}
		}
		out, rok, err := r.GenerateSyncMessage(ctx, "alice", id)
		if err != nil {
			t.Fatal(err)
		}
		if rok {
			if _, err := oss.ReceiveMessage(out); err != nil {
				t.Fatal(err)
			}
		}
		if !ok && !rok {
			break
		}
	}
	bob, lErr := automerge.Load(owner.Save())
	if lErr != nil {
		t.Fatal(lErr)
	}
	edit(bob, 0)
	x, _ = bob.Commit("x")
	edit(bob, 1)
	y, _ = bob.Commit("y")
	if x == (automerge.ChangeHash{}) || y == (automerge.ChangeHash{}) {
		t.Fatal("edits made no change")
	}
	bss := automerge.NewSyncState(bob)
	check := Incoming{Check: docs.CheckACLUntouched}
	sentAlone := false
	for i := 0; i < 20; i++ {
		m, ok := bss.GenerateMessage()
		if ok {
			if cs := m.Changes(); len(cs) == 1 && cs[0].Hash() == y {
				sentAlone = true
			}
			if rerr := r.ReceiveSyncMessageWith(ctx, "bob", id, m.Bytes(), check); rerr != nil {
				return r, id, rerr, x, y
			}
		}
		out, rok, gerr := r.GenerateSyncMessage(ctx, "bob", id)
		if gerr != nil {
			t.Fatal(gerr)
		}
		if rok {
			if h, _ := r.Get(ctx, id); !slices.Contains(changeHashes(t, h), x) {
				out = claimHeld(t, out, x)
			}
			if _, err := bss.ReceiveMessage(out); err != nil {
				t.Fatal(err)
			}
		}
		if !ok && !rok {
			break
		}
	}
	if !sentAlone {
		t.Fatal("bob never sent y without x: the simulated false positive did not happen")
	}
	return r, id, nil, x, y
}

func changeHashes(t *testing.T, h *Handle) []automerge.ChangeHash {
	t.Helper()
	var out []automerge.ChangeHash
	if err := h.Read(func(d *automerge.Doc) error {
		cs, err := d.Changes()
		for _, c := range cs {
			out = append(out, c.Hash())
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestHoldBackBloomFalsePositive: a collaborator's change arrives before
// the change it depends on (the relay's Bloom filter falsely claimed
// it). The relay holds it, asks for the dependency, then checks and
// applies both — it used to refuse the message (docs.ErrMissingDeps).
func TestHoldBackBloomFalsePositive(t *testing.T) {
	r, id, err, x, y := falsePositiveExchange(t, testOptions(40), func(d *automerge.Doc, step int) {
		if err := d.RootMap().Set("name", []string{"mix x", "mix y"}[step]); err != nil {
			t.Fatal(err)
		}
	})
	if err != nil {
		t.Fatalf("relay refused a valid out-of-order change: %v", err)
	}
	h, _ := r.Get(context.Background(), id)
	got := changeHashes(t, h)
	if !slices.Contains(got, x) || !slices.Contains(got, y) {
		t.Fatalf("relay holds %d changes, want x and y among them", len(got))
	}
	if n, b := r.Held(); n != 0 || b != 0 {
		t.Fatalf("Held = %d changes, %d bytes after convergence, want 0", n, b)
	}
	if err := h.Read(func(d *automerge.Doc) error {
		v, err := d.RootMap().Get("name")
		if err != nil {
			return err
		}
		if s, _ := v.Interface().(string); s != "mix y" {
			t.Errorf("name = %v, want the collaborator's last edit", v.Interface())
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// TestHoldBackStillChecksACL: the change sent first (y) adds a
// collaborator; held until its dependency x arrives, it is then checked
// with x and the whole message is refused — sending changes out of order
// does not skip the check, and nothing of either change is stored.
func TestHoldBackStillChecksACL(t *testing.T) {
	for _, tc := range []struct {
		name  string
		touch func(d *automerge.Doc) error
		field string
	}{
		{"collaborators", func(d *automerge.Doc) error { return d.Path("collaborators").Map().Set("mallory", true) }, "collaborators"},
		{"owner", func(d *automerge.Doc) error { return d.RootMap().Set("owner", "bob") }, "owner"},
		{"public", func(d *automerge.Doc) error { return d.RootMap().Set("public", true) }, "public"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, id, err, x, y := falsePositiveExchange(t, testOptions(41), func(d *automerge.Doc, step int) {
				var err error
				if step == 0 {
					err = d.RootMap().Set("name", "innocent")
				} else {
					err = tc.touch(d)
				}
				if err != nil {
					t.Fatal(err)
				}
			})
			var acl *docs.ACLChangeError
			if !errors.Is(err, ErrRejected) || !errors.As(err, &acl) || acl.Field != tc.field {
				t.Fatalf("err = %v, want ErrRejected with an ACL change of %s", err, tc.field)
			}
			h, _ := r.Get(context.Background(), id)
			got := changeHashes(t, h)
			if slices.Contains(got, x) || slices.Contains(got, y) {
				t.Fatal("a refused out-of-order message stored changes")
			}
			if n, _ := r.Held(); n != 0 {
				t.Fatalf("Held = %d after the refusal, want 0", n)
			}
		})
	}
}

// orphanMessage returns a sync message from bob carrying n changes that
// all depend on a change never sent (plus a field only the owner may
// touch), made on a copy of base.
func orphanMessage(t testing.TB, base *automerge.Doc, n int) []byte {
	t.Helper()
	d, err := automerge.Load(base.Save())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.RootMap().Set("name", "hidden"); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Commit("never sent"); err != nil {
		t.Fatal(err)
	}
	m := wire.SyncMessage{Type: 0x42}
	for i := range n {
		if err := d.RootMap().Set("owner", "bob"); err != nil {
			t.Fatal(err)
		}
		if err := d.RootMap().Set("n", i); err != nil {
			t.Fatal(err)
		}
		hash, err := d.Commit("orphan")
		if err != nil {
			t.Fatal(err)
		}
		c, err := d.Change(hash)
		if err != nil {
			t.Fatal(err)
		}
		m.Changes = append(m.Changes, c.Save())
		m.Heads = [][32]byte{hash}
	}
	return m.Encode()
}

// TestHoldBackLimits: changes whose dependency never comes are held up
// to the per-peer and per-document limits; a message past them is
// refused (ErrHoldLimit) and holds nothing more; the owner's later
// messages do not let automerge apply them; a disconnect drops them.
func TestHoldBackLimits(t *testing.T) {
	ctx := context.Background()
	opts := testOptions(42).WithHoldLimits(HoldLimits{PeerChanges: 8, DocChanges: 12})
	r, err := Open(ctx, store.NewMemory(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	owner := sharedPlaylist(t)
	id, _ := docs.NewDocumentID(r.rand)
	first, _ := automerge.NewSyncState(owner).GenerateMessage()
	if err := r.ReceiveSyncMessage(ctx, "alice", id, first.Bytes()); err != nil {
		t.Fatal(err)
	}
	out, _, _ := r.GenerateSyncMessage(ctx, "alice", id)
	oss := automerge.NewSyncState(owner)
	if _, err := oss.ReceiveMessage(out); err != nil {
		t.Fatal(err)
	}
	if m, ok := oss.GenerateMessage(); ok {
		if err := r.ReceiveSyncMessage(ctx, "alice", id, m.Bytes()); err != nil {
			t.Fatal(err)
		}
	}
	h, _ := r.Get(ctx, id)
	heads := h.Heads()
	check := Incoming{Check: docs.CheckACLUntouched}

	if err := r.ReceiveSyncMessageWith(ctx, "bob", id, orphanMessage(t, owner, 6), check); err != nil {
		t.Fatalf("6 orphans within the limits: %v", err)
	}
	if n, _ := r.Held(); n != 6 {
		t.Fatalf("Held = %d, want 6", n)
	}
	// bob: 6 held + 3 more passes the per-peer limit of 8.
	err = r.ReceiveSyncMessageWith(ctx, "bob", id, orphanMessage(t, owner, 3), check)
	if !errors.Is(err, ErrHoldLimit) || !errors.Is(err, ErrRejected) {
		t.Fatalf("past the per-peer limit: err = %v, want ErrHoldLimit", err)
	}
	if n, _ := r.Held(); n != 6 {
		t.Fatalf("Held = %d after a refused message, want 6", n)
	}
	// carol: 6 + 7 passes the per-document limit of 12, 6 + 6 does not.
	if err := r.ReceiveSyncMessageWith(ctx, "carol", id, orphanMessage(t, owner, 7), check); !errors.Is(err, ErrHoldLimit) {
		t.Fatalf("past the per-document limit: err = %v, want ErrHoldLimit", err)
	}
	if err := r.ReceiveSyncMessageWith(ctx, "carol", id, orphanMessage(t, owner, 6), check); err != nil {
		t.Fatalf("up to the per-document limit: %v", err)
	}
	// The owner's edit goes through; the held changes stay out of the
	// document (automerge never saw them).
	if err := owner.RootMap().Set("name", "renamed"); err != nil {
		t.Fatal(err)
	}
	if _, err := owner.Commit("rename"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		if m, ok := oss.GenerateMessage(); ok {
			if err := r.ReceiveSyncMessage(ctx, "alice", id, m.Bytes()); err != nil {
				t.Fatal(err)
			}
		}
		if out, ok, _ := r.GenerateSyncMessage(ctx, "alice", id); ok {
			if _, err := oss.ReceiveMessage(out); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got, want := h.Heads(), owner.Heads(); !slices.Equal(got, want) || slices.Equal(got, heads) {
		t.Fatalf("relay heads %v, want the owner's %v", got, want)
	}
	// The relay asks bob for the missing dependency.
	ask, ok, err := r.GenerateSyncMessage(ctx, "bob", id)
	if err != nil || !ok {
		t.Fatalf("GenerateSyncMessage(bob) = %v, %v", ok, err)
	}
	if m, err := wire.ParseSync(ask); err != nil || len(m.Need) == 0 {
		t.Fatalf("relay message to bob needs %v (%v), want the missing dependency", m.Need, err)
	}
	r.PeerDisconnected("bob")
	r.PeerDisconnected("carol")
	if n, b := r.Held(); n != 0 || b != 0 {
		t.Fatalf("Held = %d changes, %d bytes after disconnects, want 0", n, b)
	}
}

// TestHoldBackTotalBytes: the repository-wide byte bound refuses an
// orphan that fits every per-peer and per-document bound.
func TestHoldBackTotalBytes(t *testing.T) {
	ctx := context.Background()
	r, err := Open(ctx, store.NewMemory(), testOptions(43).WithHoldLimits(HoldLimits{TotalBytes: 64}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	owner := sharedPlaylist(t)
	id, _ := docs.NewDocumentID(r.rand)
	first, _ := automerge.NewSyncState(owner).GenerateMessage()
	if err := r.ReceiveSyncMessage(ctx, "alice", id, first.Bytes()); err != nil {
		t.Fatal(err)
	}
	oss := automerge.NewSyncState(owner)
	out, _, _ := r.GenerateSyncMessage(ctx, "alice", id)
	if _, err := oss.ReceiveMessage(out); err != nil {
		t.Fatal(err)
	}
	m, _ := oss.GenerateMessage()
	if err := r.ReceiveSyncMessage(ctx, "alice", id, m.Bytes()); err != nil {
		t.Fatal(err)
	}
	err = r.ReceiveSyncMessageWith(ctx, "bob", id, orphanMessage(t, owner, 1), Incoming{Check: docs.CheckACLUntouched})
	if !errors.Is(err, ErrHoldLimit) {
		t.Fatalf("err = %v, want ErrHoldLimit (one change is more than 64 bytes)", err)
	}
	if n, b := r.Held(); n != 0 || b != 0 {
		t.Fatalf("Held = %d, %d, want nothing", n, b)
	}
}

// FuzzReceiveChecked feeds arbitrary bytes to the checked receive path
// (hold-back and ACL check) of a shared playlist: it must never panic,
// never hold beyond its limits, and never let a change touch owner,
// collaborators, public or type.
func FuzzReceiveChecked(f *testing.F) {
	owner := sharedPlaylist(f)
	f.Add(orphanMessage(f, owner, 2))
	seed, _ := automerge.NewSyncState(owner).GenerateMessage()
	f.Add(seed.Bytes())
	f.Add([]byte{0x42})
	base := owner.Save()
	f.Fuzz(func(t *testing.T, msg []byte) {
		ctx := context.Background()
		r, err := Open(ctx, store.NewMemory(), testOptions(44).WithHoldLimits(HoldLimits{PeerChanges: 4, DocChanges: 4}))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		id := docs.DocumentID{2}
		doc, err := automerge.Load(base)
		if err != nil {
			t.Fatal(err)
		}
		oss := automerge.NewSyncState(doc)
		m, _ := oss.GenerateMessage()
		if err := r.ReceiveSyncMessage(ctx, "alice", id, m.Bytes()); err != nil {
			t.Fatal(err)
		}
		out, _, _ := r.GenerateSyncMessage(ctx, "alice", id)
		_, _ = oss.ReceiveMessage(out)
		if m, ok := oss.GenerateMessage(); ok {
			if err := r.ReceiveSyncMessage(ctx, "alice", id, m.Bytes()); err != nil {
				t.Fatal(err)
			}
		}
		for range 2 {
			_ = r.ReceiveSyncMessageWith(ctx, "bob", id, msg, Incoming{CheckACL: true})
			_, _, _ = r.GenerateSyncMessage(ctx, "bob", id)
		}
		if n, _ := r.Held(); n > 4 {
			t.Fatalf("holds %d changes, limit 4", n)
		}
		h, _ := r.Get(ctx, id)
		if err := h.Read(func(d *automerge.Doc) error {
			if docs.Owner(d) != "alice" {
				t.Fatalf("owner is %q", docs.Owner(d))
			}
			v, err := d.RootMap().Get("public")
			if err == nil && !v.IsVoid() {
				t.Fatal("public was set")
			}
			if v, err := d.RootMap().Get("type"); err != nil || v.Interface() != "playlist" {
				t.Fatalf("type is %v (%v)", v, err)
			}
			keys, err := d.Path("collaborators").Map().Keys()
			if err != nil || len(keys) != 1 || keys[0] != "bob" {
				t.Fatalf("collaborators %v (%v)", keys, err)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	})
}

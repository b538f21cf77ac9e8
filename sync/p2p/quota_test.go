package p2p_test

import (
	"fmt"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/p2p"
)

// overQuota returns the OverQuota count of d's peers of user.
func overQuota(d *device, user model.UserID) int {
	n := 0
	for _, p := range d.node.Peers() {
		if p.User == user {
			n += p.OverQuota
		}
	}
	return n
}

// TestLANQuotaDocuments: a LAN peer (here a device of the same user, the
// only kind that may create documents on a device) brings three
// playlists to a device whose quota admits two documents: two are
// stored, the third is refused and not stored, and the session goes on.
func TestLANQuotaDocuments(t *testing.T) {
	ctx := t.Context()
	phone := newDevice(t, "alice", 1, func(o p2p.Options) p2p.Options { return o.WithQuota(2, 0) })
	laptop := newDevice(t, "alice", 2)
	var ids []docs.DocumentID
	for i := range 3 {
		h, err := laptop.repo.CreatePlaylist(ctx, "alice", fmt.Sprint("p", i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, h.ID())
	}
	if err := laptop.node.Connect(ctx, addr(t, phone, "/tcp/")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the third playlist is refused", func() bool { return overQuota(phone, "alice") > 0 })
	held := 0
	for _, id := range ids {
		if holds(phone.repo, id) {
			held++
		}
	}
	if held != 2 {
		t.Fatalf("phone holds %d of the 3 playlists, want 2 (the quota)", held)
	}
	// The session goes on: an edit of a stored playlist still arrives.
	var kept docs.DocumentID
	for _, id := range ids {
		if holds(phone.repo, id) {
			kept = id
		}
	}
	h, err := laptop.repo.Get(ctx, kept)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", "t1"); return err }); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the edit of a stored playlist reaches the phone", func() bool { return len(tracksOf(t, phone.repo, kept)) == 1 })
}

// TestLANQuotaBytes: a collaborator's device on the LAN grows a shared
// playlist on the owner's phone until the collaborator's byte quota is
// spent; its next change is refused and not stored, while the owner's
// own devices, counted apart, still sync.
func TestLANQuotaBytes(t *testing.T) {
	ctx := t.Context()
	const quota = 16 << 10
	phone := newDevice(t, "alice", 1, func(o p2p.Options) p2p.Options { return o.WithQuota(0, quota) })
	laptop, bob := newDevice(t, "alice", 2), newDevice(t, "bob", 3)
	shared, err := phone.repo.CreatePlaylist(ctx, "alice", "shared")
	if err != nil {
		t.Fatal(err)
	}
	if err := shared.Playlist(ctx, func(p *docs.Playlist) error { return p.SetCollaborators("bob") }); err != nil {
		t.Fatal(err)
	}
	if err := bob.node.Connect(ctx, addr(t, phone, "/tcp/")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "bob gets the shared playlist", func() bool { return holds(bob.repo, shared.ID()) })
	bh, err := bob.repo.Get(ctx, shared.ID())
	if err != nil {
		t.Fatal(err)
	}
	add := func(n int, prefix string) {
		t.Helper()
		tracks := make([]model.TrackID, n)
		for i := range tracks {
			tracks[i] = model.TrackID(fmt.Sprintf("%s-%04d", prefix, i))
		}
		if err := bh.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "bob", tracks...); return err }); err != nil {
			t.Fatal(err)
		}
	}
	add(1, "small")
	eventually(t, "bob's first edit reaches the phone", func() bool { return len(tracksOf(t, phone.repo, shared.ID())) == 1 })
	if overQuota(phone, "bob") != 0 {
		t.Fatal("bob's first edit counted over the quota")
	}
	add(2000, "big") // far more than 16 KiB of changes
	eventually(t, "bob's big edit is refused", func() bool { return overQuota(phone, "bob") > 0 })
	if n := len(tracksOf(t, phone.repo, shared.ID())); n != 1 {
		t.Fatalf("phone holds %d entries after the refusal, want 1", n)
	}
	if err := laptop.node.Connect(ctx, addr(t, phone, "/tcp/")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "alice's laptop still syncs with the phone", func() bool { return len(tracksOf(t, laptop.repo, shared.ID())) == 1 })
	lh, err := laptop.repo.Get(ctx, shared.ID())
	if err != nil {
		t.Fatal(err)
	}
	if err := lh.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", "mine"); return err }); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the laptop's edit reaches the phone", func() bool {
		ts := tracksOf(t, phone.repo, shared.ID())
		return len(ts) == 2 && ts[1] == "mine"
	})
}

package p2p_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/msync"
	"github.com/segue-fm/segue/sync/p2p"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
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

// storedQuota returns d's stored LAN quota count of user: the period,
// documents and bytes of lanquota/<user>.
func storedQuota(t *testing.T, d *device, user model.UserID) (period string, docs int, bytes int64) {
	t.Helper()
	v, err := d.st.Get(t.Context(), store.Key("lanquota", string(user)))
	if err != nil {
		t.Fatalf("LAN quota count of %s: %v", user, err)
	}
	if _, err := fmt.Sscanf(string(v), "%s %d %d", &period, &docs, &bytes); err != nil {
		t.Fatalf("LAN quota count of %s: %q: %v", user, v, err)
	}
	return period, docs, bytes
}

// TestLANQuotaAfterRestart: the LAN quota is kept in the device's store,
// so a restart of the node does not give a peer's user a fresh quota.
// Documents: two playlists of alice's laptop fill a quota of two; after
// the phone's node restarts, a third is refused and not stored. Bytes:
// bob's big edit is counted; the phone restarts with a quota of one
// byte more than that count, and bob's next, small edit is refused.
// Before, the counts lived in the node's memory and both were taken.
func TestLANQuotaAfterRestart(t *testing.T) {
	ctx := t.Context()
	t.Run("documents", func(t *testing.T) {
		phone := newDevice(t, "alice", 1, func(o p2p.Options) p2p.Options { return o.WithQuota(2, 0) })
		laptop := newDevice(t, "alice", 2)
		create := func(name string) docs.DocumentID {
			h, err := laptop.repo.CreatePlaylist(ctx, "alice", name)
			if err != nil {
				t.Fatal(err)
			}
			return h.ID()
		}
		a, b := create("a"), create("b")
		if err := laptop.node.Connect(ctx, addr(t, phone, "/tcp/")); err != nil {
			t.Fatal(err)
		}
		eventually(t, "both playlists reach the phone", func() bool { return holds(phone.repo, a) && holds(phone.repo, b) })
		if period, n, _ := storedQuota(t, phone, "alice"); n != 2 || period != time.Now().UTC().Format("2006-01") {
			t.Fatalf("stored count: %d documents in %s, want 2 this month", n, period)
		}
		phone.restart()
		eventually(t, "the laptop sees the phone gone", func() bool { return len(laptop.node.Peers()) == 0 })
		c := create("c")
		if err := laptop.node.Connect(ctx, addr(t, phone, "/tcp/")); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the third playlist is refused after the restart", func() bool { return overQuota(phone, "alice") > 0 })
		if holds(phone.repo, c) {
			t.Fatal("the phone stored a third playlist past its quota of two")
		}
	})
	t.Run("bytes", func(t *testing.T) {
		phone := newDevice(t, "alice", 1)
		bob := newDevice(t, "bob", 3)
		shared, bh := sharedWithBob(t, phone, bob)
		addTracks(t, bh, 200, "big")
		eventually(t, "bob's edit reaches the phone", func() bool { return len(tracksOf(t, phone.repo, shared)) == 200 })
		_, _, used := storedQuota(t, phone, "bob")
		if used == 0 {
			t.Fatal("bob's edit was not counted")
		}
		phone.restart(func(o p2p.Options) p2p.Options { return o.WithQuota(0, used+1) })
		eventually(t, "bob sees the phone gone", func() bool { return len(bob.node.Peers()) == 0 })
		if err := bob.node.Connect(ctx, addr(t, phone, "/tcp/")); err != nil {
			t.Fatal(err)
		}
		addTracks(t, bh, 1, "small")
		eventually(t, "bob's next edit is refused after the restart", func() bool { return overQuota(phone, "bob") > 0 })
		if n := len(tracksOf(t, phone.repo, shared)); n != 200 {
			t.Fatalf("phone holds %d entries, want 200", n)
		}
	})
}

// sharedWithBob creates a playlist of alice's on phone shared with bob
// and syncs it to bob's device over the LAN; it returns its id and
// bob's handle on it.
func sharedWithBob(t *testing.T, phone, bob *device) (docs.DocumentID, *repo.Handle) {
	t.Helper()
	ctx := t.Context()
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
	return shared.ID(), bh
}

// addTracks appends n tracks named prefix-i to a playlist as bob.
func addTracks(t *testing.T, h *repo.Handle, n int, prefix string) {
	t.Helper()
	tracks := make([]model.TrackID, n)
	for i := range tracks {
		tracks[i] = model.TrackID(fmt.Sprintf("%s-%04d", prefix, i))
	}
	if err := h.Playlist(t.Context(), func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "bob", tracks...); return err }); err != nil {
		t.Fatal(err)
	}
}

// repeatRepo is a peer.Repo that sends its first sync message carrying
// changes twice (the next Generate returns it again), and records the
// changes of every message it generates.
type repeatRepo struct {
	peer.Repo
	mu       sync.Mutex
	repeat   []byte // to send again on the next Generate
	repeated bool
	changes  map[[32]byte]int // hash → length of each change sent
}

func (r *repeatRepo) Generate(ctx context.Context, to string, id docs.DocumentID, aclRev uint64) ([]byte, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.repeat != nil {
		data := r.repeat
		r.repeat, r.repeated = nil, true
		return data, true, nil
	}
	data, ok, err := r.Repo.Generate(ctx, to, id, aclRev)
	if err != nil || !ok {
		return data, ok, err
	}
	m, err := wire.ParseSync(data)
	if err != nil {
		return nil, false, err
	}
	for _, raw := range m.Changes {
		c, err := msync.ParseChange(raw)
		if err != nil {
			return nil, false, err
		}
		r.changes[c.Hash] = len(raw)
	}
	if len(m.Changes) > 0 && !r.repeated {
		r.repeat = bytes.Clone(data)
	}
	return data, ok, nil
}

// TestLANQuotaDuplicateCountsOnce: a sync message that arrives again
// after it was applied (here bob's device sends its edit twice) counts
// its changes once: the phone's stored count for bob is the bytes of
// the distinct changes bob sent. Before, each message counted its whole
// length, so the repeat took bob's quota twice.
func TestLANQuotaDuplicateCountsOnce(t *testing.T) {
	phone := newDevice(t, "alice", 1)
	var rr *repeatRepo
	bob := newDeviceWith(t, "bob", 3, func(r *repo.Repo) peer.Repo {
		rr = &repeatRepo{Repo: peer.NewRepoAdapter(r), changes: map[[32]byte]int{}}
		return rr
	})
	shared, bh := sharedWithBob(t, phone, bob)
	addTracks(t, bh, 50, "first")
	eventually(t, "bob's edit reaches the phone", func() bool { return len(tracksOf(t, phone.repo, shared)) == 50 })
	// An edit after the repeat: once it is on the phone, so is the
	// repeated message before it on the same stream.
	eventually(t, "bob's device repeats its message", func() bool {
		rr.mu.Lock()
		defer rr.mu.Unlock()
		return rr.repeated
	})
	addTracks(t, bh, 1, "second")
	eventually(t, "bob's second edit reaches the phone", func() bool { return len(tracksOf(t, phone.repo, shared)) == 51 })
	rr.mu.Lock()
	want := int64(0)
	for _, n := range rr.changes {
		want += int64(n)
	}
	rr.mu.Unlock()
	if _, _, got := storedQuota(t, phone, "bob"); got != want {
		t.Fatalf("phone counted %d bytes of bob's changes, want %d (each change once)", got, want)
	}
	if n := overQuota(phone, "bob"); n != 0 {
		t.Fatalf("%d of bob's messages refused", n)
	}
}

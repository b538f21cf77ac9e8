package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/msync"
)

// TestPremakeIsAppendEntry checks that -replay's pre-made changes are
// appendEntry's (and so Playlist.Add's, TestAppendEntryIsPlaylistAdd):
// from the same document, actors, clock and random bytes, premake's
// chunks are byte for byte the changes of as many appendEntry calls
// (with one actor, and with the actor switching between edits as on a
// shared playlist), each depends on the one before (the first on the
// document's heads), and automerge decodes them from a sync message and
// applies them to a replica without them, which then lists the entries
// at premake's positions by their authors.
func TestPremakeIsAppendEntry(t *testing.T) {
	at := time.UnixMilli(1_800_000_000_000)
	clock := func() time.Time { return at }
	rnd := func() *bytes.Reader {
		b := make([]byte, 4096)
		r := rand.New(rand.NewPCG(7, 7))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return bytes.NewReader(b)
	}
	base := automerge.New()
	pl, err := docs.CreatePlaylist(base, "alice", "p", docs.DefaultOptions().WithClock(clock))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pl.Add(docs.AtEnd(), "alice", "t0", "t1"); err != nil {
		t.Fatal(err)
	}
	entries, err := pl.Entries()
	if err != nil {
		t.Fatal(err)
	}
	last := entries[len(entries)-1].Pos
	by := func(actor string) model.UserID { return model.UserID("carol" + actor) }
	baseHeads := base.Heads()
	saved := base.Save()
	actor, bob, dan := automerge.NewActorID(), automerge.NewActorID(), automerge.NewActorID()
	load := func() *automerge.Doc {
		d, err := automerge.Load(saved)
		if err != nil {
			t.Fatal(err)
		}
		if err := d.SetActorID(actor); err != nil {
			t.Fatal(err)
		}
		return d
	}
	for _, tc := range []struct {
		name   string
		actors []string // one per edit; "" keeps the document's
	}{
		{"none", nil},
		{"one", []string{""}},
		{"five, one actor", []string{"", "", "", "", ""}},
		{"five, three actors", []string{bob, "", dan, actor, bob}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(tc.actors)
			viaPre, viaGen, target := load(), load(), load()
			var edits []premadeEdit
			for k, a := range tc.actors {
				edits = append(edits, premadeEdit{actor: a, by: by(a), track: model.TrackID(fmt.Sprintf("r3-%d", k))})
			}
			var made atomic.Int64
			pre, err := premake(viaPre, last, edits, clock, rnd(), &made)
			if err != nil {
				t.Fatal(err)
			}
			if len(pre) != n || made.Load() != int64(n) {
				t.Fatalf("pre-made %d changes, counted %d, want %d", len(pre), made.Load(), n)
			}
			r, pos := rnd(), last
			for k, p := range pre {
				if a := tc.actors[k]; a != "" {
					if err := viaGen.SetActorID(a); err != nil {
						t.Fatal(err)
					}
				}
				if pos, err = appendEntry(viaGen, pos, by(tc.actors[k]), model.TrackID(fmt.Sprintf("r3-%d", k)), at, r); err != nil {
					t.Fatal(err)
				}
				h := viaGen.Heads()
				ch, err := viaGen.Change(h[0])
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(ch.Save(), p.raw) || h[0] != p.c.Hash || pos != p.pos {
					t.Fatalf("pre-made change %d differs from appendEntry's", k)
				}
				// automerge makes a change depend on the heads (the
				// change before) and on its actor's previous change.
				want := baseHeads
				if k > 0 {
					want = []automerge.ChangeHash{pre[k-1].c.Hash}
				}
				for _, h := range want {
					if !slices.Contains(p.c.Deps, h) {
						t.Fatalf("pre-made change %d depends on %v, not on %v", k, p.c.Deps, h)
					}
				}
				for _, h := range p.c.Deps {
					if !slices.Contains(baseHeads, h) && !slices.ContainsFunc(pre[:k], func(q premade) bool { return q.c.Hash == h }) {
						t.Fatalf("pre-made change %d depends on %v, neither a head nor an earlier pre-made change", k, h)
					}
				}
			}
			m := &msync.Message{Heads: viaPre.Heads()}
			for _, p := range pre {
				m.Raw = append(m.Raw, p.raw)
			}
			sm, err := automerge.LoadSyncMessage(m.Encode())
			if err != nil {
				t.Fatal(err)
			}
			if err := target.Apply(sm.Changes()...); err != nil {
				t.Fatal(err)
			}
			sm.Close()
			if !slices.Equal(target.Heads(), viaPre.Heads()) {
				t.Fatalf("heads after applying the pre-made changes %v, want %v", target.Heads(), viaPre.Heads())
			}
			got, err := docs.OpenPlaylist(target, docs.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			ge, err := got.Entries()
			if err != nil {
				t.Fatal(err)
			}
			if len(ge) != len(entries)+n {
				t.Fatalf("%d entries after applying %d pre-made changes to %d", len(ge), n, len(entries))
			}
			for k, e := range ge[len(entries):] {
				if e.Track != model.TrackID(fmt.Sprintf("r3-%d", k)) || e.Pos != pre[k].pos || e.AddedBy != by(tc.actors[k]) || !e.AddedAt.Equal(at) {
					t.Fatalf("entry %d after the pre-made changes: %+v", k, e)
				}
			}
		})
	}
}

// TestPremakeCap checks that a run scheduling more edits than
// maxPremade is refused.
func TestPremakeCap(t *testing.T) {
	for _, tc := range []struct {
		n    int
		want error
	}{{0, nil}, {maxPremade, nil}, {maxPremade + 1, errTooManyPremade}} {
		if err := checkPremadeCap(tc.n); !errors.Is(err, tc.want) {
			t.Fatalf("%d edits: error %v, want %v", tc.n, err, tc.want)
		}
	}
}

// checkReplayDocs checks, after a -replay run on the relay at url, that
// every pre-made change was sent and that the relay's copy of every
// document equals what the pre-made replicas say: read back by a new
// device of a user who holds it, it has the heads of the union of the
// replicas' pre-made chains and their fork points, and one entry per
// pre-made change (track, position, author).
func checkReplayDocs(t *testing.T, url string, st *stats) {
	t.Helper()
	type entry struct {
		track model.TrackID
		pos   string
		by    model.UserID
	}
	type want struct {
		user         model.UserID
		hashes, deps map[automerge.ChangeHash]bool
		entries      []entry
		heads        []automerge.ChangeHash
		checker      *device
	}
	wants := map[docs.DocumentID]*want{}
	for _, d := range st.devs {
		for id, dd := range d.docs {
			w := wants[id]
			if w == nil {
				w = &want{user: d.user, hashes: map[automerge.ChangeHash]bool{}, deps: map[automerge.ChangeHash]bool{}}
				wants[id] = w
			}
			if dd.base == nil {
				continue // a follower that does not edit
			}
			if dd.sent != len(dd.pre) {
				t.Fatalf("%s sent %d of its %d pre-made changes of %s", d.user, dd.sent, len(dd.pre), id)
			}
			for _, h := range dd.base {
				w.hashes[h] = true
			}
			for k, p := range dd.pre {
				w.hashes[p.c.Hash] = true
				for _, h := range p.c.Deps {
					w.deps[h] = true
				}
				w.entries = append(w.entries, entry{model.TrackID(fmt.Sprintf("%s%d", replayTrackPrefix(d.n), k)), p.pos, d.user})
			}
		}
	}
	ctx := context.Background()
	hc := &http.Client{Timeout: 30 * time.Second}
	c := config{url: url, full: true}
	checkers := map[model.UserID]*device{}
	cst := newStats()
	n := 0
	for id, w := range wants {
		for h := range w.hashes {
			if !w.deps[h] {
				w.heads = append(w.heads, h)
			}
		}
		slices.SortFunc(w.heads, func(a, b automerge.ChangeHash) int { return bytes.Compare(a[:], b[:]) })
		d := checkers[w.user]
		if d == nil {
			var err error
			if d, err = register(ctx, hc, url, w.user, 1000+n); err != nil {
				t.Fatal(err)
			}
			n++
			d.full, d.peerID = true, string(w.user)+"-check"
			if err := d.connect(ctx, c, cst); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.conn.C.CloseNow() })
			checkers[w.user] = d
		}
		if err := d.follow(ctx, id, -1, true); err != nil {
			t.Fatal(err)
		}
		w.checker = d
	}
	deadline := time.Now().Add(20 * time.Second)
	for id, w := range wants {
		d := w.checker
		for {
			d.mu.Lock()
			heads := d.docs[id].am.Heads()
			d.mu.Unlock()
			if slices.Equal(heads, w.heads) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("relay's %s has heads %v, the pre-made replicas say %v", id, heads, w.heads)
			}
			time.Sleep(20 * time.Millisecond)
		}
		d.mu.Lock()
		pl, err := docs.OpenPlaylist(d.docs[id].am, docs.DefaultOptions())
		var es []docs.Entry
		if err == nil {
			es, err = pl.Entries()
		}
		d.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		var got []entry
		for _, e := range es {
			got = append(got, entry{e.Track, e.Pos, e.AddedBy})
		}
		cmp := func(a, b entry) int {
			return bytes.Compare([]byte(string(a.track)+"\x00"+a.pos+"\x00"+string(a.by)), []byte(string(b.track)+"\x00"+b.pos+"\x00"+string(b.by)))
		}
		slices.SortFunc(got, cmp)
		slices.SortFunc(w.entries, cmp)
		if !slices.Equal(got, w.entries) {
			t.Fatalf("relay's %s lists %d entries, the pre-made replicas %d (or they differ)", id, len(got), len(w.entries))
		}
	}
	if cst.errs != 0 {
		t.Fatalf("checkers: %d errors (first %q)", cst.errs, cst.firstErr)
	}
}

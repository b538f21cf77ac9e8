package main

import (
	"bytes"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
)

// TestAppendEntryIsPlaylistAdd checks that the generator's edit is the
// change docs.Playlist.Add(AtEnd) makes: from the same document, actor,
// clock and random bytes, both commits save to the same bytes, over a
// playlist with entries and after a collaborator's concurrent append
// merged in (the device's last known position is the largest).
func TestAppendEntryIsPlaylistAdd(t *testing.T) {
	at := time.UnixMilli(1_800_000_000_000)
	seed := func(n uint64) *bytes.Reader {
		b := make([]byte, 256)
		r := rand.New(rand.NewPCG(n, n))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return bytes.NewReader(b)
	}
	base := automerge.New()
	pl, err := docs.CreatePlaylist(base, "alice", "p", docs.DefaultOptions().WithClock(func() time.Time { return at }))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pl.Add(docs.AtEnd(), "alice", "t0", "t1", "t2"); err != nil {
		t.Fatal(err)
	}
	other, err := base.Fork()
	if err != nil {
		t.Fatal(err)
	}
	opl, err := docs.OpenPlaylist(other, docs.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := opl.Add(docs.AtEnd(), "bob", "tb"); err != nil {
		t.Fatal(err)
	}
	if _, err := base.Merge(other); err != nil {
		t.Fatal(err)
	}
	es, err := docs.OpenPlaylist(base, docs.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	entries, err := es.Entries()
	if err != nil {
		t.Fatal(err)
	}
	last := entries[len(entries)-1].Pos
	saved := base.Save()
	for i := range 3 {
		viaAdd, err := automerge.Load(saved)
		if err != nil {
			t.Fatal(err)
		}
		viaGen, err := automerge.Load(saved)
		if err != nil {
			t.Fatal(err)
		}
		actor := automerge.NewActorID()
		if err := viaAdd.SetActorID(actor); err != nil {
			t.Fatal(err)
		}
		if err := viaGen.SetActorID(actor); err != nil {
			t.Fatal(err)
		}
		p, err := docs.OpenPlaylist(viaAdd, docs.DefaultOptions().WithClock(func() time.Time { return at }).WithRand(seed(uint64(i))))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Add(docs.AtEnd(), "carol", model.TrackID("tc")); err != nil {
			t.Fatal(err)
		}
		pos, err := appendEntry(viaGen, last, "carol", "tc", at, seed(uint64(i)))
		if err != nil {
			t.Fatal(err)
		}
		ha, hg := viaAdd.Heads(), viaGen.Heads()
		if len(ha) != 1 || len(hg) != 1 || ha[0] != hg[0] {
			t.Fatalf("heads after Add %v, after appendEntry %v", ha, hg)
		}
		ca, err := viaAdd.Change(ha[0])
		if err != nil {
			t.Fatal(err)
		}
		cg, err := viaGen.Change(hg[0])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ca.Save(), cg.Save()) {
			t.Fatal("appendEntry's change differs from Playlist.Add's")
		}
		got, err := docs.OpenPlaylist(viaGen, docs.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		ge, err := got.Entries()
		if err != nil {
			t.Fatal(err)
		}
		if n := len(ge); n != len(entries)+1 || ge[n-1].Track != "tc" || ge[n-1].Pos != pos || ge[n-1].AddedBy != "carol" {
			t.Fatalf("entries after appendEntry: %+v (position %q)", ge, pos)
		}
	}
}

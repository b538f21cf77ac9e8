package searchindex

import (
	"context"
	"io/fs"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/search"
	"github.com/segue-fm/segue/internal/catalogen"
	"github.com/segue-fm/segue/store/badgerstore"
)

// deviceEntries turns a generated catalog of n tracks into the entries a
// device holding all of them indexes: tracks, their albums and artists.
func deviceEntries(n int) []Entry {
	c := catalogen.Generate(7, n)
	names := map[string]string{}
	var out []Entry
	for _, a := range c.Artists {
		names[a.ID] = a.Name
		out = append(out, Entry{Kind: KindArtist, ID: a.ID, Title: a.Name})
	}
	albums := map[string]string{}
	for _, al := range c.Albums {
		albums[al.ID] = al.Title
		out = append(out, Entry{Kind: KindAlbum, ID: al.ID, Title: al.Title, Artists: []string{names[al.ArtistID]}})
	}
	for _, t := range c.Tracks {
		e := Entry{Kind: KindTrack, ID: t.ID, Title: t.Title, Album: albums[t.AlbumID], Audio: t.ID}
		for _, a := range t.ArtistIDs {
			e.Artists = append(e.Artists, names[a])
		}
		out = append(out, e)
	}
	return out
}

// diskBytes is the space the files under dir take (allocated blocks, so
// preallocated sparse files count for what they use).
func diskBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			n += st.Blocks * 512
		} else {
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestDeviceIndexSize measures the device's local index for 10,000
// tracks (with their albums and artists) as the device keeps it: in a
// Badger store with the device's options and a 1 MiB term cache. The
// store's files and the index's heap must each stay within 20 MB, and
// reopening (rebuilding the dictionary from the stored entries) is timed.
func TestDeviceIndexSize(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 10,000-track index")
	}
	const tracks, limit = 10_000, 20 << 20
	ctx := context.Background()
	entries := deviceEntries(tracks)
	query := entries[len(entries)-1].Title
	dir := t.TempDir()
	// open opens the store and the index over it, returning the heap
	// the index holds (the store's own buffers excluded).
	open := func() (*badgerstore.Store, *Index, time.Duration, int64) {
		st, err := badgerstore.Open(ctx, dir, badgerstore.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		h0 := heapInUse()
		start := time.Now()
		ix, err := OpenIndex(ctx, st, DefaultOptions().WithTermCache(1<<20))
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		return st, ix, took, int64(heapInUse()) - int64(h0)
	}
	st, ix, _, _ := open()
	empty := diskBytes(t, dir)
	for i := 0; i < len(entries); i += 256 { // as the device adds them
		if err := ix.Upsert(ctx, entries[i:min(i+256, len(entries))]...); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	disk := diskBytes(t, dir) - empty
	entries, ix = nil, nil
	// The heap the index holds after reopening: its entries decoded from
	// the store, nothing shared with the generated catalog.
	st, ix, reopen, heap := open()
	defer st.Close()
	q, err := search.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	hits, _, err := ix.Search(Request{Query: q, Limit: 20})
	took := time.Since(start)
	start = time.Now()
	_, _, _ = ix.Search(Request{Query: q, Limit: 20})
	again := time.Since(start)
	if err != nil || len(hits) == 0 {
		t.Fatalf("search after reopen: %d hits, %v", len(hits), err)
	}
	t.Logf("%d entries (%d tracks): store files +%.1f MB, index heap %.1f MB, reopen %v, first search %v, again %v (term cache)",
		ix.Len(), tracks, float64(disk)/1e6, float64(heap)/1e6, reopen.Round(time.Millisecond), took.Round(time.Microsecond), again.Round(time.Microsecond))
	if disk > limit || heap > limit {
		t.Fatalf("local index too large: store +%d bytes, heap %d bytes; want ≤ %d each", disk, heap, limit)
	}
}

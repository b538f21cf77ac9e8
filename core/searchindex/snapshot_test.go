package searchindex

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	core "github.com/segue-fm/segue/core/search"
	"github.com/segue-fm/segue/store"
)

// snapQueries are queries over fixture whose answers a reopened index
// must give exactly as a rebuilt one.
var snapQueries = []string{"bjrok", "day trip", "daytripper", "highway hell", "ac dc", "guns roses", "the", "ho", "strasse", "road", "metalica", "nord ae"}

// answers returns the ranked hit keys of every query in snapQueries.
func answers(t *testing.T, ix *Index) [][]string {
	t.Helper()
	out := make([][]string, len(snapQueries))
	for i, qs := range snapQueries {
		q, err := core.ParseQuery(qs)
		if err != nil {
			t.Fatal(err)
		}
		hits, total, err := ix.Search(Request{Query: q, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = append(out[i], strconv.Itoa(total))
		for _, h := range hits {
			out[i] = append(out[i], h.Entry.Key())
		}
	}
	return out
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func openSnap(t *testing.T, st store.Store, path string) *Index {
	t.Helper()
	ix, err := OpenIndex(context.Background(), st, DefaultOptions().WithSnapshot(path).WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

func openPlain(t *testing.T, st store.Store) *Index {
	t.Helper()
	ix, err := OpenIndex(context.Background(), st, DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

// TestSnapshotReopen: the first open with a snapshot file tokenises every
// entry and writes the file, the next tokenises none and answers as a
// rebuilt index does; entries changed behind the snapshot's back (by an
// index without it, as `segue catalog import` writes the store) are the
// only ones tokenised again.
func TestSnapshotReopen(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	path := filepath.Join(t.TempDir(), "search.snap")
	ix := openSnap(t, st, path)
	if err := ix.Upsert(ctx, fixture...); err != nil {
		t.Fatal(err)
	}
	if err := ix.SaveSnapshot(ctx); err != nil {
		t.Fatal(err)
	}
	ix = openSnap(t, st, path)
	if ix.tokenised != 0 {
		t.Errorf("reopen tokenised %d entries, want 0", ix.tokenised)
	}
	if got, want := answers(t, ix), answers(t, openPlain(t, st)); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("from the snapshot %v\nrebuilt %v", got, want)
	}

	// Behind the snapshot: a rename, a removal, a new entry.
	other := openPlain(t, st)
	renamed := fixture[9]
	renamed.Title = "Bachelorette"
	if err := other.Upsert(ctx, renamed, Entry{Kind: KindArtist, ID: "new", Title: "Newcomer"}); err != nil {
		t.Fatal(err)
	}
	if err := other.Remove(ctx, KindArtist, "metallica"); err != nil {
		t.Fatal(err)
	}
	ix = openSnap(t, st, path)
	if ix.tokenised != 2 {
		t.Errorf("reopen after 2 changed entries tokenised %d", ix.tokenised)
	}
	got, want := answers(t, ix), answers(t, openPlain(t, st))
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("after changes, from the snapshot %v\nrebuilt %v", got, want)
	}
	if f := find(t, ix, "metallica"); len(f) != 0 {
		t.Errorf("removed entry found: %v", f)
	}
	if f := find(t, ix, "joga"); len(f) != 0 {
		t.Errorf("old title found: %v", f)
	}
	// That open wrote the snapshot again: nothing left to tokenise.
	if ix = openSnap(t, st, path); ix.tokenised != 0 {
		t.Errorf("third open tokenised %d", ix.tokenised)
	}

	// Saving after updates in memory (dead slots renumbered away).
	if err := ix.Upsert(ctx, Entry{Kind: KindTrack, ID: "t9", Title: "Yellow Submarine", Artists: []string{"The Beatles"}}); err != nil {
		t.Fatal(err)
	}
	if err := ix.Remove(ctx, KindTrack, "t1"); err != nil {
		t.Fatal(err)
	}
	if err := ix.SaveSnapshot(ctx); err != nil {
		t.Fatal(err)
	}
	ix = openSnap(t, st, path)
	if ix.tokenised != 0 {
		t.Errorf("open after save tokenised %d", ix.tokenised)
	}
	if got, want := answers(t, ix), answers(t, openPlain(t, st)); !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("after save, from the snapshot %v\nrebuilt %v", got, want)
	}
	if f := find(t, ix, "yelow submarine"); !slices.Equal(f, []string{"t9"}) {
		t.Errorf("yelow submarine → %v", f)
	}
}

// TestSnapshotCorrupt: every damaged file (each byte flipped, truncated,
// of another version, not a snapshot) is ignored: the index is rebuilt
// from the store, answers as before, and the file is written anew.
func TestSnapshotCorrupt(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	dir := t.TempDir()
	path := filepath.Join(dir, "search.snap")
	ix := openSnap(t, st, path)
	if err := ix.Upsert(ctx, fixture...); err != nil {
		t.Fatal(err)
	}
	if err := ix.SaveSnapshot(ctx); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := answers(t, openPlain(t, st))
	otherVersion := bytes.Clone(good)
	binary.LittleEndian.PutUint32(otherVersion[len(snapshotMagic):], snapshotVersion+1)
	binary.LittleEndian.PutUint32(otherVersion[len(otherVersion)-4:], crc32.Checksum(otherVersion[:len(otherVersion)-4], castagnoli))
	cases := map[string][]byte{
		"empty":          {},
		"not a snapshot": []byte("hello, world"),
		"truncated":      good[:len(good)/2],
		"other version":  otherVersion,
	}
	// Every byte of the header and the checksum, and a spread of the body
	// (each open builds automata: all ~800 bytes would take long).
	for i := 0; i < len(good); i++ {
		if i >= len(snapshotMagic)+4 && i < len(good)-4 && i%9 != 0 {
			continue
		}
		b := bytes.Clone(good)
		b[i] ^= 0x5a
		cases[fmt.Sprintf("byte %d flipped", i)] = b
	}
	for name, data := range cases {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		ix := openSnap(t, st, path)
		if ix.tokenised != len(fixture) {
			t.Errorf("%s: tokenised %d, want all %d", name, ix.tokenised, len(fixture))
		}
		if got := answers(t, ix); !slices.EqualFunc(got, want, slices.Equal) {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
		if again := openSnap(t, st, path); again.tokenised != 0 {
			t.Errorf("%s: the file was not rewritten: the next open tokenised %d", name, again.tokenised)
		}
	}
	left, err := filepath.Glob(filepath.Join(dir, "*.tmp-*"))
	if err != nil || len(left) != 0 {
		t.Errorf("temporary files left: %v %v", left, err)
	}
}

// frame wraps a snapshot body in its header and checksum.
func frame(body []byte) []byte {
	b := append([]byte(snapshotMagic), binary.LittleEndian.AppendUint32(nil, snapshotVersion)...)
	b = append(b, body...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// TestParseSnapshotBodyLimits: hand-made bodies that break a rule or a
// limit fail with ErrBadSnapshot.
func TestParseSnapshotBodyLimits(t *testing.T) {
	uv := func(vs ...uint64) []byte {
		var b []byte
		for _, v := range vs {
			b = binary.AppendUvarint(b, v)
		}
		return b
	}
	slot := func(kind byte) []byte { return append(make([]byte, digestBytes), kind) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	long := bytes.Repeat([]byte("a"), maxTermBytes+1)
	for _, c := range []struct {
		name string
		body []byte
		ok   bool
	}{
		{"empty dictionaries", cat(uv(1), slot(2), uv(0), uv(0)), true},
		{"one term", cat(uv(1), slot(2), uv(1, 3), []byte("abc"), []byte{0}, uv(1, 2<<kindShift), uv(0)), true},
		{"slots beyond the bytes", cat(uv(1000), slot(2)), false},
		{"bad kind", cat(uv(1), slot(4), uv(0), uv(0)), false},
		{"term too long", cat(uv(1), slot(2), uv(1, maxTermBytes+1), long, []byte{0}, uv(1, 2<<kindShift), uv(0)), false},
		{"empty term", cat(uv(1), slot(2), uv(1, 0), []byte{0}, uv(0), uv(0)), false},
		{"terms out of order", cat(uv(1), slot(2), uv(2, 1), []byte("b"), []byte{0}, uv(0, 1), []byte("a"), []byte{0}, uv(0), uv(0)), false},
		{"word with a first", cat(uv(1), slot(2), uv(1, 1), []byte("a"), []byte{3}, uv(0), uv(0)), false},
		{"pair without a first", cat(uv(1), slot(2), uv(0, 1, 1), []byte("a"), []byte{0}, uv(0)), false},
		{"posting of no slot", cat(uv(1), slot(2), uv(1, 1), []byte("a"), []byte{0}, uv(1, 1<<slotShift|2<<kindShift), uv(0)), false},
		{"posting of another kind", cat(uv(1), slot(2), uv(1, 1), []byte("a"), []byte{0}, uv(1, 1<<kindShift), uv(0)), false},
		{"postings not increasing", cat(uv(1), slot(2), uv(1, 1), []byte("a"), []byte{0}, uv(2, 2<<kindShift, 0), uv(0)), false},
		{"postings beyond the bytes", cat(uv(1), slot(2), uv(1, 1), []byte("a"), []byte{0}, uv(1000)), false},
		{"trailing bytes", cat(uv(1), slot(2), uv(0), uv(0), []byte{7}), false},
		{"truncated", cat(uv(1), slot(2), uv(1)), false},
	} {
		_, err := parseSnapshotBody(c.body)
		if c.ok && err != nil || !c.ok && !errors.Is(err, ErrBadSnapshot) {
			t.Errorf("%s: %v", c.name, err)
		}
		if _, err := parseSnapshot(frame(c.body)); c.ok != (err == nil) {
			t.Errorf("%s framed: %v", c.name, err)
		}
	}
}

// FuzzSnapshot parses an arbitrary snapshot body (correctly framed, so
// that the parser, not the checksum, meets it) and, when it parses, opens
// the fixture's stored entries with it as OpenIndex does: nothing panics,
// and the index holds every entry and answers queries.
func FuzzSnapshot(f *testing.F) {
	ctx := context.Background()
	st := store.NewMemory()
	seed, err := OpenIndex(ctx, st, DefaultOptions())
	if err != nil {
		f.Fatal(err)
	}
	if err := seed.Upsert(ctx, fixture...); err != nil {
		f.Fatal(err)
	}
	good, err := seed.encodeSnapshot()
	if err != nil {
		f.Fatal(err)
	}
	var entries []Entry
	var digests [][digestBytes]byte
	err = st.Iterate(ctx, entryPrefix, false, func(k, v []byte) error {
		var e Entry
		if err := entryDec.Unmarshal(v, &e); err != nil {
			return err
		}
		entries, digests = append(entries, e), append(digests, entryDigest(k, v))
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good[len(snapshotMagic)+4 : len(good)-4])
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		s, err := parseSnapshot(frame(body))
		if err != nil {
			if !errors.Is(err, ErrBadSnapshot) {
				t.Fatalf("error %v is not ErrBadSnapshot", err)
			}
			return
		}
		ix := &Index{opts: DefaultOptions().WithTermCache(0), maxEntries: MaxEntries, byKey: map[string]uint32{},
			words: newDict(), pairs: newDict(), lev: seed.lev}
		for _, e := range entries {
			ix.addSlot(e)
		}
		covered, err := ix.useSnapshot(s, digests)
		if err != nil && !errors.Is(err, ErrBadSnapshot) {
			t.Fatalf("error %v is not ErrBadSnapshot", err)
		}
		ix.tokenise(covered)
		if err := ix.rebuild(); err != nil {
			t.Fatal(err)
		}
		if ix.Len() != len(fixture) {
			t.Fatalf("%d entries", ix.Len())
		}
		answers(t, ix)
	})
}

// TestDamagedEntryLeftOut: a stored entry that does not decode no longer
// fails OpenIndex (segue search failed on the device with "decode
// entry"): it is left out, with and without a snapshot file, the other
// entries are found, and upserting its key again replaces it.
func TestDamagedEntryLeftOut(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		damage func(v []byte) []byte
	}{
		{"junk", func([]byte) []byte { return []byte{0xff, 0x01} }},
		{"truncated", func(v []byte) []byte { return v[:len(v)-1] }},
		{"empty", func([]byte) []byte { return []byte{} }},
	} {
		for _, snap := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s snapshot=%v", tc.name, snap), func(t *testing.T) {
				st := store.NewMemory()
				path := ""
				if snap {
					path = filepath.Join(t.TempDir(), "search.snap")
				}
				open := func() *Index {
					t.Helper()
					ix, err := OpenIndex(ctx, st, DefaultOptions().WithSnapshot(path).WithLogger(quiet()))
					if err != nil {
						t.Fatalf("open: %v", err)
					}
					return ix
				}
				if err := open().Upsert(ctx, fixture...); err != nil {
					t.Fatal(err)
				}
				damaged := fixture[0]
				key := append(bytes.Clone(entryPrefix), damaged.Key()...)
				v, err := st.Get(ctx, key)
				if err != nil {
					t.Fatal(err)
				}
				if err := st.Set(ctx, key, tc.damage(v)); err != nil {
					t.Fatal(err)
				}
				ix := open()
				if ix.Len() != len(fixture)-1 {
					t.Fatalf("%d entries loaded, want %d", ix.Len(), len(fixture)-1)
				}
				if f := find(t, ix, fixture[1].Title); len(f) == 0 {
					t.Fatalf("%q not found with another entry damaged", fixture[1].Title)
				}
				if err := ix.Upsert(ctx, damaged); err != nil {
					t.Fatal(err)
				}
				if ix = open(); ix.Len() != len(fixture) {
					t.Fatalf("after upserting the damaged entry again: %d entries, want %d", ix.Len(), len(fixture))
				}
			})
		}
	}
}

package search

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/segue-fm/segue/internal/catalogen"
	"github.com/segue-fm/segue/internal/cputime"
	"github.com/segue-fm/segue/server/metadata"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/badgerstore"
)

// BenchmarkImportReopen measures a catalog metadata import of a
// generated catalog (SEGUE_SEARCH_REOPEN_TRACKS tracks, default 20,000)
// into Badger, as `segue catalog import --data` runs it, and then how
// long a relay restart takes to open the index over it (OpenIndex: read
// every stored entry, rebuild postings and the FST).
func BenchmarkImportReopen(b *testing.B) {
	n := 20_000
	if s := os.Getenv("SEGUE_SEARCH_REOPEN_TRACKS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 100 {
			b.Fatalf("SEGUE_SEARCH_REOPEN_TRACKS=%q: want a number ≥ 100", s)
		}
		n = v
	}
	ctx := context.Background()
	dir := b.TempDir()
	file := filepath.Join(dir, "catalog.jsonl")
	f, err := os.Create(file)
	if err != nil {
		b.Fatal(err)
	}
	c := catalogen.Generate(1, n)
	if err := catalogen.WriteJSONL(ctx, f, c); err != nil {
		b.Fatal(err)
	}
	f.Close()
	st, err := badgerstore.Open(ctx, filepath.Join(dir, "db"), badgerstore.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	rep, err := NewStoreImporter(st, metadata.DefaultOptions().WithLogger(slog.New(slog.DiscardHandler))).ImportFile(ctx, file)
	if err != nil {
		b.Fatal(err)
	}
	imported := time.Since(start)
	b.Logf("imported %d artists, %d albums, %d tracks in %v (VmRSS %s)", rep.Artists, rep.Albums, rep.Tracks, imported.Round(time.Millisecond), vmRSS())
	b.ReportMetric(imported.Seconds(), "import-s")
	for b.Loop() {
		start := time.Now()
		ix, err := OpenIndex(ctx, st, DefaultOptions())
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(start).Seconds(), "open-s")
		if ix.Len() != rep.Artists+rep.Albums+rep.Tracks {
			b.Fatalf("%d entries", ix.Len())
		}
	}
}

// BenchmarkRestart measures a relay restart's index open over a Badger
// store of a generated catalog (SEGUE_SEARCH_RESTART_TRACKS tracks,
// default 20,000; the entries written directly, not through an import):
// without a snapshot (tokenise every entry), the first open with a
// snapshot file (tokenise every entry, then write the file) and, each
// iteration, a reopen from the snapshot (tokenise none).
func BenchmarkRestart(b *testing.B) {
	n := 20_000
	if s := os.Getenv("SEGUE_SEARCH_RESTART_TRACKS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 100 {
			b.Fatalf("SEGUE_SEARCH_RESTART_TRACKS=%q: want a number ≥ 100", s)
		}
		n = v
	}
	ctx := context.Background()
	dir := b.TempDir()
	st, err := badgerstore.Open(ctx, filepath.Join(dir, "db"), badgerstore.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	entries := catalogEntries(catalogen.Generate(1, n))
	for len(entries) > 0 {
		chunk := entries[:min(len(entries), 5000)]
		entries = entries[len(chunk):]
		err := st.Update(ctx, func(tx store.Txn) error {
			for _, e := range chunk {
				v, err := e.Encode()
				if err != nil {
					return err
				}
				if err := tx.Set(e.StoreKey(), v); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	open := func(what string, opts Options) *Index {
		runtime.GC()
		cpu0, _ := cputime.Process()
		start := time.Now()
		ix, err := OpenIndex(ctx, st, opts.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			b.Fatal(err)
		}
		wall := time.Since(start)
		cpu, _ := cputime.Process()
		b.Logf("%s: %d entries in %v wall, %v CPU (VmRSS %s)", what, ix.Len(), wall.Round(time.Millisecond), (cpu - cpu0).Round(time.Millisecond), vmRSS())
		return ix
	}
	open("open without a snapshot (tokenise all)", DefaultOptions())
	snap := filepath.Join(dir, SnapshotFile)
	open("first open with a snapshot file (tokenise all, write the file)", DefaultOptions().WithSnapshot(snap))
	if fi, err := os.Stat(snap); err != nil {
		b.Fatal(err)
	} else {
		b.Logf("snapshot file: %d bytes", fi.Size())
	}
	for b.Loop() {
		start := time.Now()
		open("reopen from the snapshot", DefaultOptions().WithSnapshot(snap))
		b.ReportMetric(time.Since(start).Seconds(), "open-s")
	}
}

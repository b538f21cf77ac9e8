package search

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/segue-fm/segue/internal/catalogen"
	"github.com/segue-fm/segue/server/metadata"
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
	if err := catalogen.WriteJSONL(f, c); err != nil {
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

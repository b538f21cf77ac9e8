package access_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/segue-fm/segue/server/access"
	"github.com/segue-fm/segue/store/badgerstore"
)

// prunable returns a writer, reader and pruner per backend, on real
// Badger and real files in temp dirs.
func prunable(t *testing.T) map[string]func() (access.Writer, access.Reader, access.Pruner) {
	opts := access.DefaultOptions().WithFlushInterval(time.Hour)
	return map[string]func() (access.Writer, access.Reader, access.Pruner){
		"badger": func() (access.Writer, access.Reader, access.Pruner) {
			st, err := badgerstore.Open(context.Background(), t.TempDir(), badgerstore.DefaultOptions())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return access.NewStoreWriter(st, opts), access.NewStoreReader(st), access.NewStorePruner(st)
		},
		"file": func() (access.Writer, access.Reader, access.Pruner) {
			dir := t.TempDir()
			w, err := access.NewFileWriter(dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			return w, access.NewFileReader(dir), access.NewFilePruner(dir)
		},
	}
}

// TestPrune: retention deletes whole UTC days that ended before the
// cut, day by day whatever their size (12,000 records in one day, more
// than one store transaction), keeps the rest exactly, and from then on
// a scan reaching before the first kept day fails with ErrPruned rather
// than reading nothing there (reconciliation would call every stream of
// it unbacked). The first kept day never moves back.
func TestPrune(t *testing.T) {
	ctx := context.Background()
	for name, open := range prunable(t) {
		t.Run(name, func(t *testing.T) {
			w, r, p := open()
			defer w.Close()
			perDay := map[int]int{-5: 12_000, -4: 3, -3: 5, -2: 7, -1: 11, 0: 13}
			for d, n := range perDay {
				for i := range n {
					at := day.AddDate(0, 0, d).Add(time.Duration(i) * 7 * time.Second)
					if err := w.Write(chunkRec("a", at, uint32(i))); err != nil {
						t.Fatal(err)
					}
				}
				if err := w.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			}
			n, err := p.Prune(ctx, day.AddDate(0, 0, -2).Add(12*time.Hour))
			if err != nil || n != 3 {
				t.Fatalf("Prune = %d, %v; want the 3 days before day-2", n, err)
			}
			from := day.AddDate(0, 0, -2)
			if got := len(scanAll(t, r, from, day.AddDate(0, 0, 1))); got != 7+11+13 {
				t.Fatalf("kept days hold %d records, want %d", got, 7+11+13)
			}
			err = r.Scan(ctx, from.Add(-time.Millisecond), from, func(access.Record) error { return nil })
			if !errors.Is(err, access.ErrPruned) {
				t.Fatalf("scan from before the first kept day: %v, want ErrPruned", err)
			}
			if n, err := p.Prune(ctx, day.AddDate(0, 0, -2).Add(23*time.Hour)); err != nil || n != 0 {
				t.Fatalf("second Prune = %d, %v; want nothing more", n, err)
			}
			if n, err := p.Prune(ctx, day.AddDate(0, 0, -9)); err != nil || n != 0 {
				t.Fatalf("Prune with an earlier cut = %d, %v", n, err)
			}
			err = r.Scan(ctx, day.AddDate(0, 0, -3), from, func(access.Record) error { return nil })
			if !errors.Is(err, access.ErrPruned) {
				t.Fatalf("an earlier cut moved the first kept day back: %v", err)
			}
			// Records written after the prune land as before.
			if err := w.Write(chunkRec("b", day.Add(time.Hour), 1)); err != nil {
				t.Fatal(err)
			}
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if got := len(scanAll(t, r, day, day.AddDate(0, 0, 1))); got != 14 {
				t.Fatalf("day after the prune holds %d records, want 14", got)
			}
		})
	}
}

// TestPruneFileKeepsOtherFiles: the file pruner removes only the day
// files it names, and a damaged first-kept-day file is ErrCorrupt, not
// a scan of nothing.
func TestPruneFileKeepsOtherFiles(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, name := range []string{"access-2026-11-01.log", "access-2026-12-01.log", "access-notaday.log", "notes.txt"} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := access.NewFilePruner(dir).Prune(ctx, day); err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v; want 1 day file", n, err)
	}
	for name, want := range map[string]bool{"access-2026-11-01.log": false, "access-2026-12-01.log": true, "access-notaday.log": true, "notes.txt": true} {
		if _, err := os.Stat(filepath.Join(dir, name)); (err == nil) != want {
			t.Errorf("%s: kept %v, want %v", name, err == nil, want)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "pruned-before"), []byte("yesterday"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := access.NewFileReader(dir).Scan(ctx, day, day.AddDate(0, 0, 1), func(access.Record) error { return nil })
	if !errors.Is(err, access.ErrCorrupt) {
		t.Fatalf("scan with a damaged pruned-before: %v, want ErrCorrupt", err)
	}
}

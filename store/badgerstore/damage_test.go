package badgerstore_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segue-fm/segue/internal/dirhash"
	"github.com/segue-fm/segue/store/badgerstore"
)

// filledStore writes enough to a fresh store that closing it leaves table
// files, and returns its directory.
func filledStore(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	s := open(t, dir, quiet())
	for i := range 200 {
		if err := s.Set(t.Context(), fmt.Appendf(nil, "k/%04d", i), make([]byte, 512)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// firstTable returns the name of a table file in dir.
func firstTable(t *testing.T, dir string) string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	if err != nil || len(m) == 0 {
		t.Fatalf("no table file in %s (%v)", dir, err)
	}
	return filepath.Base(m[0])
}

func truncateHalf(t *testing.T, path string) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, st.Size()/2); err != nil {
		t.Fatal(err)
	}
}

// TestOpenRefusesDamage damages a real on-disk store in the ways that made
// Badger start empty or panic, and checks Open refuses with ErrDamaged
// naming the file and leaves every byte of the directory as it was.
func TestOpenRefusesDamage(t *testing.T) {
	cases := []struct {
		name   string
		strict bool
		damage func(t *testing.T, dir string) (file string)
	}{
		{"missing MANIFEST", false, func(t *testing.T, dir string) string {
			if err := os.Remove(filepath.Join(dir, "MANIFEST")); err != nil {
				t.Fatal(err)
			}
			return "MANIFEST"
		}},
		{"MANIFEST cut to its header", false, func(t *testing.T, dir string) string {
			if err := os.Truncate(filepath.Join(dir, "MANIFEST"), 8); err != nil {
				t.Fatal(err)
			}
			return ".sst"
		}},
		{"empty MANIFEST", false, func(t *testing.T, dir string) string {
			if err := os.Truncate(filepath.Join(dir, "MANIFEST"), 0); err != nil {
				t.Fatal(err)
			}
			return "MANIFEST"
		}},
		{"MANIFEST partial record, strict", true, func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "MANIFEST")
			st, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(p, st.Size()-3); err != nil {
				t.Fatal(err)
			}
			return "MANIFEST"
		}},
		{"truncated table", false, func(t *testing.T, dir string) string {
			name := firstTable(t, dir)
			truncateHalf(t, filepath.Join(dir, name))
			return name
		}},
		{"garbage table", false, func(t *testing.T, dir string) string {
			name := firstTable(t, dir)
			p := filepath.Join(dir, name)
			st, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(strings.Repeat("x", int(st.Size()))), 0o600); err != nil {
				t.Fatal(err)
			}
			return name
		}},
		{"missing table", false, func(t *testing.T, dir string) string {
			name := firstTable(t, dir)
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
			return name
		}},
		{"unlisted table, strict", true, func(t *testing.T, dir string) string {
			name := firstTable(t, dir)
			b, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "999999.sst"), b, 0o600); err != nil {
				t.Fatal(err)
			}
			return "999999.sst"
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filledStore(t)
			file := tc.damage(t, dir)
			before, err := dirhash.Sum(dir)
			if err != nil {
				t.Fatal(err)
			}
			s, err := badgerstore.Open(t.Context(), dir, quiet().WithStrict(tc.strict))
			if err == nil {
				s.Close()
				t.Fatal("damaged store opened")
			}
			if !errors.Is(err, badgerstore.ErrDamaged) || !strings.Contains(err.Error(), file) {
				t.Fatalf("err = %v, want ErrDamaged naming %s", err, file)
			}
			after, err := dirhash.Sum(dir)
			if err != nil {
				t.Fatal(err)
			}
			if before != after {
				t.Fatal("the refused open changed the directory")
			}
		})
	}
}

// TestOpenStrictAcceptsIntact checks the strict checks pass an intact
// store (closed cleanly, reopened several times) and keep its data.
func TestOpenStrictAcceptsIntact(t *testing.T) {
	dir := filledStore(t)
	for range 3 {
		s := open(t, dir, quiet().WithStrict(true))
		v, err := s.Get(t.Context(), []byte("k/0199"))
		if err != nil || len(v) != 512 {
			t.Fatalf("get after reopen: %d bytes, %v", len(v), err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, quiet())
	defer s.Close()
	_, err := badgerstore.Open(t.Context(), dir, quiet())
	if !errors.Is(err, badgerstore.ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
}

// TestZeroLengthValueLog: a kill -9 while Badger creates a value-log file
// (at open or when one fills) can leave it empty, without its header.
// The next open used to fail ("During db.vlog.open err: Open existing
// file ... err: Create a new file"; the open after that worked); it now
// opens at once with every key.
func TestZeroLengthValueLog(t *testing.T) {
	for _, newest := range []bool{true, false} {
		t.Run(fmt.Sprintf("newest=%v", newest), func(t *testing.T) {
			dir := filledStore(t)
			logs, err := filepath.Glob(filepath.Join(dir, "*.vlog"))
			if err != nil || len(logs) == 0 {
				t.Fatalf("no value log in %s (%v)", dir, err)
			}
			var maxFid int
			for _, l := range logs {
				var fid int
				fmt.Sscanf(filepath.Base(l), "%06d.vlog", &fid)
				maxFid = max(maxFid, fid)
			}
			fid := maxFid + 1
			if !newest {
				fid = 0 // below every other: not the one Badger appends to
			}
			empty := filepath.Join(dir, fmt.Sprintf("%06d.vlog", fid))
			if err := os.WriteFile(empty, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := badgerstore.Open(t.Context(), dir, quiet())
			if err != nil {
				t.Fatalf("open with an empty value log: %v", err)
			}
			for i := range 200 {
				if _, err := s.Get(t.Context(), fmt.Appendf(nil, "k/%04d", i)); err != nil {
					t.Fatalf("k/%04d: %v", i, err)
				}
			}
			if err := s.Set(t.Context(), []byte("after"), make([]byte, 2<<20)); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open(t, dir, quiet())
			defer s.Close()
			if v, err := s.Get(t.Context(), []byte("after")); err != nil || len(v) != 2<<20 {
				t.Fatalf("value written after the repair: %d bytes, %v", len(v), err)
			}
		})
	}
}

// TestZeroLengthMemtable: the same for a memtable's write-ahead log: a
// kill -9 while Badger created one (at open, or a spare) can leave it
// empty; the next open failed ("while opening memtables err: while
// opening fid: 1 err: Create a new file") and now opens with every key.
func TestZeroLengthMemtable(t *testing.T) {
	dir := filledStore(t)
	if err := os.WriteFile(filepath.Join(dir, "00009.mem"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := badgerstore.Open(t.Context(), dir, quiet())
	if err != nil {
		t.Fatalf("open with an empty memtable file: %v", err)
	}
	defer s.Close()
	for i := range 200 {
		if _, err := s.Get(t.Context(), fmt.Appendf(nil, "k/%04d", i)); err != nil {
			t.Fatalf("k/%04d: %v", i, err)
		}
	}
	if err := s.Set(t.Context(), []byte("after"), []byte("v")); err != nil {
		t.Fatal(err)
	}
}

// TestBadgerLogsThroughSlog: Badger's errors and warnings go to the
// logger of WithLogger (Open replaced it with Badger's own stderr logger:
// a damaged store printed "badger 2026/… ERROR: Received err: …" beside
// the app's log), and its info chatter is dropped.
func TestBadgerLogsThroughSlog(t *testing.T) {
	dir := filledStore(t)
	if err := os.Truncate(filepath.Join(dir, "KEYREGISTRY"), 3); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if _, err := badgerstore.Open(t.Context(), dir, badgerstore.DefaultOptions().WithLogger(log)); err == nil {
		t.Fatal("open with a truncated key registry succeeded")
	}
	if !strings.Contains(buf.String(), "level=ERROR") || !strings.Contains(buf.String(), "Received err") {
		t.Fatalf("Badger's error not logged through slog:\n%s", buf.String())
	}
	buf.Reset()
	s := open(t, t.TempDir(), badgerstore.DefaultOptions().WithLogger(log))
	s.Close()
	if strings.Contains(buf.String(), "level=INFO") || strings.Contains(buf.String(), "level=DEBUG") {
		t.Fatalf("Badger's info chatter logged:\n%s", buf.String())
	}
}

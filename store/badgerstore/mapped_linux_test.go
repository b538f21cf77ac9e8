package badgerstore_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/badgerstore"
)

// tableRSS returns the resident bytes of the process's mappings of the
// .sst files under dir (the Rss lines of /proc/self/smaps).
func tableRSS(t *testing.T, dir string) int {
	t.Helper()
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	total, in := 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			in = len(fields) == 6 && strings.HasPrefix(fields[5], dir) && strings.HasSuffix(fields[5], ".sst")
			continue
		}
		if in && len(fields) == 3 && fields[0] == "Rss:" {
			kb, err := strconv.Atoi(fields[1])
			if err != nil {
				t.Fatal(err)
			}
			total += kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return total
}

// TestReadsLeaveTablesUnmapped: reading a reopened store through (24 MiB
// of incompressible values in several tables) leaves less than a tenth of
// its tables resident in the process's mappings of them (what is left is
// their indices and Bloom filters), and every value reads back whole,
// twice. Badger upstream reads blocks through the mapping and left all of
// it resident (25,100,288 of ≈ 25 MB; the segue fork reads blocks with
// pread, third_party/badger/FORK.md).
func TestReadsLeaveTablesUnmapped(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	opts := badgerstore.DefaultOptions().WithMemTableSize(badgerstore.MinMemTableSize).WithCacheSizes(1<<20, 0)
	s, err := badgerstore.Open(ctx, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	const n, size = 6000, 4 << 10
	want := make(map[string][]byte, n)
	for i := 0; i < n; i += 100 {
		if err := s.Update(ctx, func(tx store.Txn) error {
			for j := i; j < i+100; j++ {
				v := make([]byte, size)
				rand.Read(v)
				k := fmt.Sprintf("k%06d", j)
				want[k] = v
				if err := tx.Set([]byte(k), v); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = badgerstore.Open(ctx, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for pass := range 2 {
		seen := 0
		if err := s.Iterate(ctx, []byte("k"), false, func(k, v []byte) error {
			if !bytes.Equal(v, want[string(k)]) {
				return fmt.Errorf("%s: value differs", k)
			}
			seen++
			return nil
		}); err != nil {
			t.Fatalf("pass %d: %v", pass, err)
		}
		if seen != n {
			t.Fatalf("pass %d: read %d values, want %d", pass, seen, n)
		}
	}
	tables := tableBytes(t, dir)
	if tables < n*size {
		t.Fatalf("tables hold %d bytes, want ≥ %d (the values are not in tables)", tables, n*size)
	}
	rss := tableRSS(t, dir)
	t.Logf("tables of %d bytes: %d resident after reading them through", tables, rss)
	if rss > tables/10 {
		t.Fatalf("reading the store through left %d of its tables' %d bytes resident", rss, tables)
	}
}

// tableBytes returns the size of the .sst files in dir.
func tableBytes(t *testing.T, dir string) int {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.sst"))
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, name := range names {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		total += int(fi.Size())
	}
	return total
}

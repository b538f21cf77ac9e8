package badgerstore_test

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/badgerstore"
)

// blockRecords is how many records damagedTableStore writes.
const blockRecords = 300

// recordValue is the value damagedTableStore stores under record i:
// 300 bytes that compress badly, so the table spans many blocks.
func recordValue(i int) []byte {
	var v []byte
	for j := 0; len(v) < 300; j++ {
		h := sha256.Sum256(fmt.Appendf(nil, "%d/%d", i, j))
		v = append(v, h[:]...)
	}
	return v
}

func recordKey(i int) []byte { return fmt.Appendf(nil, "r/%05d", i) }

// TestReadsOfDamagedTableBlocks damages a table file of a closed store
// (bytes zeroed or one flipped, at offsets across its blocks) and checks
// every read of the reopened store either answers exactly what was
// written or fails with ErrDamaged: Badger verified no block checksums
// and read a block it could not decode as the end of its table, so Get
// returned other bytes or ErrNotFound and iterations ended early, all
// without an error; a damaged entry count panicked.
func TestReadsOfDamagedTableBlocks(t *testing.T) {
	src := t.TempDir()
	s := open(t, src, quiet())
	if err := s.Update(t.Context(), func(tx store.Txn) error {
		for i := range blockRecords {
			if err := tx.Set(recordKey(i), recordValue(i)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	table := firstTable(t, src)
	orig, err := os.ReadFile(filepath.Join(src, table))
	if err != nil {
		t.Fatal(err)
	}
	damages := []struct {
		name string
		do   func(b []byte, off int)
	}{
		{"zeroed", func(b []byte, off int) { clear(b[off:min(off+64, len(b))]) }},
		{"flipped", func(b []byte, off int) { b[off] ^= 0x10 }},
	}
	// The table's blocks take most of the file, its index the end.
	step := len(orig) / 23
	for _, d := range damages {
		for off := 7; off < len(orig)*9/10; off += step {
			t.Run(fmt.Sprintf("%s@%d", d.name, off), func(t *testing.T) {
				dir := t.TempDir()
				copyDir(t, src, dir)
				b := bytes.Clone(orig)
				d.do(b, off)
				if err := os.WriteFile(filepath.Join(dir, table), b, 0o644); err != nil {
					t.Fatal(err)
				}
				s, err := badgerstore.Open(t.Context(), dir, quiet())
				if errors.Is(err, badgerstore.ErrDamaged) {
					return // the damage reached the table's index: Open refuses it
				}
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				damaged := checkReads(t, s)
				if !damaged {
					t.Errorf("no read reported the damage at byte %d", off)
				}
				// Badger compacts the damaged table never (it would drop
				// the keys after the block): its level 0 fills until
				// writes stall for ever, so the store takes no more.
				if err := s.Set(t.Context(), []byte("w/after"), []byte("v")); !errors.Is(err, badgerstore.ErrDamaged) {
					t.Errorf("a write after the damage was found: %v, want ErrDamaged", err)
				}
			})
		}
	}
}

// checkReads reads every record of s through Get, Iterate (both ways),
// IterateFrom and a transaction, failing t on any answer that is neither
// what was written nor ErrDamaged; it reports whether one was ErrDamaged.
func checkReads(t *testing.T, s *badgerstore.Store) bool {
	t.Helper()
	ctx := t.Context()
	damaged := false
	verdict := func(what string, err error) {
		t.Helper()
		switch {
		case errors.Is(err, badgerstore.ErrDamaged):
			damaged = true
		case err != nil:
			t.Errorf("%s: %v, want nil or ErrDamaged", what, err)
		}
	}
	for i := range blockRecords {
		v, err := s.Get(ctx, recordKey(i))
		if err == nil && !bytes.Equal(v, recordValue(i)) {
			t.Fatalf("Get(%s) returned other bytes than written, without an error", recordKey(i))
		}
		verdict(fmt.Sprintf("Get(%s)", recordKey(i)), err)
	}
	scan := func(what string, reverse bool, run func(fn func(k, v []byte) error) error) {
		t.Helper()
		seen := 0
		err := run(func(k, v []byte) error {
			var i int
			if _, err := fmt.Sscanf(string(k), "r/%05d", &i); err != nil || !bytes.Equal(v, recordValue(i)) {
				return fmt.Errorf("%s: key %q with other bytes than written", what, k)
			}
			seen++
			return nil
		})
		if err == nil && seen != blockRecords {
			t.Errorf("%s: %d of %d records, without an error", what, seen, blockRecords)
		}
		verdict(what, err)
	}
	scan("Iterate", false, func(fn func(k, v []byte) error) error { return s.Iterate(ctx, []byte("r/"), false, fn) })
	scan("Iterate reverse", true, func(fn func(k, v []byte) error) error { return s.Iterate(ctx, []byte("r/"), true, fn) })
	scan("IterateFrom", false, func(fn func(k, v []byte) error) error {
		return s.IterateFrom(ctx, []byte("r/"), []byte("r/"), fn)
	})
	scan("Txn.Iterate", false, func(fn func(k, v []byte) error) error {
		return s.Update(ctx, func(tx store.Txn) error { return tx.Iterate([]byte("r/"), false, fn) })
	})
	return damaged
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// BenchmarkReadTables measures reads served from table files with a
// block cache too small to keep a block (1 byte), so each read loads,
// decompresses and (since block checksums are verified) checks its
// blocks: Get of a random record out of 20,000 and a scan of all of them.
func BenchmarkReadTables(b *testing.B) {
	const n = 20000
	dir := b.TempDir()
	s, err := badgerstore.Open(b.Context(), dir, quiet())
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i += 1000 {
		if err := s.Update(b.Context(), func(tx store.Txn) error {
			for j := i; j < i+1000; j++ {
				if err := tx.Set(recordKey(j), recordValue(j)); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	s, err = badgerstore.Open(b.Context(), dir, quiet().WithCacheSizes(1, 0))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.Run("get", func(b *testing.B) {
		i := 0
		for b.Loop() {
			i = (i + 7919) % n
			if _, err := s.Get(b.Context(), recordKey(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("scan", func(b *testing.B) {
		for b.Loop() {
			seen := 0
			if err := s.Iterate(b.Context(), []byte("r/"), false, func(k, v []byte) error { seen++; return nil }); err != nil {
				b.Fatal(err)
			}
			if seen != n {
				b.Fatalf("scanned %d of %d", seen, n)
			}
		}
	})
}

// TestReadDamagedValueLog flips a byte inside a value Badger keeps in
// its value log (over 1 MiB): Badger verified no value checksum, so Get
// and Iterate returned the changed bytes without an error. Both must
// fail with ErrDamaged.
func TestReadDamagedValueLog(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, quiet())
	big := bytes.Repeat([]byte("segue value log "), 2<<20/16)
	if err := s.Set(t.Context(), []byte("v/big"), big); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	logs, err := filepath.Glob(filepath.Join(dir, "*.vlog"))
	if err != nil {
		t.Fatal(err)
	}
	flipped := false
	for _, path := range logs {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(b, big[:64]); i >= 0 {
			b[i+len(big)/2] ^= 0x20
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			flipped = true
		}
	}
	if !flipped {
		t.Fatal("the value is in no value-log file")
	}
	s = open(t, dir, quiet())
	defer s.Close()
	if v, err := s.Get(t.Context(), []byte("v/big")); !errors.Is(err, badgerstore.ErrDamaged) {
		t.Errorf("Get: %d bytes (equal: %v), %v; want ErrDamaged", len(v), bytes.Equal(v, big), err)
	}
	err = s.Iterate(t.Context(), []byte("v/"), false, func(k, v []byte) error { return nil })
	if !errors.Is(err, badgerstore.ErrDamaged) {
		t.Errorf("Iterate: %v, want ErrDamaged", err)
	}
}

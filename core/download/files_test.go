package download

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"
)

// TestBlobFilesLayout checks the flat layout (DIR/<hex>), that list
// moves blob files of the earlier fan-out layout (DIR/ab/cdef…) into it,
// removes temp files, and ignores names that are not blob names.
func TestBlobFilesLayout(t *testing.T) {
	dir := t.TempDir()
	f, err := newBlobFiles(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	flat := sha256.Sum256([]byte("flat"))
	old := sha256.Sum256([]byte("fan-out"))
	if got, want := f.path(flat), filepath.Join(dir, hex.EncodeToString(flat[:])); got != want {
		t.Fatalf("path %s, want %s", got, want)
	}
	x := hex.EncodeToString(old[:])
	write := func(p string, n int) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, n), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(f.path(flat), 3)
	write(filepath.Join(dir, x[:2], x[2:]), 5)
	write(filepath.Join(dir, x[:2], "not-a-blob"), 1)
	write(filepath.Join(dir, "ABCDEF"+x[6:]), 1) // uppercase: not a blob name
	write(filepath.Join(dir, tmpDir, "blob-1"), 7)

	got, err := f.list()
	if err != nil {
		t.Fatal(err)
	}
	want := map[[32]byte]int64{flat: 3, old: 5}
	if len(got) != len(want) || got[flat] != 3 || got[old] != 5 {
		t.Fatalf("list = %v, want %v", got, want)
	}
	if _, err := os.Stat(f.path(old)); err != nil {
		t.Fatalf("fan-out blob not moved: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, x[:2], "not-a-blob")); err != nil {
		t.Fatalf("a foreign file was touched: %v", err)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, tmpDir)); len(ents) != 0 {
		t.Fatalf("%d temp files left", len(ents))
	}
}

// FuzzBlobName feeds arbitrary directory entry names to the blob name
// parser: it must never panic, and must accept exactly the 64-digit
// lowercase hex names, mapping them back to themselves.
func FuzzBlobName(f *testing.F) {
	h := sha256.Sum256([]byte("seed"))
	f.Add(hex.EncodeToString(h[:]))
	f.Add("tmp")
	f.Add("ab")
	f.Add("ABCDEF" + hex.EncodeToString(h[:])[6:])
	f.Fuzz(func(t *testing.T, name string) {
		got, ok := blobName(name)
		if ok != (len(name) == 64 && hex.EncodeToString(got[:]) == name) {
			t.Fatalf("blobName(%q) = %x, %v", name, got, ok)
		}
	})
}

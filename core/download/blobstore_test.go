package download

import (
	"context"
	"crypto/sha256"
	"testing"

	"github.com/segue-fm/segue/store"
)

// TestBlobStoreBackend: with a blob store, a blob written, installed,
// read, listed (sizes from the size records; a malformed one is -1) and
// removed lives only in the store, and both or neither of its keys exist.
func TestBlobStoreBackend(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	if _, err := newBlobFiles(t.TempDir(), st); err == nil {
		t.Fatal("a directory and a store were both accepted")
	}
	if _, err := newBlobFiles("", nil); err == nil {
		t.Fatal("neither a directory nor a store was accepted")
	}
	f, err := newBlobFiles("", st)
	if err != nil {
		t.Fatal(err)
	}
	tmp, err := f.create()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tmp.Write([]byte("garbage")); err != nil {
		t.Fatal(err)
	}
	if err := tmp.reset(); err != nil {
		t.Fatal(err)
	}
	body := []byte("encrypted blob bytes")
	if _, err := tmp.Write(body[:5]); err != nil {
		t.Fatal(err)
	}
	if _, err := tmp.Write(body[5:]); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(body)
	if tmp.sum() != h || tmp.n != int64(len(body)) {
		t.Fatalf("hash or length of the written bytes wrong (n=%d)", tmp.n)
	}
	if err := tmp.finish(); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := f.read(h); ok {
		t.Fatal("read before install")
	}
	if err := f.install(tmp, h); err != nil {
		t.Fatal(err)
	}
	if err := f.sync(); err != nil {
		t.Fatal(err)
	}
	got, ok, err := f.read(h)
	if err != nil || !ok || string(got) != string(body) {
		t.Fatalf("read = %q, %v, %v", got, ok, err)
	}
	bad := sha256.Sum256([]byte("bad size record"))
	if err := st.Set(ctx, storeSizeKey(bad), []byte{1}); err != nil {
		t.Fatal(err)
	}
	if err := st.Set(ctx, []byte(pBlobSize+"not-hex"), []byte{0, 0, 0, 0, 0, 0, 0, 1}); err != nil {
		t.Fatal(err)
	}
	list, err := f.list()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[h] != int64(len(body)) || list[bad] != -1 {
		t.Fatalf("list = %v", list)
	}
	for _, x := range [][32]byte{h, bad} {
		if err := f.remove(x); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.remove(h); err != nil {
		t.Fatalf("removing a missing blob: %v", err)
	}
	n := 0
	if err := st.Iterate(ctx, []byte("dl/b"), false, func(_, _ []byte) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 1 { // the foreign "not-hex" record, which list ignored
		t.Fatalf("%d blob keys left after remove, want 1", n)
	}
	discarded, _ := f.create()
	discarded.Write(body)
	discarded.discard()
	if discarded.buf != nil {
		t.Fatal("discard kept the bytes")
	}
}

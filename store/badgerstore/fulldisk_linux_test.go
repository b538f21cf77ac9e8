package badgerstore_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/segue-fm/segue/internal/testtool"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/badgerstore"
)

// TestFullDiskWhileOpen fills the file system under an open store (a
// real 64 MiB ext4 mounted on a loop device) and then commits until a
// commit fails: small values (the memtable's write-ahead log) and values
// over Badger's value threshold (the value log). Badger writes both
// through memory maps of sparse files, and a write there that found the
// disk full killed the process with SIGBUS (the relay died so); now the
// commit fails with ErrNoSpace, stores none of its keys, reads go on,
// commits succeed again once the space is back, and a reopened store
// holds every acknowledged key.
func TestFullDiskWhileOpen(t *testing.T) {
	for _, tc := range []struct {
		name            string
		keys, valueSize int
	}{
		{"write-ahead log", 64, 4 << 10},
		{"value log", 2, 3 << 19},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			mnt := testtool.SmallFS(t, 64)
			dir := filepath.Join(mnt, "db")
			opts := quiet().WithMemTableSize(badgerstore.MinMemTableSize)
			s := open(t, dir, opts)
			t.Cleanup(func() { s.Close() })
			value := func(txn, i int) []byte {
				v := make([]byte, tc.valueSize)
				copy(v, fmt.Sprintf("%d/%d", txn, i))
				return v
			}
			commit := func(txn int) error {
				return s.Update(ctx, func(tx store.Txn) error {
					for i := range tc.keys {
						if err := tx.Set(store.Key("k", store.U64(uint64(txn)), store.U64(uint64(i))), value(txn, i)); err != nil {
							return err
						}
					}
					return nil
				})
			}
			if err := commit(0); err != nil {
				t.Fatal(err)
			}
			fill := testtool.Fill(t, mnt)
			// Cleanups run last first: the space is back before Close,
			// which flushes the memtable.
			t.Cleanup(func() { os.Remove(fill) })
			acked := 1
			var err error
			for ; acked < 1000; acked++ {
				if err = commit(acked); err != nil {
					break
				}
			}
			if !errors.Is(err, badgerstore.ErrNoSpace) {
				t.Fatalf("commit %d on a full disk: %v, want ErrNoSpace", acked, err)
			}
			t.Logf("%d commits acknowledged, then: %v", acked, err)
			failed := acked
			for i := range tc.keys {
				if _, err := s.Get(ctx, store.Key("k", store.U64(uint64(failed)), store.U64(uint64(i)))); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("key %d of the failed commit: %v, want ErrNotFound", i, err)
				}
			}
			if v, err := s.Get(ctx, store.Key("k", store.U64(0), store.U64(0))); err != nil || string(v) != string(value(0, 0)) {
				t.Fatalf("read on a full disk: %v", err)
			}
			if err := os.Remove(fill); err != nil {
				t.Fatal(err)
			}
			if err := commit(failed); err != nil {
				t.Fatalf("commit once the space is back: %v", err)
			}
			acked++
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			s = open(t, dir, opts)
			for txn := range acked {
				for i := range tc.keys {
					v, err := s.Get(ctx, store.Key("k", store.U64(uint64(txn)), store.U64(uint64(i))))
					if err != nil || string(v) != string(value(txn, i)) {
						t.Fatalf("reopened: key %d/%d: %v", txn, i, err)
					}
				}
			}
		})
	}
}

// TestCloseOnFullDisk closes a store whose memtable holds acknowledged
// commits on a full file system. Badger's Close flushes the memtable to
// a table and retried that every second for ever, so a relay stopped
// (SIGTERM) on a full disk never exited; now Close returns, the
// memtable's write-ahead log is kept, and the store opened again once
// there is room holds every commit.
func TestCloseOnFullDisk(t *testing.T) {
	ctx := t.Context()
	mnt := testtool.SmallFS(t, 64)
	dir := filepath.Join(mnt, "db")
	opts := quiet().WithMemTableSize(badgerstore.MinMemTableSize)
	s := open(t, dir, opts)
	const n = 100
	for i := range n {
		if err := s.Set(ctx, store.Key("k", store.U64(uint64(i))), []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	fill := testtool.Fill(t, mnt)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		t.Logf("Close on a full disk: %v", err)
	case <-time.After(30 * time.Second):
		os.Remove(fill) // lets Close finish
		<-closed
		t.Fatal("Close on a full disk did not return in 30 s")
	}
	if err := os.Remove(fill); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, opts)
	defer s.Close()
	for i := range n {
		if v, err := s.Get(ctx, store.Key("k", store.U64(uint64(i)))); err != nil || string(v) != fmt.Sprint(i) {
			t.Fatalf("reopened: key %d: %q %v", i, v, err)
		}
	}
}

package blobstore_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/segue-fm/segue/server/blobstore"
	"github.com/segue-fm/segue/server/blobstore/blobstoretest"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/badgerstore"
)

func TestKVMemoryConformance(t *testing.T) {
	blobstoretest.Run(t, func(*testing.T) blobstore.Store { return blobstore.NewKV(store.NewMemory()) })
}

func TestKVBadgerConformance(t *testing.T) {
	blobstoretest.Run(t, func(t *testing.T) blobstore.Store {
		s, err := badgerstore.Open(context.Background(), t.TempDir(), badgerstore.DefaultOptions())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return blobstore.NewKV(s)
	})
}

// plainStore hides the ValueSizer of the store it wraps.
type plainStore struct{ store.Store }

// TestKVWithoutValueSizer: over a store that keeps no value lengths, KV's
// Size is ErrNoSize and Has reads the blob instead: false before Put and
// after Delete, true between.
func TestKVWithoutValueSizer(t *testing.T) {
	ctx := context.Background()
	kv := blobstore.NewKV(plainStore{store.NewMemory()})
	data := []byte("a blob")
	h := sha256.Sum256(data)
	if _, err := kv.Size(ctx, h); !errors.Is(err, blobstore.ErrNoSize) {
		t.Fatalf("Size: %v, want ErrNoSize", err)
	}
	has := func(want bool) {
		t.Helper()
		if ok, err := kv.Has(ctx, h); err != nil || ok != want {
			t.Fatalf("Has: %v, %v; want %v", ok, err, want)
		}
	}
	has(false)
	if err := kv.Put(ctx, h, data); err != nil {
		t.Fatal(err)
	}
	has(true)
	if err := kv.Delete(ctx, h); err != nil {
		t.Fatal(err)
	}
	has(false)
}

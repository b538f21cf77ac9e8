package blobstore_test

import (
	"context"
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

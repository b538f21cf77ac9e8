// Package blobstoretest is the conformance suite every blobstore.Store
// backend passes: call Run from the backend's tests with a constructor of
// empty stores.
package blobstoretest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/blobstore"
)

// blob returns a deterministic blob of n bytes and its name.
func blob(seed byte, n int) ([32]byte, []byte) {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return sha256.Sum256(b), b
}

// Run checks the Store contract on stores made by open, which must
// return an empty store each time (for example a fresh bucket or prefix).
func Run(t *testing.T, open func(t *testing.T) blobstore.Store) {
	ctx := context.Background()
	t.Run("PutGetHas", func(t *testing.T) {
		s := open(t)
		for _, n := range []int{1, 1000, 1 << 20, model.MaxBlobSize} {
			h, b := blob(byte(n), n)
			if ok, err := s.Has(ctx, h); err != nil || ok {
				t.Fatalf("Has before Put: %v %v", ok, err)
			}
			if _, err := s.Get(ctx, h); !errors.Is(err, blobstore.ErrNotFound) {
				t.Fatalf("Get before Put: %v, want ErrNotFound", err)
			}
			if err := s.Put(ctx, h, b); err != nil {
				t.Fatalf("Put %d bytes: %v", n, err)
			}
			got, err := s.Get(ctx, h)
			if err != nil || !bytes.Equal(got, b) {
				t.Fatalf("Get %d bytes: %d bytes, %v", n, len(got), err)
			}
			got[0] ^= 1 // the caller owns the slice
			if again, _ := s.Get(ctx, h); !bytes.Equal(again, b) {
				t.Fatal("modifying a returned blob changed the store")
			}
			if ok, err := s.Has(ctx, h); err != nil || !ok {
				t.Fatalf("Has after Put: %v %v", ok, err)
			}
		}
	})
	t.Run("PutIdempotent", func(t *testing.T) {
		s := open(t)
		h, b := blob(1, 500)
		for range 3 {
			if err := s.Put(ctx, h, b); err != nil {
				t.Fatal(err)
			}
		}
		n := 0
		if err := s.List(ctx, func([32]byte) error { n++; return nil }); err != nil || n != 1 {
			t.Fatalf("listed %d blobs (%v), want 1", n, err)
		}
	})
	t.Run("PutRejects", func(t *testing.T) {
		s := open(t)
		h, b := blob(2, 100)
		other, _ := blob(3, 100)
		tests := []struct {
			name string
			h    [32]byte
			data []byte
			want error
		}{
			{"wrong name", other, b, blobstore.ErrHashMismatch},
			{"empty", sha256.Sum256(nil), nil, blobstore.ErrTooLarge},
			{"too large", sha256.Sum256(make([]byte, model.MaxBlobSize+1)), make([]byte, model.MaxBlobSize+1), blobstore.ErrTooLarge},
		}
		for _, tt := range tests {
			if err := s.Put(ctx, tt.h, tt.data); !errors.Is(err, tt.want) {
				t.Errorf("%s: %v, want %v", tt.name, err, tt.want)
			}
			if ok, _ := s.Has(ctx, tt.h); ok {
				t.Errorf("%s: stored after a refused Put", tt.name)
			}
		}
		if ok, _ := s.Has(ctx, h); ok {
			t.Error("the refused bytes are stored under their own name")
		}
	})
	t.Run("DeleteList", func(t *testing.T) {
		s := open(t)
		var names [][32]byte
		for i := range 20 {
			h, b := blob(byte(10+i), 64+i)
			if err := s.Put(ctx, h, b); err != nil {
				t.Fatal(err)
			}
			names = append(names, h)
		}
		for _, h := range names[:5] {
			if err := s.Delete(ctx, h); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Delete(ctx, names[0]); err != nil {
			t.Fatalf("deleting a missing blob: %v", err)
		}
		var listed [][32]byte
		if err := s.List(ctx, func(h [32]byte) error { listed = append(listed, h); return nil }); err != nil {
			t.Fatal(err)
		}
		want := slices.Clone(names[5:])
		slices.SortFunc(want, func(a, b [32]byte) int { return bytes.Compare(a[:], b[:]) })
		if !slices.Equal(listed, want) {
			t.Fatalf("listed %d blobs, want the %d not deleted in ascending order", len(listed), len(want))
		}
		stop := errors.New("stop")
		n := 0
		if err := s.List(ctx, func([32]byte) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
			t.Fatalf("List with a failing fn: %v after %d calls", err, n)
		}
		if _, err := s.Get(ctx, names[0]); !errors.Is(err, blobstore.ErrNotFound) {
			t.Fatalf("Get of a deleted blob: %v", err)
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		s := open(t)
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for i := range 16 {
			wg.Go(func() {
				h, b := blob(byte(i%4), 4096) // four blobs, each put by four writers
				if err := s.Put(ctx, h, b); err != nil {
					errs <- err
					return
				}
				got, err := s.Get(ctx, h)
				if err != nil || !bytes.Equal(got, b) {
					errs <- fmt.Errorf("read back: %d bytes, %v", len(got), err)
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
	t.Run("Cancelled", func(t *testing.T) {
		s := open(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		h, b := blob(9, 100)
		if err := s.Put(cctx, h, b); err == nil {
			if ok, _ := s.Has(ctx, h); !ok {
				t.Fatal("Put with a cancelled context returned nil but stored nothing")
			}
		}
	})
}

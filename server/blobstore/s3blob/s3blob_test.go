package s3blob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/server/blobstore"
	"github.com/segue-fm/segue/server/blobstore/blobstoretest"
	"github.com/segue-fm/segue/server/blobstore/s3blob"
	"github.com/segue-fm/segue/server/blobstore/s3blob/s3test"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/store"
)

// TestSeaweedConformance runs the blob-store conformance suite against a
// real SeaweedFS S3 gateway, each subtest under a fresh key prefix of one
// bucket (a bucket per subtest exhausts the small test server's volumes:
// SeaweedFS then answers PutObject with an internal error).
func TestSeaweedConformance(t *testing.T) {
	endpoint := s3test.Start(t)
	var n atomic.Int64
	blobstoretest.Run(t, func(t *testing.T) blobstore.Store {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := s3blob.New(ctx, s3blob.DefaultOptions(endpoint, "conformance").
			WithInsecure(true).WithCredentials(s3test.AccessKey, s3test.SecretKey).WithPrefix(fmt.Sprintf("run%d/", n.Add(1))))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
	t.Run("Catalog", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		bs, err := s3blob.New(ctx, s3blob.DefaultOptions(endpoint, "conformance").WithPrefix("catalog/").WithInsecure(true).WithCredentials(s3test.AccessKey, s3test.SecretKey))
		if err != nil {
			t.Fatal(err)
		}
		c := catalog.NewWithBlobs(store.NewMemory(), catalog.AtRestKey{1}, bs)
		data := []byte("encrypted bytes of a chunk")
		h, err := c.PutBlob(ctx, data)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := c.Blob(ctx, h); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("catalog read back %q, %v", got, err)
		}
		if ok, err := bs.Has(ctx, h); err != nil || !ok {
			t.Fatalf("the blob is not in the bucket: %v %v", ok, err)
		}
		if _, err := c.Blob(ctx, [32]byte{1}); !errors.Is(err, catalog.ErrNotFound) {
			t.Fatalf("unknown blob: %v", err)
		}
		if n, err := c.GCWith(ctx, catalog.DefaultGCOptions().WithGrace(0)); err != nil || n != 1 {
			t.Fatalf("GC of the unreferenced blob: removed %d, %v", n, err)
		}
		if ok, err := bs.Has(ctx, h); err != nil || ok {
			t.Fatalf("the collected blob is still in the bucket: %v %v", ok, err)
		}
	})
	t.Run("WrongCredentials", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := s3blob.New(ctx, s3blob.DefaultOptions(endpoint, "conformance").WithInsecure(true).WithCredentials(s3test.AccessKey, "wrong"))
		if err == nil {
			b := []byte("x")
			if err := s.Put(ctx, sha256.Sum256(b), b); err == nil {
				t.Fatal("a Put with a wrong secret succeeded")
			}
		}
	})
}

func TestNewBadOptions(t *testing.T) {
	for _, o := range []s3blob.Options{
		s3blob.DefaultOptions("", "b"),
		s3blob.DefaultOptions("http://host:9000", "b"),
		s3blob.DefaultOptions("host:9000", ""),
	} {
		if _, err := s3blob.New(context.Background(), o); !errors.Is(err, s3blob.ErrBadOptions) {
			t.Errorf("%+v: %v, want ErrBadOptions", o, err)
		}
	}
}

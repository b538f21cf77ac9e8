// Package s3blob is the blobstore.Store backend on an S3-compatible
// object store (AWS S3, MinIO, SeaweedFS…) through minio-go: blob h is
// the object <prefix><hex h> in one bucket. It passes the conformance
// suite blobstoretest.Run against a real SeaweedFS (s3blob_test.go).
//
// A PutObject of known size is atomic on S3 (a reader sees the whole
// object or none), so no temporary names are needed; a Put of a stored
// blob is a no-op after a HEAD. Get re-hashes what it read, so a damaged
// object is reported (blobstore.ErrHashMismatch) rather than served.
package s3blob

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/blobstore"
)

// ErrBadOptions is returned by New for unusable options.
var ErrBadOptions = errors.New("s3blob: bad options")

// Options name the bucket and how to reach it. Start from DefaultOptions.
type Options struct {
	endpoint  string
	accessKey string
	secretKey string
	secure    bool
	bucket    string
	prefix    string
	region    string
	timeout   time.Duration
}

// DefaultOptions returns options for bucket at endpoint (host:port, no
// scheme) over HTTPS, with no credentials (anonymous), no key prefix and
// region "us-east-1".
func DefaultOptions(endpoint, bucket string) Options {
	return Options{endpoint: endpoint, bucket: bucket, secure: true, region: "us-east-1", timeout: DefaultRequestTimeout}
}

// DefaultRequestTimeout bounds one operation of the store (Get, Has,
// Size, Put, Delete: one or two S3 requests, bodies included).
const DefaultRequestTimeout = time.Minute

// WithRequestTimeout bounds each Get, Has, Size, Put and Delete (default
// DefaultRequestTimeout; d <= 0 keeps it): past it the operation fails
// with blobstore.ErrUnavailable. Without a bound, an object store that
// accepted a connection and stopped answering held the operation, and
// the relay request waiting on it, for as long as the caller's context.
func (o Options) WithRequestTimeout(d time.Duration) Options {
	if d > 0 {
		o.timeout = d
	}
	return o
}

// WithCredentials sets a static access key and secret (default anonymous).
func (o Options) WithCredentials(accessKey, secretKey string) Options {
	o.accessKey, o.secretKey = accessKey, secretKey
	return o
}

// WithInsecure talks plain HTTP instead of HTTPS (loopback tests only).
func (o Options) WithInsecure(insecure bool) Options { o.secure = !insecure; return o }

// WithPrefix puts every object name under prefix, e.g. "blobs/" (default "").
func (o Options) WithPrefix(prefix string) Options { o.prefix = prefix; return o }

// WithRegion sets the bucket's region (default "us-east-1").
func (o Options) WithRegion(region string) Options { o.region = region; return o }

// Store is the S3 backend. It is safe for concurrent use.
type Store struct {
	c       *minio.Client
	bucket  string
	prefix  string
	timeout time.Duration
}

// New returns the store for opts and creates the bucket if it does not
// exist yet (one request).
func New(ctx context.Context, opts Options) (*Store, error) {
	if opts.endpoint == "" || strings.Contains(opts.endpoint, "/") || opts.bucket == "" {
		return nil, fmt.Errorf("%w: endpoint %q (host:port) and bucket %q are required", ErrBadOptions, opts.endpoint, opts.bucket)
	}
	var creds *credentials.Credentials
	if opts.accessKey != "" {
		creds = credentials.NewStaticV4(opts.accessKey, opts.secretKey, "")
	} else {
		creds = credentials.New(&credentials.Static{}) // anonymous
	}
	c, err := minio.New(opts.endpoint, &minio.Options{Creds: creds, Secure: opts.secure, Region: opts.region})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadOptions, err)
	}
	s := &Store{c: c, bucket: opts.bucket, prefix: opts.prefix, timeout: opts.timeout}
	ok, err := c.BucketExists(ctx, opts.bucket)
	if err != nil {
		return nil, fmt.Errorf("s3blob: bucket %s: %w", opts.bucket, err)
	}
	if !ok {
		if err := c.MakeBucket(ctx, opts.bucket, minio.MakeBucketOptions{Region: opts.region}); err != nil {
			return nil, fmt.Errorf("s3blob: make bucket %s: %w", opts.bucket, err)
		}
	}
	return s, nil
}

func (s *Store) name(h [32]byte) string { return s.prefix + hex.EncodeToString(h[:]) }

// op runs fn with ctx bounded by the store's request timeout; an error
// of fn once that bound passed (and not ctx's own) is
// blobstore.ErrUnavailable.
func (s *Store) op(ctx context.Context, fn func(ctx context.Context) error) error {
	octx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := fn(octx)
	if err != nil && ctx.Err() == nil && errors.Is(octx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: no answer from the object store in %v: %w", blobstore.ErrUnavailable, s.timeout, err)
	}
	return err
}

// notFound reports whether err is S3's answer for a missing object.
func notFound(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.StatusCode == http.StatusNotFound || r.Code == "NoSuchKey"
}

// Get implements blobstore.Store; it verifies the bytes' SHA-256.
func (s *Store) Get(ctx context.Context, h [32]byte) ([]byte, error) {
	var b []byte
	err := s.op(ctx, func(ctx context.Context) error {
		obj, err := s.c.GetObject(ctx, s.bucket, s.name(h), minio.GetObjectOptions{})
		if err != nil {
			return fmt.Errorf("s3blob: get %x: %w", h, err)
		}
		defer obj.Close()
		b, err = io.ReadAll(io.LimitReader(obj, model.MaxBlobSize+1))
		if err != nil {
			if notFound(err) {
				return fmt.Errorf("%w: %x", blobstore.ErrNotFound, h)
			}
			return fmt.Errorf("s3blob: read %x: %w", h, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(b) > model.MaxBlobSize {
		return nil, fmt.Errorf("%w: stored object %x", blobstore.ErrTooLarge, h)
	}
	if sha256.Sum256(b) != h {
		return nil, fmt.Errorf("%w: stored object %x is damaged", blobstore.ErrHashMismatch, h)
	}
	return b, nil
}

// Has implements blobstore.Store with a HEAD (StatObject).
func (s *Store) Has(ctx context.Context, h [32]byte) (bool, error) {
	var ok bool
	err := s.op(ctx, func(ctx context.Context) error {
		_, err := s.c.StatObject(ctx, s.bucket, s.name(h), minio.StatObjectOptions{})
		switch {
		case err == nil:
			ok = true
			return nil
		case notFound(err):
			return nil
		}
		return fmt.Errorf("s3blob: stat %x: %w", h, err)
	})
	return ok, err
}

// Size implements blobstore.Store with a HEAD (StatObject): the
// object's length, exactly.
func (s *Store) Size(ctx context.Context, h [32]byte) (int64, error) {
	var n int64
	err := s.op(ctx, func(ctx context.Context) error {
		info, err := s.c.StatObject(ctx, s.bucket, s.name(h), minio.StatObjectOptions{})
		switch {
		case err == nil:
			n = info.Size
			return nil
		case notFound(err):
			return fmt.Errorf("%w: %x", blobstore.ErrNotFound, h)
		}
		return fmt.Errorf("s3blob: stat %x: %w", h, err)
	})
	return n, err
}

// Put implements blobstore.Store: one PutObject of known size.
func (s *Store) Put(ctx context.Context, h [32]byte, data []byte) error {
	if err := blobstore.Check(h, data); err != nil {
		return err
	}
	if ok, err := s.Has(ctx, h); err != nil || ok {
		return err
	}
	return s.op(ctx, func(ctx context.Context) error {
		_, err := s.c.PutObject(ctx, s.bucket, s.name(h), bytes.NewReader(data), int64(len(data)),
			minio.PutObjectOptions{ContentType: "application/octet-stream", DisableMultipart: true})
		if err != nil {
			return fmt.Errorf("s3blob: put %x: %w", h, err)
		}
		return nil
	})
}

// Delete implements blobstore.Store (S3 deletes of missing objects succeed).
func (s *Store) Delete(ctx context.Context, h [32]byte) error {
	return s.op(ctx, func(ctx context.Context) error {
		if err := s.c.RemoveObject(ctx, s.bucket, s.name(h), minio.RemoveObjectOptions{}); err != nil && !notFound(err) {
			return fmt.Errorf("s3blob: delete %x: %w", h, err)
		}
		return nil
	})
}

// ListPage is the most object names one ListObjects request asks for
// (S3's own maximum).
const ListPage = 1000

// List implements blobstore.Store over ListObjects (S3 lists keys in
// ascending byte order, ListPage names a request); objects under the
// prefix that are not blob names are skipped. Info.Modified is the
// object's Last-Modified, by the object store's clock.
func (s *Store) List(ctx context.Context, fn func(blobstore.Info) error) error {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing goroutine when fn ends it early
	for obj := range s.c.ListObjects(lctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix, Recursive: true, MaxKeys: ListPage}) {
		if obj.Err != nil {
			return fmt.Errorf("s3blob: list: %w", obj.Err)
		}
		h, ok := blobstore.ParseName(strings.TrimPrefix(obj.Key, s.prefix))
		if !ok {
			continue
		}
		if err := fn(blobstore.Info{Hash: h, Modified: obj.LastModified}); err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return ctx.Err()
}

var _ blobstore.Store = (*Store)(nil)

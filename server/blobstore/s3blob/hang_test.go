package s3blob_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/server/blobstore"
	"github.com/segue-fm/segue/server/blobstore/s3blob"
)

// TestHungObjectStore: an object store that answered at start and then
// accepts requests without ever answering (seen with SeaweedFS stopped
// by SIGSTOP under a running relay: an admin ingest waited more than
// 200 s, with no end) fails each operation with
// blobstore.ErrUnavailable once the request timeout passes, on a caller
// context without a deadline.
func TestHungObjectStore(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead && strings.TrimSuffix(r.URL.Path, "/") == "/bucket" {
			return // the bucket exists
		}
		<-r.Context().Done()
	}))
	defer hs.Close()
	const timeout = 300 * time.Millisecond
	st, err := s3blob.New(t.Context(), s3blob.DefaultOptions(strings.TrimPrefix(hs.URL, "http://"), "bucket").
		WithInsecure(true).WithCredentials("access", "secret-key").WithRequestTimeout(timeout))
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("blob")
	h := sha256.Sum256(data)
	for _, tc := range []struct {
		name string
		op   func(ctx context.Context) error
	}{
		{"get", func(ctx context.Context) error { _, err := st.Get(ctx, h); return err }},
		{"has", func(ctx context.Context) error { _, err := st.Has(ctx, h); return err }},
		{"size", func(ctx context.Context) error { _, err := st.Size(ctx, h); return err }},
		{"put", func(ctx context.Context) error { return st.Put(ctx, h, data) }},
		{"delete", func(ctx context.Context) error { return st.Delete(ctx, h) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- tc.op(ctx) }()
			select {
			case err := <-done:
				if !errors.Is(err, blobstore.ErrUnavailable) {
					t.Fatalf("%s on a hung store: %v, want ErrUnavailable", tc.name, err)
				}
			case <-time.After(30 * time.Second):
				cancel()
				<-done
				t.Fatalf("%s on a hung store did not return in 30 s", tc.name)
			}
			// The caller's own cancellation is not the store's fault.
			cctx, ccancel := context.WithCancel(t.Context())
			ccancel()
			if err := tc.op(cctx); errors.Is(err, blobstore.ErrUnavailable) {
				t.Fatalf("%s with a cancelled context: %v", tc.name, err)
			}
		})
	}
}

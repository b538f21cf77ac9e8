package core_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
)

// TestOpenDocsOnce: an engine has one Docs open at a time. A second
// OpenDocs (same user or another) is ErrDocsOpen until the first is
// closed; two repositories over one store each kept its own copy of a
// document, and the edits of one were lost when the other saved (both
// had answered nil).
func TestOpenDocsOnce(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		second model.UserID
	}{
		{"same user", "alice"},
		{"other user", "mallory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := core.DefaultOptions().WithOrigins("http://127.0.0.1:1").WithLogger(quiet())
			e, err := core.Open(ctx, dir, opts)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			d1, err := e.OpenDocs(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			id, err := d1.Playlists().Create(ctx, "mix")
			if err != nil {
				t.Fatal(err)
			}
			if d2, err := e.OpenDocs(ctx, tc.second); !errors.Is(err, core.ErrDocsOpen) {
				if d2 != nil {
					d2.Playlists().Add(ctx, id, docs.AtEnd(), "tr2")
					d2.Close()
				}
				t.Fatalf("second OpenDocs = %v, want ErrDocsOpen", err)
			}
			if _, err := d1.Playlists().Add(ctx, id, docs.AtEnd(), "tr1"); err != nil {
				t.Fatal(err)
			}
			if err := d1.Close(); err != nil {
				t.Fatal(err)
			}
			d3, err := e.OpenDocs(ctx, "alice")
			if err != nil {
				t.Fatalf("OpenDocs after Close: %v", err)
			}
			if got := trackList(t, d3, id); !slices.Equal(got, []model.TrackID{"tr1"}) {
				t.Fatalf("tracks after reopen = %v, want [tr1]", got)
			}
		})
	}
}

// TestOpenDocsConcurrent: of OpenDocs calls racing on one engine exactly
// one succeeds; the others are ErrDocsOpen.
func TestOpenDocsConcurrent(t *testing.T) {
	ctx := context.Background()
	e, err := core.Open(ctx, t.TempDir(), core.DefaultOptions().WithOrigins("http://127.0.0.1:1").WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	const n = 8
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.OpenDocs(ctx, "alice")
		}()
	}
	wg.Wait()
	opened := 0
	for _, err := range errs {
		switch {
		case err == nil:
			opened++
		case !errors.Is(err, core.ErrDocsOpen):
			t.Fatalf("OpenDocs = %v, want nil or ErrDocsOpen", err)
		}
	}
	if opened != 1 {
		t.Fatalf("%d OpenDocs succeeded, want 1", opened)
	}
}

package download_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
)

// TestDiskFullFailsTracks: a blob that cannot be written to the disk
// (ENOSPC) fails its track with ErrWriteBlob at once, leaves no temp file,
// and is never taken for the relay being unreachable (which pauses
// downloads as "offline" and retries forever); once the disk has room,
// adding the request again downloads the failed tracks.
func TestDiskFullFailsTracks(t *testing.T) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	var paused, failed atomic.Int32
	var lastErr atomic.Value
	d := b.openDevice(t, t.TempDir(), "boot1", download.DefaultOptions().WithWorkers(1).WithEvents(func(e download.Event) {
		switch e.Kind {
		case download.EventPaused:
			paused.Add(1)
		case download.EventFailed:
			failed.Add(1)
			lastErr.Store(e.Err)
		}
	}))
	var full atomic.Bool
	full.Store(true)
	download.SetWriteFault(d.dl, func() error {
		if full.Load() {
			return syscall.ENOSPC
		}
		return nil
	})
	ref := download.Ref{Kind: download.KindAlbum, ID: string(p.album), Tier: model.TierLow}
	if err := d.dl.Add(ctx, ref); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := d.dl.Wait(wctx); err != nil {
		t.Fatalf("wait with a full disk: %v (paused %d times)", err, paused.Load())
	}
	if paused.Load() != 0 {
		t.Fatalf("paused %d times on a full disk, want failed tracks", paused.Load())
	}
	if int(failed.Load()) != len(p.tracks) {
		t.Fatalf("%d tracks failed, want %d", failed.Load(), len(p.tracks))
	}
	if err, _ := lastErr.Load().(error); !errors.Is(err, download.ErrWriteBlob) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("failure %v, want ErrWriteBlob wrapping ENOSPC", err)
	}
	if tmp, _ := os.ReadDir(filepath.Join(d.dir, "blobs", "tmp")); len(tmp) != 0 {
		t.Fatalf("%d temp files left", len(tmp))
	}
	full.Store(false)
	if err := d.dl.Add(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if err := d.dl.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range p.tracks {
		if !d.dl.Downloaded(id, model.TierLow) {
			t.Fatalf("%s not downloaded once the disk has room and the request is added again", id)
		}
	}
}

// TestMinFreeSpace: a blob that would leave less free space than the
// options keep (DefaultMinFreeSpace, 64 MiB) fails its track with
// ErrNoSpace before it is fetched, so downloads never fill the disk the
// device's store needs; with room again, adding the request again
// downloads it; WithMinFreeSpace(0) keeps nothing free.
func TestMinFreeSpace(t *testing.T) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	for _, tc := range []struct {
		name string
		opts download.Options
		free uint64
		fail bool
	}{
		{"one KiB above the default", download.DefaultOptions(), download.DefaultMinFreeSpace + 1<<10, true},
		{"nothing free, none kept", download.DefaultOptions().WithMinFreeSpace(0), 0, false},
		{"a GiB free", download.DefaultOptions(), 1 << 30, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var failed atomic.Int32
			var lastErr atomic.Value
			d := b.openDevice(t, t.TempDir(), "boot1", tc.opts.WithWorkers(1).WithEvents(func(e download.Event) {
				if e.Kind == download.EventFailed {
					failed.Add(1)
					lastErr.Store(e.Err)
				}
			}))
			var free atomic.Uint64
			free.Store(tc.free)
			download.SetFreeSpace(d.dl, free.Load)
			before := blobRequests(b)
			ref := download.Ref{Kind: download.KindAlbum, ID: string(p.album), Tier: model.TierLow}
			if err := d.dl.Add(ctx, ref); err != nil {
				t.Fatal(err)
			}
			if err := d.dl.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			if !tc.fail {
				if failed.Load() != 0 {
					t.Fatalf("%d tracks failed: %v", failed.Load(), lastErr.Load())
				}
				for _, id := range p.tracks {
					if !d.dl.Downloaded(id, model.TierLow) {
						t.Fatalf("%s not downloaded", id)
					}
				}
				return
			}
			if int(failed.Load()) != len(p.tracks) {
				t.Fatalf("%d tracks failed, want %d", failed.Load(), len(p.tracks))
			}
			if err, _ := lastErr.Load().(error); !errors.Is(err, download.ErrNoSpace) || !errors.Is(err, download.ErrWriteBlob) {
				t.Fatalf("failure %v, want ErrNoSpace", err)
			}
			if n := blobRequests(b) - before; n != 0 {
				t.Fatalf("%d blobs fetched while the disk had no room", n)
			}
			free.Store(1 << 30)
			if err := d.dl.Add(ctx, ref); err != nil {
				t.Fatal(err)
			}
			if err := d.dl.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			for _, id := range p.tracks {
				if !d.dl.Downloaded(id, model.TierLow) {
					t.Fatalf("%s not downloaded with room again", id)
				}
			}
		})
	}
}

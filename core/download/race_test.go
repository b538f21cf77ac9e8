package download_test

import (
	"context"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
)

// storeState lists the device's download records: request keys and, per
// job key, its reference count.
func storeState(t *testing.T, ctx context.Context, st store.Store) (items []string, refs map[string]int) {
	t.Helper()
	refs = map[string]int{}
	err := st.Iterate(ctx, []byte("dl/"), false, func(k, v []byte) error {
		switch key := string(k); {
		case strings.HasPrefix(key, "dl/item/"):
			items = append(items, key)
		case strings.HasPrefix(key, "dl/job/"):
			// CBOR map {1: refs, …}: 0xa? 0x01 <uint>; refs < 24 here.
			if len(v) < 3 || v[1] != 0x01 || v[2] >= 24 {
				t.Fatalf("job %s: unexpected encoding %x", key, v)
			}
			refs[key] = int(v[2])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return items, refs
}

// TestRemoveDuringResolve removes a request while its resolve is paused
// between its network work (album lookup, license) and recording the
// result, for a first resolve and for a refresh of a resolved request
// whose tracks are shared with another request. The hook makes the
// interleaving deterministic. Afterwards the removed request must be gone
// from memory and store (also after a restart), the shared track must be
// referenced exactly once and still downloaded, and nothing else may be
// left.
func TestRemoveDuringResolve(t *testing.T) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	album := download.Ref{Kind: download.KindAlbum, ID: string(p.album), Tier: model.TierLow}
	shared := download.Ref{Kind: download.KindTrack, ID: string(p.tracks[0]), Tier: model.TierLow}
	sharedJob := "dl/job/low/" + string(p.tracks[0])

	for _, refresh := range []bool{false, true} {
		name := "first resolve"
		if refresh {
			name = "refresh"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			d := b.openDevice(t, dir, "boot1", download.DefaultOptions())
			if err := d.dl.Add(ctx, shared); err != nil {
				t.Fatal(err)
			}
			if refresh {
				if err := d.dl.Add(ctx, album); err != nil {
					t.Fatal(err)
				}
			}
			if err := d.dl.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			reached := make(chan struct{})
			release := make(chan struct{})
			download.SetResolvedHook(d.dl, func(r download.Ref) {
				if r == album {
					download.SetResolvedHook(d.dl, nil)
					close(reached)
					<-release
				}
			})
			if refresh {
				if err := d.dl.Refresh(ctx, album); err != nil {
					t.Fatal(err)
				}
			} else if err := d.dl.Add(ctx, album); err != nil {
				t.Fatal(err)
			}
			select {
			case <-reached:
			case <-ctx.Done():
				t.Fatal("resolve never reached the hook")
			}
			if err := d.dl.Remove(ctx, album); err != nil {
				t.Fatal(err)
			}
			close(release)
			if err := d.dl.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			check := func(when string, d *device) {
				t.Helper()
				items, refs := storeState(t, ctx, d.e.Store())
				if len(items) != 1 || items[0] != "dl/item/track/low/"+shared.ID {
					t.Fatalf("%s: stored requests %v, want only the track's", when, items)
				}
				if len(refs) != 1 || refs[sharedJob] != 1 {
					t.Fatalf("%s: job references %v, want %s: 1", when, refs, sharedJob)
				}
				st, err := d.dl.Status(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(st.Items) != 1 || st.Items[0].Ref != shared || st.Tracks != 1 || st.TracksDone != 1 {
					t.Fatalf("%s: status %+v", when, st)
				}
				if !d.dl.Downloaded(p.tracks[0], model.TierLow) {
					t.Fatalf("%s: shared track no longer downloaded", when)
				}
				for _, id := range p.tracks[1:] {
					if d.dl.Downloaded(id, model.TierLow) {
						t.Fatalf("%s: track %s of the removed album still downloaded", when, id)
					}
				}
			}
			check("after remove", d)
			d.close()
			d = b.openDevice(t, dir, "boot1", download.DefaultOptions())
			if err := d.dl.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			check("after restart", d)
			// The shared track's blobs are released with its last request.
			if err := d.dl.Remove(ctx, shared); err != nil {
				t.Fatal(err)
			}
			if items, refs := storeState(t, ctx, d.e.Store()); len(items) != 0 || len(refs) != 0 {
				t.Fatalf("after removing everything: requests %v, jobs %v", items, refs)
			}
			var n int
			if err := d.e.Store().Iterate(ctx, []byte("off/ref/"), false, func(_, v []byte) error {
				n += int(binary.BigEndian.Uint32(v))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if n != 0 {
				t.Fatalf("%d blob references left", n)
			}
		})
	}
}

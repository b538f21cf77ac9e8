package core_test

import (
	"bytes"
	"testing"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	tbed "github.com/segue-fm/segue/internal/testbed"
)

// TestDamagedPinRepinned: a pinned catalog key (cfg/catalog-key) of the
// wrong size is deleted when the engine opens and the relay's key is
// pinned again at the next request, so the device plays again. Before,
// every command failed with "damaged pinned catalog key" and nothing
// said how to get out.
func TestDamagedPinRepinned(t *testing.T) {
	ctx := t.Context()
	r := tbed.NewRelay(t, tbed.DefaultOptions())
	for _, pin := range [][]byte{{}, {1, 2}, make([]byte, 33)} {
		dir := t.TempDir()
		opts := core.DefaultOptions().WithOrigins(r.URL).WithLogger(quiet())
		e, err := core.Open(ctx, dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		tbed.Register(t, e, "pin", "device")
		_, tracks, err := e.Album(ctx, r.Album)
		if err != nil || len(tracks) == 0 {
			t.Fatalf("album: %d tracks, %v", len(tracks), err)
		}
		good, err := e.Store().Get(ctx, []byte("cfg/catalog-key"))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Store().Set(ctx, []byte("cfg/catalog-key"), pin); err != nil {
			t.Fatal(err)
		}
		e.Close()
		e, err = core.Open(ctx, dir, opts)
		if err != nil {
			t.Fatalf("%d-byte pin: open: %v", len(pin), err)
		}
		_, err = e.OpenTrack(ctx, tracks[0].ID, model.TierLow)
		if err != nil {
			t.Fatalf("%d-byte pin: open track: %v", len(pin), err)
		}
		if got, err := e.Store().Get(ctx, []byte("cfg/catalog-key")); err != nil || !bytes.Equal(got, good) {
			t.Fatalf("%d-byte pin: pinned %x, %v; want the relay's key again", len(pin), got, err)
		}
		e.Close()
	}
}

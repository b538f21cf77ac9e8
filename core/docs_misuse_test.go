package core_test

import (
	"errors"
	"testing"

	"github.com/segue-fm/segue/core"
	tbed "github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/sync/client"
)

// TestSyncNowNeedsSync: SyncNow with neither relay nor LAN sync started
// says so (client.ErrDisconnected, as WaitInSync does) instead of
// returning nil having offered nothing to anyone.
func TestSyncNowNeedsSync(t *testing.T) {
	r := tbed.NewRelay(t, tbed.DefaultOptions())
	e := tbed.Engine(t, core.DefaultOptions().WithOrigins(r.URL))
	tbed.Register(t, e, testUser, "test device")
	ctx := t.Context()
	d, err := e.OpenDocs(ctx, testUser)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SyncNow(ctx); !errors.Is(err, client.ErrDisconnected) {
		t.Errorf("SyncNow before StartSync: %v, want client.ErrDisconnected", err)
	}
	if err := d.StartSync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.WaitInSync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.SyncNow(ctx); err != nil {
		t.Errorf("SyncNow while connected: %v", err)
	}
	d.StopSync()
	if err := d.SyncNow(ctx); !errors.Is(err, client.ErrDisconnected) {
		t.Errorf("SyncNow after StopSync: %v, want client.ErrDisconnected", err)
	}
}

package core_test

import (
	"errors"
	"testing"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
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

// TestOpenDocsOtherAccount: OpenDocs for an account other than the one
// the device is registered to is ErrOtherAccount, with nothing opened or
// written (its own account's OpenDocs works after it). It used to open
// them: a playlist made there was owned by the other account, and sync
// of it never got through, with no error.
func TestOpenDocsOtherAccount(t *testing.T) {
	r := tbed.NewRelay(t, tbed.DefaultOptions())
	e := tbed.Engine(t, core.DefaultOptions().WithOrigins(r.URL))
	tbed.Register(t, e, testUser, "test device")
	ctx := t.Context()
	for _, user := range []model.UserID{"bob", "Ada", testUser + " "} {
		d, err := e.OpenDocs(ctx, user)
		if !errors.Is(err, core.ErrOtherAccount) {
			t.Errorf("OpenDocs(%q) on a device of %s: %v, want ErrOtherAccount", user, testUser, err)
		}
		if d != nil {
			d.Close()
		}
	}
	d, err := e.OpenDocs(ctx, testUser)
	if err != nil {
		t.Fatalf("OpenDocs of the device's own account after the refusals: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	// An unregistered device has no account yet: nothing to refuse.
	fresh := tbed.Engine(t, core.DefaultOptions().WithOrigins(r.URL))
	d, err = fresh.OpenDocs(ctx, "bob")
	if err != nil {
		t.Fatalf("OpenDocs on an unregistered device: %v", err)
	}
	d.Close()
}

package relayrecs_test

import (
	"errors"
	"testing"

	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/recs/relayrecs"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/store"
)

// TestTimeZoneNames: "localtime" is the relay host's zone like "Local"
// and is refused; a stored name the host cannot load (one accepted on
// another host, with other zoneinfo files) no longer makes GET
// /v1/recommendations fail: it reports UTC, the zone the scheduler then
// uses.
func TestTimeZoneNames(t *testing.T) {
	f := newFixture(t, "alice")
	ctx := t.Context()
	for _, name := range []string{"Local", "localtime", "", "Mars/Olympus"} {
		if err := f.svc.SetTimeZone(ctx, "alice", name); !errors.Is(err, relayrecs.ErrBadTimeZone) {
			t.Errorf("SetTimeZone(%q) = %v, want ErrBadTimeZone", name, err)
		}
	}

	var st store.Store
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
		st = dd.Store
		relayrecs.New(dd.Store, dd.Catalog, srv.Docs(), demoPlays(nil), relayrecs.DefaultOptions()).Mount(srv)
	}))
	alice := testbed.Device(t, r, "alice")
	if err := st.Update(ctx, func(tx store.Txn) error { return tx.Set(store.Key("recs", "tz", "alice"), []byte("Gone/Zone")) }); err != nil {
		t.Fatal(err)
	}
	rec, err := alice.Recommendations(ctx)
	if err != nil || rec.TimeZone != "UTC" {
		t.Fatalf("recommendations with an unloadable stored zone = %+v, %v; want time zone UTC", rec, err)
	}
}

package counting_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/server/relay"
)

// TestMetrics: GET /metrics (admin token) exposes accepted events,
// rejections by reason, the consumer lag before and after counting, and
// the flagged-accounts gauge.
func TestMetrics(t *testing.T) {
	f := &fixture{}
	f.r = testbed.NewRelay(t, testbed.DefaultOptions().
		WithRelayOptions(func(o relay.Options) relay.Options { return o.WithAdminToken(adminToken) }).
		WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
			f.dd = dd
			f.svc = counting.New(dd.Store, events.NewStoreLog(dd.Store), dd.Catalog, nil, counting.DefaultOptions().WithThreshold(10*time.Second).WithLogger(nil))
			f.svc.Mount(srv)
		}))
	d := newDevice(t, f, "mia")
	evs := []api.PlayRecord{play(1, f.r.Tracks[0], 12000), play(2, f.r.Tracks[1], 5000), play(3, "nosuchtrack", 12000)}
	if code, _ := d.upload(t, evs); code != http.StatusOK {
		t.Fatalf("upload: %d", code)
	}
	scrape := func() string {
		req, _ := http.NewRequest("GET", f.r.URL+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("metrics: %d", res.StatusCode)
		}
		return string(b)
	}
	want := func(body string, lines ...string) {
		t.Helper()
		for _, l := range lines {
			if !strings.Contains(body, "\n"+l+"\n") {
				t.Errorf("metrics lack %q", l)
			}
		}
	}
	want(scrape(), "segue_counting_events_accepted_total 2", `segue_counting_events_rejected_total{reason="unknown_track"} 1`,
		"segue_counting_consumer_lag_events 2", "segue_counting_flagged_accounts 0")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := f.svc.Step(ctx); err != nil {
		t.Fatal(err)
	}
	f.svc.SetFlaggedAccounts(3)
	want(scrape(), "segue_counting_consumer_lag_events 0", "segue_counting_streams_counted_total 1",
		"segue_counting_events_consumed_total 2", "segue_counting_flagged_accounts 3")
}

package counting_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/server/events/natslog"
)

// natsLog starts a real nats-server in process (JetStream file store on a
// temporary directory, every write synced, as durability needs) and opens
// a natslog over it with opts.
func natsLog(t testing.TB, opts natslog.Options) *natslog.Log {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), SyncAlways: true, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	l, err := natslog.Open(context.Background(), nc, opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// BenchmarkIngestHTTPNATS is BenchmarkIngestHTTP with the event log on
// NATS JetStream (natsLog).
func BenchmarkIngestHTTPNATS(b *testing.B) {
	l := natsLog(b, natslog.DefaultOptions())
	benchIngestHTTP(b, newFixtureLog(b, counting.DefaultOptions(), func(*catalog.DataDir) events.Log { return l }))
}

// TestTooOldOnExpiringLog: on a log that expires events after an hour
// (NATS MaxAge), plays that started before the horizon (the hour less a
// 6-minute margin) are refused as too_old, so an event whose
// de-duplication expired is never appended twice; newer ones are
// accepted and counted as usual.
func TestTooOldOnExpiringLog(t *testing.T) {
	l := natsLog(t, natslog.DefaultOptions().WithMaxAge(time.Hour))
	f := newFixtureLog(t, counting.DefaultOptions().WithThreshold(time.Second), func(*catalog.DataDir) events.Log { return l })
	d := newDevice(t, f, "hana")
	d.compact = true
	tr := f.r.Tracks[0]
	at := func(seq uint64, ago time.Duration) api.PlayRecord {
		e := play(seq, tr, 1500)
		e.StartedAt = time.Now().Add(-ago).UnixMilli()
		return e
	}
	_, a := d.upload(t, []api.PlayRecord{at(1, 2*time.Hour), at(2, 55*time.Minute), at(3, 50*time.Minute)})
	want := []string{api.PlayTooOld, api.PlayTooOld, api.PlayAccepted}
	for i, w := range want {
		if a.Results[i].Status != w {
			t.Errorf("event %d: %s, want %s", i, a.Results[i].Status, w)
		}
	}
	if n, err := f.svc.Step(context.Background()); err != nil || n != 1 {
		t.Fatalf("step: %d, %v", n, err)
	}
}

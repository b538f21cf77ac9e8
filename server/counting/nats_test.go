package counting_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

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
	l, _ := natsLogConn(t, opts)
	return l
}

// natsLogConn is natsLog also returning the log's connection.
func natsLogConn(t testing.TB, opts natslog.Options) (*natslog.Log, *nats.Conn) {
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
	return l, nc
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
// accepted and counted as usual. The counting clock runs 3 hours ahead,
// so that every play starts after the account was created.
func TestTooOldOnExpiringLog(t *testing.T) {
	l := natsLog(t, natslog.DefaultOptions().WithMaxAge(time.Hour))
	now := time.Now().Add(3 * time.Hour)
	f := newFixtureLog(t, counting.DefaultOptions().WithThreshold(time.Second).WithClock(func() time.Time { return now }),
		func(*catalog.DataDir) events.Log { return l })
	d := newDevice(t, f, "hana")
	d.compact = true
	tr := f.r.Tracks[0]
	at := func(seq uint64, ago time.Duration) api.PlayRecord {
		e := play(seq, tr, 1500)
		e.StartedAt = now.Add(-ago).UnixMilli()
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

// TestPartialAckFailure: when JetStream stores only part of an upload
// (the events stream limited to 6 messages, DiscardNew, so the last 4 of
// 10 publishes are refused) the upload is answered 503 with no event
// accepted, although 6 are stored; the device's retry of the same batch
// once the limit is lifted gets those 6 as duplicates and the other 4
// accepted, and the consumer counts exactly 10 streams: nothing was
// acknowledged that was not stored, nothing is counted twice.
func TestPartialAckFailure(t *testing.T) {
	ctx := context.Background()
	l, nc := natsLogConn(t, natslog.DefaultOptions())
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	limit := func(n int64) {
		t.Helper()
		s, err := js.Stream(ctx, "segue_plays_EVENTS")
		if err != nil {
			t.Fatal(err)
		}
		cfg := s.CachedInfo().Config
		cfg.MaxMsgs = n
		if _, err := js.UpdateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	limit(6)
	f := newFixtureLog(t, counting.DefaultOptions().WithThreshold(time.Second), func(*catalog.DataDir) events.Log { return l })
	d := newDevice(t, f, "ivy")
	d.compact = true
	tr := f.r.Tracks[0]
	var evs []api.PlayRecord
	for seq := range uint64(10) {
		evs = append(evs, play(seq, tr, 1500))
	}
	if code, ans := d.upload(t, evs); code != http.StatusServiceUnavailable || len(ans.Results) != 0 {
		t.Fatalf("partly stored upload: %d %+v, want 503 and no result", code, ans)
	}
	if h, err := l.Head(ctx); err != nil || h != 6 {
		t.Fatalf("head %d, %v: want the 6 events the stream took", h, err)
	}
	limit(-1)
	code, ans := d.upload(t, evs)
	if code != http.StatusOK || len(ans.Results) != len(evs) {
		t.Fatalf("retry: %d %+v", code, ans)
	}
	for i, r := range ans.Results {
		want := api.PlayAccepted
		if i < 6 {
			want = api.PlayDuplicate
		}
		if r.Seq != evs[i].Seq || r.Status != want {
			t.Errorf("retry, event %d: %+v, want %s", i, r, want)
		}
	}
	for {
		n, err := f.svc.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	if n, err := f.svc.TrackStreams(ctx, tr, counting.Month(evs[0].StartedAt)); err != nil || n != 10 {
		t.Fatalf("counted %d streams, %v: want exactly 10", n, err)
	}
}

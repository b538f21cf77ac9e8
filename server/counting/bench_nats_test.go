package counting_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/server/events/natslog"
)

// BenchmarkIngestHTTPNATS is BenchmarkIngestHTTP with the event log on
// NATS JetStream: a real nats-server in process (JetStream file store on
// a temporary directory, every write synced, as durability needs).
func BenchmarkIngestHTTPNATS(b *testing.B) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: b.TempDir(), SyncAlways: true, NoLog: true, NoSigs: true})
	if err != nil {
		b.Fatal(err)
	}
	go ns.Start()
	defer ns.Shutdown()
	if !ns.ReadyForConnections(10 * time.Second) {
		b.Fatal("nats-server not ready")
	}
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	l, err := natslog.Open(context.Background(), nc, natslog.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	benchIngestHTTP(b, newFixtureLog(b, counting.DefaultOptions(), func(*catalog.DataDir) events.Log { return l }))
}

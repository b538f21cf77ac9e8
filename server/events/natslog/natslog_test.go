package natslog_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/server/events/eventstest"
	"github.com/segue-fm/segue/server/events/natslog"
)

// startServer runs a real nats-server in process with JetStream on a
// temporary store directory, syncing every write, on a random port.
func startServer(t testing.TB) *server.Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), SyncAlways: true, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

func connect(t testing.TB, ns *server.Server) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// TestNATSLog runs the events conformance suite on JetStream: every
// subtest gets its own streams on one server, and Reopen opens a new
// connection and Log over the same streams.
func TestNATSLog(t *testing.T) {
	ns := startServer(t)
	var n atomic.Int64
	eventstest.Run(t, func(t *testing.T) (events.Log, func() events.Log) {
		opts := natslog.DefaultOptions().WithPrefix(fmt.Sprint("t", n.Add(1)))
		open := func() events.Log {
			l, err := natslog.Open(context.Background(), connect(t, ns), opts)
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
		return open(), open
	})
}

// BenchmarkAppendNATS: the same load as events.BenchmarkAppendBadger on
// JetStream (in-process nats-server, file store, sync always).
func BenchmarkAppendNATS(b *testing.B) {
	ns := startServer(b)
	l, err := natslog.Open(context.Background(), connect(b, ns), natslog.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	eventstest.BenchAppend(b, l, 1000)
}

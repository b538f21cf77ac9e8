package natslog_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/segue-fm/segue/core/api"
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

// TestNATSMaxAge keeps events for one second: after that the server has
// deleted them, Read below the first kept event is events.ErrPruned,
// Head still counts them, and new events append after them. The expired
// (device, seq) is accepted again — why the counting service refuses
// plays older than the age (TestTooOldOnExpiringLog in server/counting).
func TestNATSMaxAge(t *testing.T) {
	ns := startServer(t)
	ctx := context.Background()
	l, err := natslog.Open(ctx, connect(t, ns), natslog.DefaultOptions().WithPrefix("age").WithMaxAge(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if l.MaxAge() != time.Second {
		t.Fatalf("MaxAge %v", l.MaxAge())
	}
	ev := func(seq uint64) api.PlayRecord {
		return api.PlayRecord{Seq: seq, Track: "t", Tier: "low", StartedAt: 1, PlayedMs: 31000, EndReason: "completed", Source: "stream"}
	}
	b := events.Batch{Device: "dev1", User: "u", Received: 1, Message: []byte("m"), Sig: []byte("s"),
		Events: []api.PlayRecord{ev(1), ev(2), ev(3)}}
	if out, err := l.Append(ctx, b); err != nil || out[0] != events.Appended {
		t.Fatalf("append: %v %v", out, err)
	}
	if es, err := l.Read(ctx, 0, 10); err != nil || len(es) != 3 {
		t.Fatalf("read before expiry: %d, %v", len(es), err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := l.Read(ctx, 0, 10)
		if errors.Is(err, events.ErrPruned) {
			break
		}
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("read after expiry: %v; want ErrPruned", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if h, err := l.Head(ctx); err != nil || h != 3 {
		t.Fatalf("head %d, %v; want 3", h, err)
	}
	b.Events = []api.PlayRecord{ev(1), ev(4)}
	if out, err := l.Append(ctx, b); err != nil || out[0] != events.Appended || out[1] != events.Appended {
		t.Fatalf("append after expiry: %v %v", out, err)
	}
	if es, err := l.Read(ctx, 3, 10); err != nil || len(es) != 2 || es[0].Offset != 3 || es[1].Event.Seq != 4 {
		t.Fatalf("read new events: %+v, %v", es, err)
	}
}

// TestNATSReaders: each Read from another offset replaces the reading
// consumer (one at a time, under its one name), and opening the log again
// deletes the readers an earlier handle left, as after a crash.
func TestNATSReaders(t *testing.T) {
	ns := startServer(t)
	ctx := context.Background()
	opts := natslog.DefaultOptions().WithPrefix("readers")
	l, err := natslog.Open(ctx, connect(t, ns), opts)
	if err != nil {
		t.Fatal(err)
	}
	b := events.Batch{Device: "dev1", User: "u", Received: 1, Message: []byte("m"), Sig: []byte("s"),
		Events: []api.PlayRecord{eventstest.Event(1, "a"), eventstest.Event(2, "b")}}
	if _, err := l.Append(ctx, b); err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(connect(t, ns))
	if err != nil {
		t.Fatal(err)
	}
	readers := func() []string {
		t.Helper()
		st, err := js.Stream(ctx, "readers_EVENTS")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		names := st.ConsumerNames(ctx)
		for n := range names.Name() {
			out = append(out, n)
		}
		if err := names.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	for _, from := range []uint64{0, 1, 0, 0} {
		if es, err := l.Read(ctx, from, 10); err != nil || len(es) != 2-int(from) {
			t.Fatalf("read %d: %d, %v", from, len(es), err)
		}
		if r := readers(); len(r) != 1 {
			t.Fatalf("after read %d: readers %v", from, r)
		}
	}
	if _, err := natslog.Open(ctx, connect(t, ns), opts); err != nil {
		t.Fatal(err)
	}
	if r := readers(); len(r) != 0 {
		t.Fatalf("readers left after reopening: %v", r)
	}
}

// TestNATSExpiryDuringRead: MaxAge removes the events after Read checked
// the stream's first sequence but before it fetched them. Read must
// report ErrPruned, not an empty read (stream empty) or ErrCorrupt (the
// consumer skips to a newer event).
func TestNATSExpiryDuringRead(t *testing.T) {
	for _, tc := range []struct {
		name  string
		newer bool // events appended after the expiry
	}{{"empty stream", false}, {"newer events", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ns := startServer(t)
			ctx := context.Background()
			prefix := "race" + strconv.FormatBool(tc.newer)
			l, err := natslog.Open(ctx, connect(t, ns), natslog.DefaultOptions().WithPrefix(prefix).
				WithMaxAge(time.Second).WithTimeout(3*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			js, err := jetstream.New(connect(t, ns))
			if err != nil {
				t.Fatal(err)
			}
			ev := func(seq uint64) api.PlayRecord {
				return api.PlayRecord{Seq: seq, Track: "t", Tier: "low", StartedAt: 1, PlayedMs: 31000, EndReason: "completed", Source: "stream"}
			}
			b := events.Batch{Device: "dev1", User: "u", Received: 1, Message: []byte("m"), Sig: []byte("s"),
				Events: []api.PlayRecord{ev(1), ev(2), ev(3)}}
			if _, err := l.Append(ctx, b); err != nil {
				t.Fatal(err)
			}
			natslog.SetTestHookSeeked(func() {
				natslog.SetTestHookSeeked(nil)
				deadline := time.Now().Add(30 * time.Second)
				for {
					s, err := js.Stream(ctx, prefix+"_EVENTS")
					if err != nil {
						t.Error(err)
						return
					}
					if s.CachedInfo().State.FirstSeq > 3 {
						break
					}
					if time.Now().After(deadline) {
						t.Error("events never expired")
						return
					}
					time.Sleep(50 * time.Millisecond)
				}
				if tc.newer {
					b.Events = []api.PlayRecord{ev(4), ev(5)}
					if _, err := l.Append(ctx, b); err != nil {
						t.Error(err)
					}
				}
			})
			t.Cleanup(func() { natslog.SetTestHookSeeked(nil) })
			if es, err := l.Read(ctx, 0, 10); !errors.Is(err, events.ErrPruned) {
				t.Fatalf("read across expiry: %d entries, %v; want ErrPruned", len(es), err)
			}
			if !tc.newer {
				return
			}
			if es, err := l.Read(ctx, 3, 10); err != nil || len(es) != 2 || es[0].Offset != 3 {
				t.Fatalf("read newer events: %+v, %v", es, err)
			}
		})
	}
}

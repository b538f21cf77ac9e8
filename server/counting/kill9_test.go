package counting_test

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/audit"
	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/store/badgerstore"
)

// kill9Events is the load of TestCountingKill9: small enough for CI by
// default; run the full load with -kill9-events=1000000.
var kill9Events = flag.Int("kill9-events", 6000, "events TestCountingKill9 appends and counts")

const kill9Env = "SEGUE_COUNTING_KILL9_DIR"

// kill9Key signs the audit checkpoints of TestCountingKill9's children.
var kill9Key = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))

// kill9Batch is the upload batch size for n events.
func kill9Batch(n int) int { return min(1000, max(n/60, 10)) }

// kill9Event is event i of the deterministic load: seven tracks, three
// months, played times spread over 0–60 s (about half are streams).
func kill9Event(i int) api.PlayRecord {
	month := time.Date(2026, time.Month(9+i/1000%3), 2, 12, 0, 0, 0, time.UTC)
	return api.PlayRecord{Seq: uint64(i), Track: model.TrackID(fmt.Sprint("t", i%7)), Tier: model.TierLow,
		StartedAt: month.UnixMilli() + int64(i), PlayedMs: int64(i*7919) % 60000, EndReason: model.EndCompleted, Source: model.SourceStream}
}

// kill9Device is the device (and user) of batch b.
func kill9Device(b int) (model.DeviceID, model.UserID) {
	return model.DeviceID(fmt.Sprint("d", b%4)), model.UserID(fmt.Sprint("u", b%4))
}

// TestCountingCrashChild is the child process of TestCountingKill9: it
// appends every batch of the load (again from the first: the log drops
// what an earlier life appended), printing "acked <b>" once batch b is
// durable, while the consumer counts concurrently; it prints "done" when
// everything is appended and counted.
func TestCountingCrashChild(t *testing.T) {
	dir := os.Getenv(kill9Env)
	if dir == "" {
		t.Skip("child process of TestCountingKill9")
	}
	n, _ := strconv.Atoi(os.Getenv(kill9Env + "_N"))
	fail := func(err error) { fmt.Println("ERR", err); os.Exit(2) }
	ctx := context.Background()
	st, err := badgerstore.Open(ctx, dir, badgerstore.DefaultOptions().WithLogger(nil))
	if err != nil {
		fail(err)
	}
	lg := events.NewStoreLog(st).WithTailCache(events.DefaultTailCache) // as segue relay
	svc := counting.New(st, lg, nil, audit.NewChain(st, kill9Key, 100, nil), counting.DefaultOptions().WithConsumerBatch(37).WithPoll(time.Millisecond).WithLogger(nil))
	cerr := make(chan error, 1)
	go func() { cerr <- svc.Run(ctx) }()
	w := bufio.NewWriter(os.Stdout)
	bs := kill9Batch(n)
	for b := 0; b*bs < n; b++ {
		dev, user := kill9Device(b)
		evs := make([]api.PlayRecord, 0, bs)
		for i := b * bs; i < min(n, (b+1)*bs); i++ {
			evs = append(evs, kill9Event(i))
		}
		if _, err := lg.Append(ctx, events.Batch{Device: dev, User: user, Received: 1, Message: []byte("m"), Sig: []byte("s"), Events: evs}); err != nil {
			fail(err)
		}
		fmt.Fprintln(w, "acked", b)
		w.Flush()
	}
	for {
		select {
		case err := <-cerr:
			fail(err)
		default:
		}
		if p, err := svc.Position(ctx); err != nil {
			fail(err)
		} else if p == uint64(n) {
			fmt.Println("done")
			os.Exit(0)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestCountingKill9 SIGKILLs a process that appends and counts play
// events at random points, several times, then lets it finish: every
// batch acknowledged before a kill is in the log, and the final counts
// per track and month and per user equal exactly the streams of the
// load, each event counted once — never one more or one less.
func TestCountingKill9(t *testing.T) {
	dir := t.TempDir()
	n := *kill9Events
	rng := rand.New(rand.NewPCG(12, uint64(time.Now().UnixNano())))
	run := func(round int, kill bool) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCountingCrashChild$", "-test.v=false")
		cmd.Env = append(os.Environ(), kill9Env+"="+dir, kill9Env+"_N="+strconv.Itoa(n))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		target := rng.IntN((n + kill9Batch(n) - 1) / kill9Batch(n))
		acked, done := -1, false
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "ERR"):
				t.Fatalf("round %d: child: %s", round, line)
			case strings.HasPrefix(line, "acked "):
				acked, _ = strconv.Atoi(strings.TrimPrefix(line, "acked "))
			case line == "done":
				done = true
			}
			if kill && acked >= target {
				break
			}
		}
		if kill {
			_ = cmd.Process.Signal(syscall.SIGKILL)
		}
		_ = cmd.Wait()
		if !kill && !done {
			t.Fatalf("final run did not finish")
		}
		st, err := badgerstore.Open(context.Background(), dir, badgerstore.DefaultOptions().WithLogger(nil))
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		head, err := events.NewStoreLog(st).Head(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if want := uint64(min(n, (acked+1)*kill9Batch(n))); head < want {
			t.Fatalf("round %d: log has %d events, but %d were acknowledged", round, head, want)
		}
		svc := counting.New(st, events.NewStoreLog(st), nil, nil, counting.DefaultOptions())
		pos, err := svc.Position(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		// The log holds the load in order (a later life's re-appends are
		// dropped), so the committed counts must be exactly the streams
		// of the first pos events.
		streams := check(t, svc, n, int(pos))
		// Each counted stream has exactly one audit record, committed with it.
		if rep, err := audit.Verify(context.Background(), st, kill9Key.Public().(ed25519.PublicKey)); err != nil || rep.Records != streams {
			t.Fatalf("round %d: audit %+v, %v; want %d records", round, rep, err, streams)
		}
		if kill {
			t.Logf("round %d: killed after batch %d acknowledged, log head %d, consumer at %d", round, acked, head, pos)
			return
		}
		if head != uint64(n) || pos != uint64(n) {
			t.Fatalf("log head %d, consumer at %d; want %d: duplicates or losses", head, pos, n)
		}
	}
	for round := range 4 {
		run(round, true)
	}
	run(4, false)
}

// check compares the committed counts with the streams of the first
// upto events of the load of n.
func check(t *testing.T, svc *counting.Service, n, upto int) uint64 {
	t.Helper()
	ctx := context.Background()
	type tk struct {
		user  model.UserID
		track model.TrackID
		month string
	}
	want := map[tk]uint64{}
	bs := kill9Batch(n)
	for i := range upto {
		e := kill9Event(i)
		if !counting.IsStream(e.PlayedMs, 30*time.Second) {
			continue
		}
		_, user := kill9Device(i / bs)
		m := counting.Month(e.StartedAt)
		want[tk{"", e.Track, m}]++
		want[tk{user, e.Track, m}]++
	}
	var total uint64
	for k, w := range want {
		var got uint64
		var err error
		if k.user == "" {
			got, err = svc.TrackStreams(ctx, k.track, k.month)
			total += got
		} else {
			got, err = svc.UserStreams(ctx, k.user, k.month, k.track)
		}
		if err != nil || got != w {
			t.Errorf("%+v: %d streams, %v; want %d", k, got, err, w)
		}
	}
	t.Logf("%d events, %d streams counted exactly once", upto, total)
	return total
}

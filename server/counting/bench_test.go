package counting_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/cborx"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/server/royalties"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/store/badgerstore"
)

const (
	loadEnv       = "SEGUE_COUNTING_LOAD"
	loadWorkers   = 16
	loadSeedBytes = "segue-counting-load-generator-seed-0123456789abcdef"
)

// loadIdentity is the device the load generator signs as; parent and
// child derive it from the same fixed bytes.
func loadIdentity() (*crypto.Identity, error) {
	return crypto.NewIdentity(bytes.NewReader([]byte(strings.Repeat(loadSeedBytes, 4))))
}

// loadBatch is the events per upload: SEGUE_COUNTING_LOAD_BATCH (100 to
// 1,000), default 1,000.
func loadBatch() int {
	if n, err := strconv.Atoi(os.Getenv(loadEnv + "_BATCH")); err == nil && n >= 1 && n <= 1000 {
		return n
	}
	return 1000
}

// loadContentType is the upload form of the load generator:
// SEGUE_COUNTING_LOAD_FORMAT=json for JSON, otherwise the compact CBOR.
func loadContentType() string {
	if os.Getenv(loadEnv+"_FORMAT") == "json" {
		return "application/json"
	}
	return api.PlaysCBOR
}

// encodeLoadBatch encodes one upload in the loadContentType form.
func encodeLoadBatch(evs []api.PlayRecord, sig []byte) ([]byte, error) {
	if loadContentType() != api.PlaysCBOR {
		return json.Marshal(api.PlaysRequest{Events: evs, Sig: sig})
	}
	w := api.PlaysRequestWire{Sig: sig, Events: make([]api.PlayWire, len(evs))}
	for i, e := range evs {
		w.Events[i] = api.WireOf(e)
	}
	return cborx.Marshal(w)
}

var answerDec = cborx.Limits{MaxArrayElements: 1 << 16}.StrictDecMode()

// decodeLoadAnswer reads and closes res, an answer in loadContentType
// form, refusing any status but 200.
func decodeLoadAnswer(res *http.Response) (api.PlaysAnswer, error) {
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		return api.PlaysAnswer{}, fmt.Errorf("status %s: %v: %s", res.Status, err, b)
	}
	var ans api.PlaysAnswer
	if loadContentType() != api.PlaysCBOR {
		return ans, json.Unmarshal(b, &ans)
	}
	var w api.PlaysAnswerWire
	if err := answerDec.Unmarshal(b, &w); err != nil {
		return ans, err
	}
	for _, r := range w.Results {
		ans.Results = append(ans.Results, api.PlayResult{Seq: r.Seq, Status: r.Status})
	}
	return ans, nil
}

// TestLoadGeneratorChild is the load generator of BenchmarkIngestHTTP,
// run as a separate process: it posts SEGUE_COUNTING_LOAD_BATCHES signed
// batches of loadBatch events from 16 connections and prints "ok" when
// every event was accepted.
func TestLoadGeneratorChild(t *testing.T) {
	url := os.Getenv(loadEnv)
	if url == "" {
		t.Skip("child process of BenchmarkIngestHTTP")
	}
	fail := func(err error) { fmt.Println("ERR", err); os.Exit(2) }
	id, err := loadIdentity()
	if err != nil {
		fail(err)
	}
	batches, _ := strconv.Atoi(os.Getenv(loadEnv + "_BATCHES"))
	tracks := strings.Split(os.Getenv(loadEnv+"_TRACKS"), ",")
	token := os.Getenv(loadEnv + "_TOKEN")
	// Now: after the account was created (earlier plays are
	// before_account). Plays of 0–12 s at one instant: none overlaps
	// another by more than a crossfade (counting.OverlapAllowance).
	started := time.Now().UnixMilli()
	bodies := make(chan []byte, loadWorkers)
	size := loadBatch()
	go func() {
		defer close(bodies)
		for b := range batches {
			evs := make([]api.PlayRecord, size)
			for i := range evs {
				seq := uint64(b*size + i)
				evs[i] = api.PlayRecord{Seq: seq, Track: model.TrackID(tracks[int(seq)%len(tracks)]), Tier: model.TierLow,
					StartedAt: started, PlayedMs: int64(seq * 7919 % 12001), EndReason: model.EndCompleted, Source: model.SourceStream}
			}
			msg, err := crypto.PlaysMessage(id.DeviceID(), evs)
			if err != nil {
				fail(err)
			}
			body, err := encodeLoadBatch(evs, id.Sign(msg))
			if err != nil {
				fail(err)
			}
			bodies <- body
		}
	}()
	var wg sync.WaitGroup
	for range loadWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for body := range bodies {
				req, _ := http.NewRequest(http.MethodPost, url+"/v1/plays", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", loadContentType())
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					fail(err)
				}
				ans, err := decodeLoadAnswer(res)
				if err != nil {
					fail(err)
				}
				for _, r := range ans.Results {
					if r.Status != api.PlayAccepted {
						fail(fmt.Errorf("seq %d: %s", r.Seq, r.Status))
					}
				}
			}
		}()
	}
	wg.Wait()
	fmt.Println("ok")
	os.Exit(0)
}

// BenchmarkIngestHTTP measures durable ingest end to end: a load
// generator in a separate process posts signed batches of
// SEGUE_COUNTING_LOAD_BATCH events (default 1,000) from 16 connections
// over HTTP to a real relay on loopback, which validates them and appends
// them to the Badger event log (group commit: one fsync per transaction)
// before answering. With SEGUE_BENCH_GEN_CPU set the generator runs under
// taskset -c on that CPU. b.N is the number of batches; the metric is
// events/s.
func BenchmarkIngestHTTP(b *testing.B) {
	benchIngestHTTP(b, newFixture(b, counting.DefaultOptions()))
}

// BenchmarkIngestHTTPCounting is BenchmarkIngestHTTP with the counting
// consumer running as on a real relay (the event log with the relay's tail
// cache, the consumer woken by each upload, polling
// every 50 ms otherwise, audit checkpoints every 1,000 records) and a
// 6 s stream threshold, so that about half the generated plays (0–12 s
// on the demo album's short tracks) are counted streams with their
// audit records. Every 10 ms it samples the log head and the consumer's
// position and reports the largest lag: in events (lag-events, head −
// position) and in time (lag-s: how long the oldest uncounted event had
// been in the log, taking an event as logged at the first sample whose
// head is past it, so within 10 ms), and how long after the last answer
// the consumer took to count everything (drain-ms).
// SEGUE_COUNTING_LOAD_CONSUMER_BATCH sets the consumer's transaction size
// (Options.WithConsumerBatch) to compare cadences in one run.
func BenchmarkIngestHTTPCounting(b *testing.B) {
	opts := counting.DefaultOptions().WithPoll(50 * time.Millisecond).WithThreshold(6 * time.Second)
	if n, err := strconv.Atoi(os.Getenv(loadEnv + "_CONSUMER_BATCH")); err == nil {
		opts = opts.WithConsumerBatch(n)
	}
	f := newFixtureChain(b, opts, func(dd *catalog.DataDir) events.Log {
		return events.NewStoreLog(dd.Store).WithTailCache(events.DefaultTailCache)
	}, 0)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.svc.Run(ctx) }()
	var maxLag atomic.Uint64
	var maxAge atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		type mark struct {
			head uint64
			at   time.Time
		}
		var marks []mark // heads as first seen, ascending
		for {
			select {
			case <-stop:
				return
			case now := <-t.C:
				pos, err := f.svc.Position(ctx)
				if err != nil {
					continue
				}
				head, err := f.log.Head(ctx)
				if err != nil {
					continue
				}
				if len(marks) == 0 || head > marks[len(marks)-1].head {
					marks = append(marks, mark{head, now})
				}
				if head > pos && head-pos > maxLag.Load() {
					maxLag.Store(head - pos)
				}
				// The oldest uncounted event (offset pos) was logged by
				// the first mark whose head is past it.
				for len(marks) > 0 && marks[0].head <= pos {
					marks = marks[1:]
				}
				if len(marks) > 0 && pos < head {
					if age := now.Sub(marks[0].at); int64(age) > maxAge.Load() {
						maxAge.Store(int64(age))
					}
				}
			}
		}
	}()
	benchIngestHTTP(b, f)
	close(stop)
	<-sampled
	end := time.Now()
	for {
		l, err := f.svc.Lag(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if l == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	drain := time.Since(end)
	cancel()
	if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
		b.Fatal(err)
	}
	var streams uint64
	for _, tr := range f.r.Tracks {
		n, err := f.svc.TrackStreams(context.Background(), tr, counting.Month(time.Now().UnixMilli()))
		if err != nil {
			b.Fatal(err)
		}
		streams += n
	}
	if streams == 0 {
		b.Fatal("no stream counted")
	}
	b.ReportMetric(float64(maxLag.Load()), "lag-events")
	b.ReportMetric(time.Duration(maxAge.Load()).Seconds(), "lag-s")
	b.ReportMetric(float64(drain.Milliseconds()), "drain-ms")
	b.ReportMetric(float64(streams)/float64(b.N*loadBatch()), "streams/event")
}

// benchIngestHTTP runs the load generator against f's relay.
func benchIngestHTTP(b *testing.B, f *fixture) {
	id, err := loadIdentity()
	if err != nil {
		b.Fatal(err)
	}
	d := registerDevice(b, f, "loadgen", id)
	var tracks []string
	for _, tr := range f.r.Tracks {
		tracks = append(tracks, string(tr))
	}
	args := []string{os.Args[0], "-test.run=^TestLoadGeneratorChild$", "-test.v=false", "-test.bench=^$"}
	if cpu := os.Getenv("SEGUE_BENCH_GEN_CPU"); cpu != "" {
		args = append([]string{"taskset", "-c", cpu}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append(os.Environ(), loadEnv+"="+f.r.URL, loadEnv+"_BATCHES="+strconv.Itoa(b.N),
		loadEnv+"_TRACKS="+strings.Join(tracks, ","), loadEnv+"_TOKEN="+d.token)
	b.ResetTimer()
	cpu := cpuSelf(b)
	out, err := cmd.Output()
	cpu = cpuSelf(b) - cpu
	b.StopTimer()
	if err != nil || !strings.Contains(string(out), "ok") {
		b.Fatalf("load generator: %v\n%s", err, out)
	}
	b.ReportMetric(float64(b.N*loadBatch())/b.Elapsed().Seconds(), "events/s")
	reportCPU(b, cpu, cmd, b.N*loadBatch())
}

// BenchmarkFsyncFloor is the floor BenchmarkIngestHTTP is compared with:
// appending each batch of 1,000 CBOR-encoded events to a plain file and
// fsyncing it. b.N is the number of batches; the metric is events/s.
func BenchmarkFsyncFloor(b *testing.B) {
	fh, err := os.Create(filepath.Join(b.TempDir(), "log"))
	if err != nil {
		b.Fatal(err)
	}
	defer fh.Close()
	evs := make([]api.PlayRecord, loadBatch())
	for i := range evs {
		evs[i] = api.PlayRecord{Seq: uint64(i), Track: "t", Tier: model.TierLow, StartedAt: 1, PlayedMs: 31000,
			EndReason: model.EndCompleted, Source: model.SourceStream}
	}
	b.ResetTimer()
	for range b.N {
		buf, err := cborx.Marshal(evs)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := fh.Write(buf); err != nil {
			b.Fatal(err)
		}
		if err := fh.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*loadBatch())/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkMonthStatement computes a month's statements for 100 million
// counted streams: 250,000 tracks × 400 streams as cnt/t keys in Badger
// (generated before the timer), read with MonthStreams and split per
// track (royalties.Compute) and per rights holder (ComputeHolders, two
// holders a track out of 5,000 parties). b.N statements; the metric is
// seconds per statement.
func BenchmarkMonthStatement(b *testing.B) {
	ctx := context.Background()
	st, err := badgerstore.Open(ctx, b.TempDir(), badgerstore.DefaultOptions().WithLogger(nil))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	eur, err := royalties.ParseCurrency("EUR")
	if err != nil {
		b.Fatal(err)
	}
	const tracks, per = 250_000, 400
	rights := make(map[model.TrackID][]model.RightsShare, tracks)
	for lo := 0; lo < tracks; lo += 10_000 {
		err := st.Update(ctx, func(tx store.Txn) error {
			for i := lo; i < lo+10_000; i++ {
				id := model.TrackID(fmt.Sprintf("tr%07d", i))
				if err := tx.Set([]byte("cnt/t/"+string(id)+"/2026-11"), binary.BigEndian.AppendUint64(nil, per)); err != nil {
					return err
				}
				rights[id] = []model.RightsShare{
					{Party: fmt.Sprint("artist", i%5000), Role: model.RolePerformer, Share: 700_000_000},
					{Party: fmt.Sprint("label", i%50), Role: model.RoleLabel, Share: 300_000_000}}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		streams, err := counting.MonthStreams(ctx, st, "2026-11")
		if err != nil {
			b.Fatal(err)
		}
		s := royalties.Compute("2026-11", eur, 100_000_000, streams)
		h := royalties.ComputeHolders("2026-11", eur, 100_000_000, streams, rights)
		if s.Streams != tracks*per || len(h.Holders) != 5050 {
			b.Fatalf("%d streams, %d holders", s.Streams, len(h.Holders))
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/statement")
}

package counting_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/audit"
	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/store/badgerstore"
)

// BenchmarkConsumer measures the consumer alone: b.N events (half of
// them streams, 400 tracks) appended to a Badger log before the timer,
// then counted with Step in transactions of 1,000
// (SEGUE_COUNTING_LOAD_CONSUMER_BATCH to compare) with the audit chain
// (checkpoints every 1,000) as `segue relay` runs it. users=16: batches of
// 1,000 events from 16 users in turn; users=100000: batches of 10 events
// from 100,000 users in turn, so the consumer's per-(user, month) state
// (the country a user's month is counted under, cnt/um) is looked up for
// a user it has not seen in the run at every batch until the users wrap.
// It reports consumer CPU per event (consumer-µs/event, process CPU while
// counting) and events/s.
func BenchmarkConsumer(b *testing.B) {
	for _, c := range []struct{ users, perBatch int }{{16, 1000}, {100_000, 10}} {
		b.Run(fmt.Sprintf("users=%d", c.users), func(b *testing.B) { benchConsumer(b, c.users, c.perBatch) })
	}
}

func benchConsumer(b *testing.B, users, perBatch int) {
	ctx := context.Background()
	st, err := badgerstore.Open(ctx, b.TempDir(), badgerstore.DefaultOptions().WithLogger(nil))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	lg := events.NewStoreLog(st)
	started := time.Now().Add(-time.Hour).UnixMilli()
	for lo := 0; lo < b.N; lo += perBatch {
		n := min(perBatch, b.N-lo)
		evs := make([]api.PlayRecord, n)
		for i := range evs {
			seq := uint64(lo + i)
			evs[i] = api.PlayRecord{Seq: seq, Track: model.TrackID(fmt.Sprint("track", seq*7919%400)), Tier: model.TierLow,
				StartedAt: started, PlayedMs: int64(seq * 7919 % 60000), EndReason: model.EndCompleted, Source: model.SourceStream}
		}
		user := model.UserID(fmt.Sprint("user", lo/perBatch%users))
		if _, err := lg.Append(ctx, events.Batch{Device: model.DeviceID(user + "-dev"), User: user, Received: started,
			Message: []byte("m"), Sig: []byte("s"), Events: evs}); err != nil {
			b.Fatal(err)
		}
	}
	_, key, _ := ed25519.GenerateKey(nil)
	opts := counting.DefaultOptions().WithLogger(nil)
	if n, err := strconv.Atoi(os.Getenv(loadEnv + "_CONSUMER_BATCH")); err == nil {
		opts = opts.WithConsumerBatch(n)
	}
	svc := counting.New(st, lg, nil, audit.NewChain(st, key, 0, nil), opts)
	b.ResetTimer()
	cpu := cpuSelf(b)
	total := 0
	for total < b.N {
		n, err := svc.Step(ctx)
		if err != nil {
			b.Fatal(err)
		}
		total += n
	}
	cpu = cpuSelf(b) - cpu
	b.StopTimer()
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "consumer-µs/event")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

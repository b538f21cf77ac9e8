package relaysync

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/sync/wire/peer"
)

// TestBucketAnswersOnCredit: a remote may send its own messages at the
// configured rate (with the burst) and, on top, answer every message the
// relay pushed to it — up to owedPerBurst × burst unanswered — before it
// is refused with ErrRateLimited.
func TestBucketAnswersOnCredit(t *testing.T) {
	for _, c := range []struct {
		name    string
		credits int           // messages the relay pushed first
		elapsed time.Duration // time between the credits and the burst
		want    int           // messages admitted in one instant
		counts  string        // what the refusal says was admitted
	}{
		{"own burst only", 0, 0, 200, "200 of its own and 0 answers in 0 s"},
		{"answers on top of the burst", 500, 0, 700, "200 of its own and 500 answers in 0 s"},
		{"credit is capped", 5000, 0, 200 + 2000, "200 of its own and 2000 answers in 0 s"},
		{"refill at the rate, capped at the burst", 0, 10 * time.Second, 200, "200 of its own and 0 answers in 10 s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			now := time.Unix(0, 0)
			b := newBucket(100, 200, func() time.Time { return now })
			for range c.credits {
				b.credit()
			}
			now = now.Add(c.elapsed)
			got := 0
			var err error
			for got < 10_000 {
				if err = b.allow(); err != nil {
					break
				}
				got++
			}
			if got != c.want {
				t.Fatalf("admitted %d messages, want %d", got, c.want)
			}
			if !errors.Is(err, ErrRateLimited) || !errors.Is(err, peer.ErrLimit) || !strings.Contains(err.Error(), "100 messages/s") {
				t.Fatalf("refusal %v: want ErrRateLimited (a peer.ErrLimit) naming the rate", err)
			}
			if !strings.HasSuffix(err.Error(), c.counts) {
				t.Fatalf("refusal %q: want it to end %q", err, c.counts)
			}
		})
	}
}

// TestBucketBusyFollower: a follower pushed 500 sync messages per second
// (its documents' changes) answers each one and sends 50 of its own per
// second, for ten seconds, without being refused; a remote that sends
// 150 of its own per second with the same answers is refused within the
// first few seconds.
func TestBucketBusyFollower(t *testing.T) {
	run := func(own float64) (refusedAt time.Duration) {
		now := time.Unix(0, 0)
		b := newBucket(100, 200, func() time.Time { return now })
		const tick = 10 * time.Millisecond
		pending := 0.0
		for step := time.Duration(0); step < 10*time.Second; step += tick {
			now = time.Unix(0, 0).Add(step)
			for range 5 { // 500/s from the relay, each answered
				b.credit()
				if err := b.allow(); err != nil {
					return step
				}
			}
			for pending += own * tick.Seconds(); pending >= 1; pending-- {
				if err := b.allow(); err != nil {
					return step
				}
			}
		}
		return -1
	}
	if at := run(50); at >= 0 {
		t.Fatalf("busy follower refused at %v", at)
	}
	if at := run(150); at < 0 || at > 5*time.Second {
		t.Fatalf("remote over its own rate refused at %v, want within 5 s", at)
	}
}

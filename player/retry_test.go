package player

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/retryafter"
)

// TestRetryWait: the wait after a failed fetch is the backoff, or the
// relay's Retry-After when the error carries a longer one (found through
// wrapping), capped at retryafter.Max and at the stall deadline.
func TestRetryWait(t *testing.T) {
	busy := func(after time.Duration) error {
		return fmt.Errorf("fetch: chunk 3: %w", &retryafter.Error{Status: 503, After: after})
	}
	cases := []struct {
		name    string
		backoff time.Duration
		err     error
		left    time.Duration
		want    time.Duration
	}{
		{"plain error: backoff", 50 * time.Millisecond, errors.New("connection reset"), time.Minute, 50 * time.Millisecond},
		{"refusal without a wait: backoff", 50 * time.Millisecond, busy(0), time.Minute, 50 * time.Millisecond},
		{"retry-after longer than the backoff", 50 * time.Millisecond, busy(7 * time.Second), time.Minute, 7 * time.Second},
		{"retry-after shorter than the backoff", time.Second, busy(time.Millisecond), time.Minute, time.Second},
		{"retry-after capped at retryafter.Max", time.Second, busy(10 * 24 * time.Hour), time.Hour, retryafter.Max},
		{"retry-after capped at the stall deadline", 50 * time.Millisecond, busy(7 * time.Second), 2 * time.Second, 2 * time.Second},
		{"backoff capped at the stall deadline", time.Second, errors.New("timeout"), 300 * time.Millisecond, 300 * time.Millisecond},
		{"deadline already past", time.Second, busy(7 * time.Second), -time.Millisecond, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := retryWait(c.backoff, c.err, c.left); got != c.want {
				t.Errorf("retryWait(%v, %v, %v) = %v, want %v", c.backoff, c.err, c.left, got, c.want)
			}
		})
	}
}

// busyRelay refuses every fetch made within window of its first one
// with a 503 naming after as its Retry-After, and serves the ones after.
type busyRelay struct {
	window, after time.Duration
	first         time.Time
	attempts      int
}

func (r *busyRelay) fetch(context.Context) error {
	r.attempts++
	if r.first.IsZero() {
		r.first = time.Now()
	}
	if time.Since(r.first) < r.window {
		return fmt.Errorf("fetch: %w", &retryafter.Error{Status: 503, After: r.after})
	}
	return nil
}

// funcSource opens a one-chunk track once open succeeds.
type funcSource func(context.Context) error

func (f funcSource) OpenTrack(ctx context.Context, id model.TrackID, tier model.Tier) (TrackSource, error) {
	if err := f(ctx); err != nil {
		return nil, err
	}
	return oneChunk{&model.Manifest{Version: model.ManifestVersion, Codec: model.CodecVorbis, Tier: tier,
		TrackID: id, SampleRate: 44100, Channels: 2, TotalSamples: 1, Header: model.BlobRef{Size: 1},
		Chunks: []model.Chunk{{Samples: 1, Blob: model.BlobRef{Size: 1}}}}}, nil
}

type oneChunk struct{ m *model.Manifest }

func (o oneChunk) Manifest() *model.Manifest                { return o.m }
func (oneChunk) Header(context.Context) ([]byte, error)     { return nil, nil }
func (oneChunk) Chunk(context.Context, int) ([]byte, error) { return nil, nil }
func (oneChunk) Close() error                               { return nil }

// TestStallHonoursRetryAfter: both stall loops — a chunk's (decoder)
// and a track's opening — wait at least the relay's Retry-After before
// the next attempt, so a relay refusing for 300 ms is asked twice, not
// at every 50 ms backoff step (4 times before); a Retry-After beyond the
// stall deadline waits only until the deadline, tries once more there
// and fails the track with the refusal; a refusal naming no wait keeps
// the backoff. Real time, small values: the assertions are attempt
// counts, and the context's 20 s bound only turns a wait past the
// deadline into a failure instead of a hang.
func TestStallHonoursRetryAfter(t *testing.T) {
	loops := map[string]func(ctx context.Context, o Options, get func(context.Context) error) error{
		"decoder": func(ctx context.Context, o Options, get func(context.Context) error) error {
			d := &decoder{opts: o, wake: func() {}}
			_, err := retry(ctx, d, func(ctx context.Context) ([]byte, bool, error) { return nil, false, get(ctx) })
			return err
		},
		"open": func(ctx context.Context, o Options, get func(context.Context) error) error {
			p := &Player{opts: o, src: funcSource(get)}
			_, err := p.openTrack(ctx, "t", model.TierHigh)
			return err
		},
	}
	cases := []struct {
		name          string
		window, after time.Duration
		stall         time.Duration
		attempts      func(int) bool
		want          string
		fails         bool
	}{
		{"retry-after honoured", 300 * time.Millisecond, 300 * time.Millisecond, 30 * time.Second,
			func(n int) bool { return n == 2 }, "2", false},
		{"retry-after capped at the stall deadline", time.Hour, time.Hour, 300 * time.Millisecond,
			func(n int) bool { return n == 2 }, "2", true},
		{"no retry-after: backoff", 600 * time.Millisecond, 0, 30 * time.Second,
			func(n int) bool { return n >= 3 }, "at least 3", false},
	}
	for loop, run := range loops {
		for _, c := range cases {
			t.Run(loop+"/"+c.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				r := &busyRelay{window: c.window, after: c.after}
				err := run(ctx, DefaultOptions().WithStallTimeout(c.stall), r.fetch)
				if errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("still waiting after 20 s (%d attempts): past the stall deadline", r.attempts)
				}
				if c.fails != (err != nil) {
					t.Fatalf("err = %v, want failure %v", err, c.fails)
				}
				if c.fails && (!errors.Is(err, retryafter.ErrRetryLater) || !strings.Contains(err.Error(), "stalled")) {
					t.Errorf("err = %v, want a stall ending on the refusal", err)
				}
				if !c.attempts(r.attempts) {
					t.Errorf("%d attempts, want %s", r.attempts, c.want)
				}
			})
		}
	}
}

package relayrecs_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/recs/relayrecs"
)

// TestSimilarAfterFailedTraining: while no model exists and training
// fails (here the play source; a bad Spark directory likewise), similar-
// tracks requests do not each retrain (each one a walk of the catalog
// and of a year of plays): the first one trains and fails, the next ones
// within a minute fail at once with ErrNoModel, and one after the minute
// trains again.
func TestSimilarAfterFailedTraining(t *testing.T) {
	f := newFixture(t, "alice")
	var reads atomic.Int32
	plays := func(ctx context.Context, from, to time.Time) (map[model.UserID]map[model.TrackID]uint64, error) {
		reads.Add(1)
		return nil, errors.New("counting store unavailable")
	}
	svc := relayrecs.New(f.st, f.cat, f.docs, plays, relayrecs.DefaultOptions().WithClock(f.clk.now).WithLogger(slog.New(slog.DiscardHandler)))
	ctx := t.Context()
	if _, err := svc.Similar(ctx, "t000-00", 10); err == nil || errors.Is(err, relayrecs.ErrNoModel) {
		t.Fatalf("first request: %v, want the training's error", err)
	}
	for range 20 {
		if _, err := svc.Similar(ctx, "t000-00", 10); !errors.Is(err, relayrecs.ErrNoModel) {
			t.Fatalf("request after a failed training: %v, want ErrNoModel", err)
		}
	}
	if n := reads.Load(); n != 1 {
		t.Fatalf("%d trainings for 21 requests within a minute, want 1", n)
	}
	f.clk.advance(time.Minute)
	if _, err := svc.Similar(ctx, "t000-00", 10); err == nil || errors.Is(err, relayrecs.ErrNoModel) {
		t.Fatalf("request a minute later: %v, want a new training's error", err)
	}
	if n := reads.Load(); n != 2 {
		t.Fatalf("%d trainings, want 2", n)
	}
}

// TestSimilarAfterFailedTrainingHTTP: over a real relay, the request that
// trains and fails is 500; the next ones within the minute are 503.
func TestSimilarAfterFailedTrainingHTTP(t *testing.T) {
	var reads atomic.Int32
	r, _ := startRelay(t, func(context.Context, time.Time, time.Time) (map[model.UserID]map[model.TrackID]uint64, error) {
		reads.Add(1)
		return nil, errors.New("counting store unavailable")
	}, &clock{t: epoch})
	alice := testbed.Device(t, r, "alice")
	for i, want := range []int{500, 503, 503} {
		req, err := http.NewRequestWithContext(t.Context(), "GET", r.URL+"/v1/tracks/"+string(r.Tracks[0])+"/similar", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+alice.Token())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("request %d: %d, want %d", i, resp.StatusCode, want)
		}
	}
	if n := reads.Load(); n != 1 {
		t.Fatalf("%d trainings, want 1", n)
	}
}

// TestSimilarRateLimit: each user gets SimilarRateBurst similar-tracks
// answers at once, then 429 with Retry-After until a token comes back
// (one every SimilarRateEvery); another user is not held back.
func TestSimilarRateLimit(t *testing.T) {
	clk := &clock{t: epoch}
	var r *testbed.Relay
	r, _ = startRelay(t, func(ctx context.Context, from, to time.Time) (map[model.UserID]map[model.TrackID]uint64, error) {
		return demoPlays(r)(ctx, from, to)
	}, clk)
	alice, bob := testbed.Device(t, r, "alice"), testbed.Device(t, r, "bob")
	get := func(e interface{ Token() string }) (int, string) {
		req, err := http.NewRequestWithContext(t.Context(), "GET", r.URL+"/v1/tracks/"+string(r.Tracks[0])+"/similar", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+e.Token())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	for i := range relayrecs.SimilarRateBurst {
		if code, _ := get(alice); code != 200 {
			t.Fatalf("request %d: %d, want 200", i, code)
		}
	}
	if code, after := get(alice); code != 429 || after != "1" {
		t.Fatalf("request past the burst: %d Retry-After %q, want 429 and 1", code, after)
	}
	if code, _ := get(bob); code != 200 {
		t.Fatalf("bob: %d, want 200", code)
	}
	clk.advance(relayrecs.SimilarRateEvery)
	if code, _ := get(alice); code != 200 {
		t.Fatalf("after SimilarRateEvery: %d, want 200", code)
	}
}

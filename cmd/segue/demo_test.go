package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestDemo runs `segue demo` exactly as a user would (in-process) and checks
// its report: every track/tier stream verified and decoded to its exact
// length, within the one-minute budget.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	t0 := time.Now()
	code := run(ctx, []string{"demo", "-dir", t.TempDir()}, &out, &errb)
	elapsed := time.Since(t0)
	if code != 0 {
		t.Fatalf("segue demo exited %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
	}
	report := out.String()
	for _, want := range []string{
		"ingested 4 tracks × 4 tiers",
		"relay listening on http://127.0.0.1:",
		`search: "harbuor ligts" → top hit track "Harbour Lights" by Segue Ensemble`,
		"all 16 streams verified",
		"edge: listener 1 fetched \"Arrival\" (high, 6 objects)",
		"0 hits, 6 misses",
		"6 hits, 0 misses",
		"edge: hit ratio 0.50 by objects (6 hits / 6 misses), 0.50 by bytes",
		"gap 0 samples",
		"plays: 6 uploaded, signed by the device: 6 accepted, 0 rejected",
		"as soon as it started",
		"counting: 4 streams in",
		"pool 1.00 EUR over 4 streams → 0.25 EUR",
		"audit: 4 hash-chained records intact",
		"bob's device received it",
		"converged on both devices",
		`cleo's device synced it through her library: "Discover Weekly": Harbour Lights, Segue`,
		"editing it is refused",
		"social: bob sees ada playing \"Segue\"",
		"social: ada shares the track: http://127.0.0.1:",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("demo report lacks %q:\n%s", want, report)
		}
	}
	// Nothing fails on the way out: services flush before the relay's
	// store closes (the social service's activity writer once did not).
	if strings.Contains(errb.String(), "level=ERROR") {
		t.Errorf("demo logged an error:\n%s", errb.String())
	}
	if strings.Contains(report, "MISMATCH") {
		t.Errorf("demo reports a length mismatch:\n%s", report)
	}
	if elapsed > time.Minute {
		t.Errorf("demo took %v, budget is one minute", elapsed)
	}
}

func TestDemoRejectsArguments(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"demo", "extra"}, &out, &errb); code != 2 {
		t.Fatalf("exit code %d, want 2 (usage)", code)
	}
}

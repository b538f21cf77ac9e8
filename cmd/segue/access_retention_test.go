package main

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/access"
	"github.com/segue-fm/segue/server/catalog"
)

// writeAccess writes one chunk record at each of times into the relay
// data directory dir (relay stopped).
func writeAccess(t *testing.T, dir string, times ...time.Time) {
	t.Helper()
	ctx := context.Background()
	dd, err := catalog.OpenDataDir(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer dd.Close()
	w := access.NewStoreWriter(dd.Store, access.DefaultOptions())
	for _, at := range times {
		r := access.Record{Kind: access.KindChunk, Time: at.UnixMilli(), Device: model.DeviceID("dev-1"), Track: "tr1", Tier: "high", Bytes: 1}
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// countAccess returns how many access records dir's store holds from
// `from` on, or the scan's error.
func countAccess(t *testing.T, dir string, from time.Time) (int, error) {
	t.Helper()
	ctx := context.Background()
	dd, err := catalog.OpenDataDir(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer dd.Close()
	n := 0
	err = access.NewStoreReader(dd.Store).Scan(ctx, from, time.Now().Add(time.Hour), func(access.Record) error { n++; return nil })
	return n, err
}

// TestRelayAccessRetention: `segue relay --access-retention 816h`
// deletes the access records of days older than that when it starts,
// keeps the recent ones, and `segue reconcile` of a day whose lookback
// reaches the deleted days fails, naming the first kept day, instead of
// reporting its streams as unbacked.
func TestRelayAccessRetention(t *testing.T) {
	data := filepath.Join(t.TempDir(), "relay")
	_, stop := startRelayS3(t, "-init", "-data", data)
	stop()
	now := time.Now()
	writeAccess(t, data, now.AddDate(0, 0, -60), now.AddDate(0, 0, -40), now.AddDate(0, 0, -2), now.Add(-time.Hour))

	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"relay", "-data", data, "-listen", "127.0.0.1:0", "-insecure-fast-passwords", "-access-retention", "816h"}, &out, &errOut)
	}()
	pruned := func() bool {
		return strings.Contains(errOut.String(), "access: pruned old records") && strings.Contains(out.String(), "relay listening on")
	}
	for deadline := time.Now().Add(60 * time.Second); !pruned(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no prune logged: %s", errOut.String())
		}
	}
	cancel()
	if c := <-code; c != 0 {
		t.Fatalf("segue relay exited %d: %s", c, errOut.String())
	}
	if n, err := countAccess(t, data, now.AddDate(0, 0, -33)); err != nil || n != 2 {
		t.Fatalf("records kept: %d, %v; want the 2 recent ones", n, err)
	}
	if _, err := countAccess(t, data, now.AddDate(0, 0, -41)); !errors.Is(err, access.ErrPruned) {
		t.Fatalf("scan of a pruned day: %v, want ErrPruned", err)
	}
	day := now.UTC().AddDate(0, 0, -10).Format(time.DateOnly)
	var stdout, stderr syncBuffer
	err := runReconcile(context.Background(), []string{"--data", data, "--day", day}, &stdout, &stderr)
	if !errors.Is(err, access.ErrPruned) {
		t.Fatalf("reconcile of %s with the default 32-day lookback: %v, want ErrPruned", day, err)
	}
	if err := runReconcile(context.Background(), []string{"--data", data, "--day", day, "--lookback", "24h"}, &stdout, &stderr); err != nil {
		t.Fatalf("reconcile of %s with a lookback inside the kept days: %v", day, err)
	}
}

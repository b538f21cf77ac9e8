package download_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
)

// itemFailures returns the Failed of ref's status.
func itemFailures(t *testing.T, dl *download.Manager, ref download.Ref) []download.TrackFailure {
	t.Helper()
	st, err := dl.Status(waitCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range st.Items {
		if it.Ref == ref {
			return it.Failed
		}
	}
	t.Fatalf("%s not in status", ref)
	return nil
}

// TestFailureCausesKept: why a track's download failed was kept in
// memory only, so a later process (`segue offline`) listed the track as
// not downloaded without a cause. Status now reports each failed track's
// cause, from the store after a close and reopen, until the track
// completes, the failed tracks are retried (adding the request again in
// the process that saw them fail; a new process retries them on its own
// and keeps the causes until they complete or fail again) or the request
// is removed.
func TestFailureCausesKept(t *testing.T) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	ref := download.Ref{Kind: download.KindAlbum, ID: string(p.album), Tier: model.TierLow}
	offline := func() download.NetworkState { return download.NetworkState{} }
	failAll := func(t *testing.T, dir string) *device {
		t.Helper()
		d := b.openDevice(t, dir, "boot1", download.DefaultOptions().WithWorkers(1))
		download.SetFreeSpace(d.dl, func() uint64 { return 0 })
		if err := d.dl.Add(ctx, ref); err != nil {
			t.Fatal(err)
		}
		if err := d.dl.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		if got := itemFailures(t, d.dl, ref); len(got) != len(p.tracks) {
			t.Fatalf("%d failed tracks reported, want %d", len(got), len(p.tracks))
		}
		return d
	}
	stored := func(t *testing.T, d *device) int {
		t.Helper()
		c, err := download.StoredFailures(d.dl)
		if err != nil {
			t.Fatal(err)
		}
		return len(c)
	}

	t.Run("reopened", func(t *testing.T) {
		dir := t.TempDir()
		failAll(t, dir).close()
		d := b.openDevice(t, dir, "boot1", download.DefaultOptions().WithNetworkState(offline))
		got := itemFailures(t, d.dl, ref)
		if len(got) != len(p.tracks) {
			t.Fatalf("after reopening: %d failed tracks reported, want %d", len(got), len(p.tracks))
		}
		for i, f := range got {
			if f.Track != p.tracks[i] || !strings.Contains(f.Cause, download.ErrNoSpace.Error()) || f.At.IsZero() {
				t.Fatalf("failure %d: %+v, want track %s, an ErrNoSpace cause and a time", i, f, p.tracks[i])
			}
		}
		d.close()
		d = b.openDevice(t, dir, "boot1", download.DefaultOptions())
		if err := d.dl.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		if got := itemFailures(t, d.dl, ref); len(got) != 0 || stored(t, d) != 0 {
			t.Fatalf("once downloaded: %d failures reported, %d stored", len(got), stored(t, d))
		}
	})
	t.Run("retried", func(t *testing.T) {
		d := failAll(t, t.TempDir())
		d.dl.SetPaused("test") // the retry stays queued
		if err := d.dl.Add(ctx, ref); err != nil {
			t.Fatal(err)
		}
		if got := itemFailures(t, d.dl, ref); len(got) != 0 || stored(t, d) != 0 {
			t.Fatalf("retried: %d failures reported, %d stored", len(got), stored(t, d))
		}
	})
	t.Run("removed", func(t *testing.T) {
		dir := t.TempDir()
		failAll(t, dir).close()
		d := b.openDevice(t, dir, "boot1", download.DefaultOptions().WithNetworkState(offline))
		if err := d.dl.Remove(ctx, ref); err != nil {
			t.Fatal(err)
		}
		if n := stored(t, d); n != 0 {
			t.Fatalf("removed: %d failures stored", n)
		}
	})
}

// TestFailureCauseBounds: the store keeps at most MaxStoredFailures
// causes, each at most MaxFailureCause bytes cut at a rune boundary, and
// a reopened manager drops the causes of jobs it does not hold.
func TestFailureCauseBounds(t *testing.T) {
	b, _ := demoBed(t)
	dir := t.TempDir()
	offline := download.DefaultOptions().WithNetworkState(func() download.NetworkState { return download.NetworkState{} })
	d := b.openDevice(t, dir, "boot1", offline)
	long := errors.New(strings.Repeat("é", download.MaxFailureCause))
	for i := range download.MaxStoredFailures + 10 {
		download.RecordFailure(d.dl, model.TrackID(fmt.Sprintf("t%d", i)), model.TierLow, long)
	}
	causes, err := download.StoredFailures(d.dl)
	if err != nil {
		t.Fatal(err)
	}
	if len(causes) != download.MaxStoredFailures {
		t.Fatalf("%d causes stored, want %d", len(causes), download.MaxStoredFailures)
	}
	for _, c := range causes {
		if len(c) > download.MaxFailureCause || len(c) < download.MaxFailureCause-1 || !utf8.ValidString(c) {
			t.Fatalf("cause of %d bytes (valid UTF-8 %v), want %d cut at a rune boundary", len(c), utf8.ValidString(c), download.MaxFailureCause)
		}
	}
	d.close()
	d = b.openDevice(t, dir, "boot1", offline)
	if causes, err := download.StoredFailures(d.dl); err != nil || len(causes) != 0 {
		t.Fatalf("reopened: %d causes of no job stored (%v)", len(causes), err)
	}
}

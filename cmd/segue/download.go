package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/safetext"
	"github.com/segue-fm/segue/sync/docs"
)

func init() {
	register("download", "download tracks, albums or playlists for offline playback", runDownload)
}

// runDownload implements `segue download [device flags] [--tier T]
// [--metered] [--workers N] [--sync-wait D] [--offline-timeout D]
// track:<id>|album:<id>|playlist:<id> …`: it records the requests,
// downloads them with progress bars and exits once everything is
// downloaded (or failed), or with errOfflineTimeout once the downloads
// stayed paused offline (or "relay busy": it kept answering 429/503) for
// --offline-timeout. Tracks the relay cannot
// license (unknown, taken down, not released) are left out with their
// reason, and the rest downloads. It prints how many tracks of the
// requests, at the tier, are downloaded, and fails with
// errDownloadIncomplete when some of the others failed.
func runDownload(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("download", flag.ContinueOnError)
	fs.SetOutput(stderr)
	da := addDeviceFlags(fs)
	tier := fs.String("tier", "high", "tier: low, normal, high, very_high")
	metered := fs.Bool("metered", false, "allow downloading on a metered network")
	workers := fs.Int("workers", 4, fmt.Sprintf("download workers: tracks queued at once, 1…%d; 4 blob transfers each", download.MaxWorkers))
	syncWait := fs.Duration("sync-wait", 10*time.Second, "playlists: how long the sync with the relay before downloading may take at most")
	offlineTimeout := fs.Duration("offline-timeout", defaultOfflineTimeout, "give up (exit 1) when the relay stays unreachable (or busy: 429/503) this long with nothing downloaded meanwhile (a later segue download resumes); 0 waits for ever")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: segue download [flags] track:<id>|album:<id>|playlist:<automerge url or id> ...")
		fmt.Fprintln(stderr, "A playlist download syncs the account's documents once with the relay, downloads the")
		fmt.Fprintln(stderr, "playlist's tracks and follows its edits while the command runs.")
		fs.PrintDefaults()
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	t, err := model.ParseTier(*tier)
	if err != nil {
		return fmt.Errorf("%w: --tier: %v", errUsage, err)
	}
	if *workers < 1 || *workers > download.MaxWorkers {
		return fmt.Errorf("%w: --workers %d: want 1…%d", errUsage, *workers, download.MaxWorkers)
	}
	if *syncWait <= 0 {
		return fmt.Errorf("%w: --sync-wait %s: want a positive duration", errUsage, *syncWait)
	}
	if *offlineTimeout < 0 {
		return fmt.Errorf("%w: --offline-timeout %s: want ≥ 0 (0 waits for ever)", errUsage, *offlineTimeout)
	}
	if len(pos) == 0 {
		return fmt.Errorf("%w: name at least one track:<id>, album:<id> or playlist:<id>", errUsage)
	}
	var refs []download.Ref
	var playlists []docs.DocumentID
	for _, a := range pos {
		ref, doc, err := parseDownloadRef(a, t)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		refs = append(refs, ref)
		if ref.Kind == download.KindPlaylist {
			playlists = append(playlists, doc)
		}
	}
	prog := newStepLog(stderr)
	dev, err := da.open(ctx)
	if err != nil {
		return err
	}
	defer dev.closeInto(&err) // downloads and documents too
	e := dev.e
	bars := newDLProgress(prog)
	wctx, giveUp := context.WithCancelCause(ctx)
	defer giveUp(nil)
	watch := &offlineWatch{limit: *offlineTimeout, giveUp: giveUp}
	defer watch.stop()
	events := func(ev download.Event) {
		bars.event(ev)
		watch.event(ev)
	}
	m, err := dev.downloads(ctx, download.DefaultOptions().WithWorkers(*workers).WithAllowMetered(*metered).WithEvents(events), "")
	if err != nil {
		return err
	}
	if err := m.SetAllowMetered(ctx, *metered); err != nil {
		return err
	}
	if len(playlists) > 0 {
		d, err := dev.docs(ctx)
		if err != nil {
			return err
		}
		if err := followPlaylists(ctx, e, d, playlists, *syncWait, prog); err != nil {
			return err
		}
	}
	before, err := m.Status(ctx)
	if err != nil {
		return err
	}
	start := prog.elapsed()
	for _, r := range refs {
		if err := m.Add(ctx, r); err != nil {
			return err
		}
		prog.step("queued %s", r)
	}
	if err := m.Wait(wctx, refs...); err != nil {
		if cause := context.Cause(wctx); (errors.Is(cause, errOfflineTimeout) || errors.Is(cause, errBusyTimeout)) && ctx.Err() == nil {
			return offlineGiveUp(ctx, m, refs, *offlineTimeout, cause, stdout)
		}
		return deviceLimitHint(err)
	}
	// Index what was downloaded now, while the relay can name its
	// artists, so `segue search` finds it offline.
	if _, err := e.RefreshSearchIndex(ctx, nil); err != nil {
		prog.step("offline search index not updated: %v", err)
	}
	st, err := m.Status(ctx)
	if err != nil {
		return err
	}
	// The tracks of the requests named, at this tier: what the command
	// made available offline, whatever else the device holds.
	c := m.Count(refs...)
	left := ""
	if c.Unavailable > 0 {
		left = fmt.Sprintf(", %d unavailable", c.Unavailable)
	}
	fmt.Fprintf(stdout, "%d/%d tracks%s, %s in %s\n", c.Done, c.Tracks, left, humanBytes(st.Bytes-before.Bytes), seconds(prog.elapsed()-start))
	if c.Done < c.Tracks {
		return fmt.Errorf("%w: %d of %d tracks failed (causes above; run the command again to retry them)", errDownloadIncomplete, c.Tracks-c.Done, c.Tracks)
	}
	return nil
}

// errDownloadIncomplete: `segue download` ended with tracks of its
// requests neither downloaded nor unavailable (their download failed: a
// full disk, a blob failing its check); it exits 1.
var errDownloadIncomplete = errors.New("download incomplete")

// defaultOfflineTimeout is how long `segue download` waits, by default,
// for an unreachable relay before it gives up (--offline-timeout).
const defaultOfflineTimeout = 2 * time.Minute

// errOfflineTimeout: `segue download` gave up because the downloads
// stayed paused offline (every origin unreachable) for --offline-timeout
// with no progress; it exits 1. What was downloaded is kept and a later
// `segue download` resumes the rest.
var errOfflineTimeout = errors.New("relay unreachable")

// errBusyTimeout: as errOfflineTimeout, for downloads paused because the
// relay kept refusing for now (429/503: download.PausedRelayBusy).
var errBusyTimeout = errors.New("relay busy")

// offlineWatch cancels a download's wait (giveUp with
// errOfflineTimeout, or errBusyTimeout for a busy relay) once the
// downloads stayed paused offline or "relay busy" for limit with no
// progress: armed by such a pause, pushed back by every progress event,
// disarmed when the downloads resume or pause for another reason. A
// limit of 0 never gives up.
type offlineWatch struct {
	limit  time.Duration
	giveUp context.CancelCauseFunc

	mu    sync.Mutex
	timer *time.Timer
}

// event updates the watch with a download event; it does not block.
func (w *offlineWatch) event(e download.Event) {
	if w.limit <= 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch e.Kind {
	case download.EventPaused:
		cause := errOfflineTimeout
		switch {
		case e.Reason == download.PausedRelayBusy:
			cause = errBusyTimeout
		case e.Reason != "offline":
			w.stopLocked()
			return
		}
		w.stopLocked()
		w.timer = time.AfterFunc(w.limit, func() { w.giveUp(cause) })
	case download.EventResumed:
		w.stopLocked()
	case download.EventProgress, download.EventTrackDone:
		if w.timer != nil {
			w.timer.Reset(w.limit)
		}
	}
}

// stop disarms the watch.
func (w *offlineWatch) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopLocked()
}

func (w *offlineWatch) stopLocked() {
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
}

// offlineGiveUp reports a download that gave up on an unreachable or
// busy relay (cause): the usual count line on stdout, and an error
// saying what is downloaded, what is left and that a later run resumes.
func offlineGiveUp(ctx context.Context, m *download.Manager, refs []download.Ref, limit time.Duration, cause error, stdout io.Writer) error {
	c := m.Count(refs...)
	fmt.Fprintf(stdout, "%d/%d tracks\n", c.Done, c.Tracks)
	st, err := m.Status(ctx)
	if err != nil {
		return err
	}
	done := fmt.Sprintf("%d of %d tracks downloaded, %d left", c.Done, c.Tracks, c.Tracks-c.Done)
	var unresolved []string
	for _, it := range st.Items {
		if !it.Resolved && slices.Contains(refs, it.Ref) {
			unresolved = append(unresolved, it.Ref.String())
		}
	}
	if len(unresolved) > 0 {
		done += fmt.Sprintf(", not resolved yet (tracks unknown): %s", strings.Join(unresolved, ", "))
	}
	return fmt.Errorf("%w for %s (--offline-timeout), gave up: %s; what is downloaded is kept and `segue download` run again resumes the rest", cause, limit, done)
}

// deviceLimitHint adds to a refusal for the account's offline-device
// limit how to see and free a slot.
func deviceLimitHint(err error) error {
	if errors.Is(err, download.ErrDeviceLimit) {
		return fmt.Errorf("%w (`segue offline --devices` lists the account's offline devices; `segue offline --deregister ID` frees one)", err)
	}
	return err
}

// parseDownloadRef parses track:<id>, album:<id> or playlist:<automerge
// URL or document id>; for a playlist it also returns the document id
// (the Ref's ID is its canonical string, as Engine.FollowPlaylists
// resolves it).
func parseDownloadRef(a string, t model.Tier) (download.Ref, docs.DocumentID, error) {
	kind, id, ok := strings.Cut(a, ":")
	if !ok || id == "" {
		return download.Ref{}, docs.DocumentID{}, fmt.Errorf("%s: want track:<id>, album:<id> or playlist:<id>", quoteArg(a))
	}
	switch download.Kind(kind) {
	case download.KindTrack, download.KindAlbum:
		if !model.ValidID(id) {
			return download.Ref{}, docs.DocumentID{}, fmt.Errorf("%s: %w", quoteArg(a), errBadID)
		}
		return download.Ref{Kind: download.Kind(kind), ID: id, Tier: t}, docs.DocumentID{}, nil
	case download.KindPlaylist:
		doc, err := parseDocID(id)
		if err != nil {
			return download.Ref{}, docs.DocumentID{}, fmt.Errorf("%s: %v", quoteArg(a), err)
		}
		return download.Ref{Kind: download.KindPlaylist, ID: doc.String(), Tier: t}, doc, nil
	}
	return download.Ref{}, docs.DocumentID{}, fmt.Errorf("%s: want track:<id>, album:<id> or playlist:<id>", quoteArg(a))
}

// errBadID: a track or album id that no catalog holds (empty, over
// model.MaxIDLen bytes, or with '/' or NUL).
var errBadID = fmt.Errorf("not a track or album id (at most %d bytes, no '/' or NUL)", model.MaxIDLen)

// maxQuoted bounds how much of an argument an error message quotes.
const maxQuoted = 64

// quoteArg quotes a command-line argument for an error message: at most
// maxQuoted bytes of it (cut at a rune boundary), then its length.
func quoteArg(a string) string {
	if len(a) <= maxQuoted {
		return strconv.Quote(a)
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(safetext.Cut(a, maxQuoted)), len(a))
}

// followPlaylists brings d in sync with the relay (Docs.WaitInSync, at
// most wait; without a relay the local replica is used), follows playlists this device does
// not hold yet (so the relay sends them) and makes the downloads follow
// the playlist documents (Engine.FollowPlaylists).
func followPlaylists(ctx context.Context, e *core.Engine, d *core.Docs, ids []docs.DocumentID, wait time.Duration, prog *stepLog) error {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	start := time.Now()
	if err := d.StartSync(ctx); err != nil {
		return err
	}
	synced := d.WaitInSync(wctx) == nil
	if synced {
		prog.step("synced playlists with the relay in %s", seconds(time.Since(start)))
	} else {
		prog.step("sync with the relay did not finish; using the playlists as this device holds them")
	}
	pl := d.Playlists()
	for _, id := range ids {
		if _, err := pl.Get(ctx, id); !errors.Is(err, core.ErrNotPlaylist) {
			continue
		}
		if err := pl.Follow(ctx, id); err != nil {
			return err
		}
		for synced {
			if _, err := pl.Get(ctx, id); !errors.Is(err, core.ErrNotPlaylist) {
				break
			}
			select {
			case <-wctx.Done():
				return fmt.Errorf("playlist %s: not on this device and not received from the relay: %w", id, core.ErrNotPlaylist)
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return e.FollowPlaylists(ctx, d)
}

// dlProgress reports a download's events as progress lines: each
// track's bar in 10% steps and when it is done, pauses and failures.
type dlProgress struct {
	p    *stepLog
	mu   sync.Mutex
	last map[string]int
	done int
}

func newDLProgress(p *stepLog) *dlProgress { return &dlProgress{p: p, last: map[string]int{}} }

func (d *dlProgress) event(e download.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := string(e.Track) + "/" + string(e.Tier)
	switch e.Kind {
	case download.EventProgress:
		if e.Bytes == 0 {
			return
		}
		pct := int(100 * e.BytesDone / e.Bytes)
		if last, seen := d.last[k]; seen && pct/10 == last/10 && pct != 100 {
			return
		}
		d.last[k] = pct
		d.p.step("%-22s [%-20s] %3d%% %s", k, strings.Repeat("#", pct/5), pct, humanBytes(e.Bytes))
	case download.EventTrackDone:
		d.done++
		d.p.step("%-22s done (%d so far)", k, d.done)
	case download.EventPaused:
		d.p.step("paused: %s (will resume)", e.Reason)
	case download.EventResumed:
		d.p.step("resumed")
	case download.EventUnavailable:
		d.p.step("%-22s unavailable (%s): left out of %s", k, e.Reason, e.Ref)
	case download.EventFailed:
		d.p.step("failed: %v", e.Err)
	}
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

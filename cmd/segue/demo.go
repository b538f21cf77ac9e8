package main

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/player/vorbis"
	"github.com/segue-fm/segue/player/wav"
	"github.com/segue-fm/segue/server/access"
	"github.com/segue-fm/segue/server/audit"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/edge"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/server/ingest"
	"github.com/segue-fm/segue/server/license"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/server/royalties"
	"github.com/segue-fm/segue/server/search"
	"github.com/segue-fm/segue/server/web"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
)

func init() {
	register("demo", "ingest the demo album, start a relay on loopback, stream and check every track", runDemo)
}

// errDemoCheck marks a demo run whose own checks failed.
var errDemoCheck = errors.New("demo check failed")

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "working directory for the relay and device data, kept (default: a new temporary directory, removed at the end); an earlier demo's data there is replaced")
	keep := fs.Bool("keep", false, "keep the working directory")
	verbose := fs.Bool("v", false, "log relay and engine details")
	serve := fs.Bool("serve", false, "after the demo, keep the relay and its web player serving until Ctrl-C")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: segue demo [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: demo takes no arguments", errUsage)
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	work := *dir
	if work == "" {
		d, err := os.MkdirTemp("", "segue-demo-")
		if err != nil {
			return fmt.Errorf("create working directory in %s ($TMPDIR; or pass -dir): %w", os.TempDir(), err)
		}
		work = d
		if !*keep {
			defer os.RemoveAll(work)
		}
	}
	replaced, lock, err := prepareDemoDir(work)
	if err != nil {
		return err
	}
	defer lock.Close()
	d := &demo{out: stdout, log: logger, work: work, start: time.Now(), serve: *serve, replaced: replaced}
	return d.run(ctx)
}

// demo is one run of `segue demo`; each step prints its progress.
type demo struct {
	out   io.Writer
	log   *slog.Logger
	work  string
	start time.Time
	// replaced are the entries of an earlier demo removed from work
	// (prepareDemoDir).
	replaced []string

	data   *catalog.DataDir
	relay  *relay.Server
	url    string
	tracks []model.Track
	engine *core.Engine
	counts *counting.Service
	// access receives the relay's access records (audio served, licenses
	// issued), as `segue relay` writes them, so `segue reconcile` on a
	// kept demo directory finds the audio behind its streams.
	access access.Writer
	clock  *audioClock // play events' clock, from playAlbum on
	serve  bool        // -serve: keep serving after the demo (demo_web.go)
}

// demoThreshold is the demo relay's stream threshold: the demo album's
// tracks last about 15 s, under the relay's default 30 s, so the demo
// counts from 10 s.
const demoThreshold = 10 * time.Second

func (d *demo) step(format string, a ...any) {
	fmt.Fprintf(d.out, "[%6.2fs] %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, a...))
}

func (d *demo) run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fmt.Fprintf(d.out, "Segue demo — working in %s\n", d.work)
	if len(d.replaced) > 0 {
		fmt.Fprintf(d.out, "removed the earlier demo's data there (%s): this run starts afresh\n", strings.Join(d.replaced, ", "))
	}
	if err := d.ingest(ctx); err != nil {
		return fmt.Errorf("ingest demo album: %w", err)
	}
	defer d.data.Close()
	if err := d.startRelay(ctx); err != nil {
		return fmt.Errorf("start relay: %w", err)
	}
	defer func() {
		cancel()
		d.relay.Wait()
		if err := d.access.Close(); err != nil {
			d.log.Error("demo: write access records", "err", err)
		}
	}()
	if err := d.openDevice(ctx); err != nil {
		return fmt.Errorf("open device: %w", err)
	}
	defer d.engine.Close()
	if err := d.searchTypo(ctx); err != nil {
		return fmt.Errorf("search: %w", err)
	}
	if err := d.streamAll(ctx); err != nil {
		return err
	}
	if err := d.edgeTwice(ctx); err != nil {
		return fmt.Errorf("edge: %w", err)
	}
	if err := d.playAlbum(ctx); err != nil {
		return fmt.Errorf("play album: %w", err)
	}
	if err := d.skipTrack(ctx); err != nil {
		return fmt.Errorf("skip a track: %w", err)
	}
	if err := d.countPlays(ctx); err != nil {
		return fmt.Errorf("count plays: %w", err)
	}
	if err := d.playlistOffline(ctx); err != nil {
		return fmt.Errorf("collaborative playlist: %w", err)
	}
	if err := d.discoverWeekly(ctx); err != nil {
		return fmt.Errorf("discover weekly: %w", err)
	}
	if err := d.friendActivity(ctx); err != nil {
		return fmt.Errorf("friend activity: %w", err)
	}
	d.step("done in %.1fs", time.Since(d.start).Seconds())
	return d.webPlayer(ctx)
}

func (d *demo) ingest(ctx context.Context) error {
	t0 := time.Now()
	dd, err := catalog.OpenDataDir(ctx, filepath.Join(d.work, "relay"))
	if err != nil {
		return err
	}
	req, err := ingest.LoadAlbum(demoalbum.FS, demoalbum.AlbumPath)
	if err != nil {
		dd.Close()
		return err
	}
	opts := ingest.DefaultOptions().WithLogger(d.log).WithProgress(func(p ingest.Progress) {
		if p.Track >= 0 && p.Stage == ingest.StageDone {
			d.step("ingest: track %d/%d %s: verified, segmented, encrypted at %d tiers", p.Track+1, p.Tracks, filepath.Base(p.File), len(model.Tiers))
		}
	})
	res, err := ingest.Ingest(ctx, dd.Catalog, dd.Signer, req, opts)
	if err != nil {
		dd.Close()
		return err
	}
	d.data = dd
	for _, tr := range res.Tracks {
		d.tracks = append(d.tracks, tr.Track)
	}
	d.step("ingested %d tracks × %d tiers in %v (%s)", len(res.Tracks), len(model.Tiers), time.Since(t0).Round(time.Millisecond), d.tracks[0].AlbumID)
	return nil
}

func (d *demo) startRelay(ctx context.Context) error {
	opts := relay.DefaultOptions(d.data.Dir).WithListen("127.0.0.1:0").WithLogger(d.log)
	srv := relay.NewWithDataDir(d.data, opts)
	acc := access.NewStoreWriter(d.data.Store, access.DefaultOptions().WithLogger(d.log))
	srv.SetAccessWriter(acc)
	web.Mount(srv.Echo())
	license.NewForDataDir(d.data, license.DefaultOptions().WithLogger(d.log).WithAccessWriter(acc)).Mount(srv)
	if _, err := search.MountForDataDir(ctx, d.data, srv); err != nil {
		srv.Close()
		acc.Close()
		return err
	}
	chain := audit.NewChain(d.data.Store, d.data.Signer, audit.DefaultCheckpointEvery, nil)
	d.counts = counting.New(d.data.Store, events.NewStoreLog(d.data.Store), d.data.Catalog, chain,
		counting.DefaultOptions().WithThreshold(demoThreshold).WithLogger(d.log))
	d.counts.Mount(srv)
	d.mountSocial(srv)
	addr, err := srv.Start(ctx)
	if err != nil {
		srv.Close()
		acc.Close()
		return err
	}
	d.relay, d.url, d.access = srv, "http://"+addr, acc
	d.step("relay listening on %s", d.url)
	return nil
}

func (d *demo) openDevice(ctx context.Context) error {
	e, err := d.newDevice(ctx, "device-1", "ada", "Ada's laptop")
	if err != nil {
		return err
	}
	d.engine = e
	return nil
}

// newDevice opens an engine in its own directory, signs the user up and
// registers the device with the relay.
func (d *demo) newDevice(ctx context.Context, dir, user, name string) (*core.Engine, error) {
	e, err := core.Open(ctx, filepath.Join(d.work, dir), core.DefaultOptions().
		WithOrigins(d.url).WithLogger(d.log))
	if err != nil {
		return nil, err
	}
	pass := "demo-password-" + user
	if err := e.SignUp(ctx, user, pass); err != nil {
		e.Close()
		return nil, err
	}
	if err := e.Register(ctx, user, pass, name); err != nil {
		e.Close()
		return nil, err
	}
	d.step("device %s registered as %s (%s)", e.DeviceID(), user, name)
	return e, nil
}

// playlistOffline shows two collaborators editing one playlist while both
// are offline, then converging through the relay: Automerge merges the
// concurrent edits with no server deciding.
func (d *demo) playlistOffline(ctx context.Context) error {
	fmt.Fprintln(d.out)
	bobEngine, err := d.newDevice(ctx, "device-2", "bob", "Bob's phone")
	if err != nil {
		return err
	}
	defer bobEngine.Close()
	ada, err := d.engine.OpenDocs(ctx, "ada")
	if err != nil {
		return err
	}
	defer ada.Close()
	bob, err := bobEngine.OpenDocs(ctx, "bob")
	if err != nil {
		return err
	}
	defer bob.Close()

	t := d.tracks
	id, err := ada.Playlists().Create(ctx, "Road trip")
	if err != nil {
		return err
	}
	if err := ada.Playlists().SetCollaborators(ctx, id, "bob"); err != nil {
		return err
	}
	if _, err := ada.Playlists().Add(ctx, id, docs.AtEnd(), t[0].ID, t[1].ID); err != nil {
		return err
	}
	for _, x := range []*core.Docs{ada, bob} {
		if err := x.StartSync(ctx); err != nil {
			return err
		}
	}
	if err := bob.Playlists().Follow(ctx, id); err != nil {
		return err
	}
	d.step("ada created %q (%s), shared it with bob; both online", "Road trip", id.URL())
	if err := waitFor(ctx, 20*time.Second, func() (bool, error) {
		v, err := bob.Playlists().Get(ctx, id)
		return err == nil && len(v.Entries) == 2, nil
	}); err != nil {
		return fmt.Errorf("bob never received the playlist: %w", err)
	}
	d.step("bob's device received it: %s", d.describe(ctx, bob, id))

	ada.StopSync()
	bob.StopSync()
	d.step("both devices go offline and edit the same playlist")
	if _, err := ada.Playlists().Add(ctx, id, docs.AtStart(), t[2].ID); err != nil {
		return err
	}
	if err := ada.Playlists().Rename(ctx, id, "Road trip (night drive)"); err != nil {
		return err
	}
	bobView, err := bob.Playlists().Get(ctx, id)
	if err != nil {
		return err
	}
	if _, err := bob.Playlists().Add(ctx, id, docs.AtEnd(), t[3].ID); err != nil {
		return err
	}
	if err := bob.Playlists().Move(ctx, id, bobView.Entries[1].ID, docs.AtStart()); err != nil {
		return err
	}
	d.step("  ada offline: %s", d.describe(ctx, ada, id))
	d.step("  bob offline: %s", d.describe(ctx, bob, id))

	for _, x := range []*core.Docs{ada, bob} {
		if err := x.StartSync(ctx); err != nil {
			return err
		}
	}
	d.step("both reconnect")
	var final string
	if err := waitFor(ctx, 20*time.Second, func() (bool, error) {
		a, err := ada.Playlists().Get(ctx, id)
		if err != nil {
			return false, err
		}
		b, err := bob.Playlists().Get(ctx, id)
		if err != nil {
			return false, err
		}
		same := len(a.Entries) == 4 && a.Info.Name == b.Info.Name &&
			slices.EqualFunc(a.Entries, b.Entries, func(x, y docs.Entry) bool { return x.ID == y.ID && x.Track == y.Track })
		return same, nil
	}); err != nil {
		return fmt.Errorf("devices did not converge: %w", err)
	}
	final = d.describe(ctx, ada, id)
	d.step("converged on both devices: %s", final)
	return nil
}

// describe renders a playlist as `"name": title, title, …`.
func (d *demo) describe(ctx context.Context, x *core.Docs, id docs.DocumentID) string {
	v, err := x.Playlists().Get(ctx, id)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	titles := make([]string, 0, len(v.Entries))
	for _, e := range v.Entries {
		titles = append(titles, d.title(e.Track))
	}
	return fmt.Sprintf("%q: %s", v.Info.Name, strings.Join(titles, ", "))
}

// waitFor polls cond every 20 ms until it holds, fails, or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// streamAll streams every track at every tier through the engine — fetch,
// verify, decrypt — decodes it with the pure-Go decoder and checks the exact
// sample count against the signed manifest.
func (d *demo) streamAll(ctx context.Context) error {
	fmt.Fprintf(d.out, "\n%-28s %-10s %8s %10s %12s %12s  %s\n", "track", "tier", "kbit/s", "first byte", "samples", "expected", "check")
	failed := 0
	for _, tr := range d.tracks {
		for _, tier := range model.Tiers {
			r, err := d.streamOne(ctx, tr, tier)
			if err != nil {
				return fmt.Errorf("stream %s %s: %w", tr.Title, tier, err)
			}
			ok := "ok"
			if r.samples != r.expected {
				ok = "MISMATCH"
				failed++
			}
			fmt.Fprintf(d.out, "%-28s %-10s %8d %10v %12d %12d  %s\n", tr.Title, tier, r.bitrate/1000, r.firstByte.Round(time.Microsecond), r.samples, r.expected, ok)
		}
	}
	fmt.Fprintln(d.out)
	if failed > 0 {
		return fmt.Errorf("%w: %d streams decoded to the wrong length", errDemoCheck, failed)
	}
	d.step("all %d streams verified, decrypted in memory and decoded to their exact length", len(d.tracks)*len(model.Tiers))
	return nil
}

type streamResult struct {
	bitrate           int
	firstByte         time.Duration
	samples, expected int64
}

func (d *demo) streamOne(ctx context.Context, tr model.Track, tier model.Tier) (streamResult, error) {
	t0 := time.Now()
	t, err := d.engine.OpenTrack(ctx, tr.ID, tier)
	if err != nil {
		return streamResult{}, err
	}
	m := t.Manifest()
	rc := t.Stream(ctx)
	defer rc.Close()
	fb := &firstByteReader{r: rc, t0: t0}
	dec := vorbis.NewStreamReader(fb, vorbis.DefaultOptions())
	var n int64
	for {
		frames, err := dec.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return streamResult{}, fmt.Errorf("decode: %w", err)
		}
		if len(frames) > 0 {
			n += int64(len(frames[0]))
		}
	}
	return streamResult{bitrate: m.Bitrate, firstByte: fb.first, samples: n, expected: m.TotalSamples}, nil
}

// playAlbum plays the whole demo album through the engine's player —
// fetch, verify, decrypt, decode, normalise, gapless mixer — into a WAV
// file, and checks that the output holds exactly the sum of the tracks'
// samples: zero samples of gap or overlap at every track boundary.
func (d *demo) playAlbum(ctx context.Context) error {
	const tier = model.TierHigh
	path := filepath.Join(d.work, "demo-album.wav")
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	rate, channels := d.tracks[0].SampleRate, d.tracks[0].Channels
	wsink, err := player.NewWAVSink(f, rate, channels, wav.S16)
	if err != nil {
		return err
	}
	d.clock = newAudioClock(rate, time.Now())
	sink := &countingSink{Sink: wsink, channels: channels, clock: d.clock}
	p, err := d.engine.OpenPlayer(sink, player.DefaultOptions().WithTier(tier).WithClock(d.clock.Now))
	if err != nil {
		return err
	}
	defer d.engine.ClosePlayer()
	updates, unsubscribe := p.Subscribe()
	defer unsubscribe()
	firstAudio := make(chan time.Duration, 1)
	t0 := time.Now()
	p.OnFirstWrite(func() { firstAudio <- time.Since(t0) })
	if err := d.engine.PlayAlbum(ctx, d.tracks[0].AlbumID, 0); err != nil {
		return err
	}
	var expected int64
	for _, tr := range d.tracks {
		expected += tr.Samples
	}
	ttfa := time.Duration(0)
	lastTrack := model.TrackID("")
	progress := time.NewTicker(500 * time.Millisecond)
	defer progress.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case t := <-firstAudio:
			ttfa = t
			d.step("play: first audio after %v (tier %s, from the relay on loopback)", t.Round(10*time.Microsecond), tier)
		case st := <-updates:
			if st.Err != nil {
				return fmt.Errorf("player: %w", st.Err)
			}
			if st.Track != "" && st.Track != lastTrack {
				lastTrack = st.Track
				d.step("play: track %d/%d %s", st.Index+1, len(d.tracks), d.title(st.Track))
			}
			done = st.State == player.StateEnded
		case <-progress.C:
			d.step("play: %.1f s of %.1f s rendered", float64(sink.frames.Load())/float64(rate), float64(expected)/float64(rate))
		}
	}
	if err := d.engine.ClosePlayer(); err != nil {
		return err
	}
	got := sink.frames.Load()
	d.step("play: album rendered to %s: %d samples, tracks sum to %d → gap %d samples; time to first audio %v",
		path, got, expected, got-expected, ttfa.Round(10*time.Microsecond))
	if got != expected {
		return fmt.Errorf("%w: rendered %d samples, want %d", errDemoCheck, got, expected)
	}
	return nil
}

// skipTrack plays the album again from its third track, skips it as
// soon as audio starts and stops right after: two short plays (the
// skipped track, the barely started next one) that countPlays must not
// count.
func (d *demo) skipTrack(ctx context.Context) error {
	if len(d.tracks) < 4 {
		return fmt.Errorf("%w: the demo album has %d tracks", errDemoCheck, len(d.tracks))
	}
	sink := &countingSink{Sink: player.NewDiscardSink(d.tracks[0].SampleRate, d.tracks[0].Channels), channels: d.tracks[0].Channels, clock: d.clock}
	p, err := d.engine.OpenPlayer(sink, player.DefaultOptions().WithClock(d.clock.Now))
	if err != nil {
		return err
	}
	defer d.engine.ClosePlayer()
	updates, unsubscribe := p.Subscribe()
	defer unsubscribe()
	stopped := make(chan error, 1)
	p.OnFirstWrite(func() {
		err := p.Next()
		if err == nil {
			err = p.Stop()
		}
		stopped <- err
	})
	if err := d.engine.PlayAlbum(ctx, d.tracks[0].AlbumID, 2); err != nil {
		return err
	}
	for sent := false; ; {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-stopped:
			if err != nil {
				return err
			}
			sent = true
		case st := <-updates:
			if st.Err != nil {
				return fmt.Errorf("player: %w", st.Err)
			}
			if sent && st.State == player.StateIdle {
				if err := d.engine.ClosePlayer(); err != nil {
					return err
				}
				d.step("play: skipped %q as soon as it started, stopped %q: plays under %v", d.tracks[2].Title, d.tracks[3].Title, demoThreshold)
				return nil
			}
		}
	}
}

// countPlays uploads the device's play history, counts it on the relay
// (each album track played through is one stream), prints a one-line
// royalty statement for the month and verifies the audit chain.
func (d *demo) countPlays(ctx context.Context) error {
	up, err := d.engine.UploadPlays(ctx)
	if err != nil {
		return err
	}
	rejected := 0
	for _, n := range up.Rejected {
		rejected += n
	}
	d.step("plays: %d uploaded, signed by the device: %d accepted, %d rejected", up.Accepted+up.Duplicate+rejected, up.Accepted, rejected)
	for {
		n, err := d.counts.Step(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	month := counting.Month(time.Now().UnixMilli())
	streams, err := counting.MonthStreams(ctx, d.data.Store, month)
	if err != nil {
		return err
	}
	eur, err := royalties.ParseCurrency("EUR")
	if err != nil {
		return err
	}
	st := royalties.Compute(month, eur, 100, streams)
	d.step("counting: %d streams in %s (plays ≥ %v count: the album's %d tracks played through, not the skipped or stopped plays)", st.Streams, month, demoThreshold, len(d.tracks))
	if st.Streams != uint64(len(d.tracks)) {
		return fmt.Errorf("%w: %d streams counted, want %d", errDemoCheck, st.Streams, len(d.tracks))
	}
	if len(st.Tracks) > 0 {
		d.step("royalties %s: pool %s EUR over %d streams → %s EUR for %s", month, st.Pool, st.Streams, st.Tracks[0].Amount, d.title(st.Tracks[0].Track))
	}
	rep, err := audit.Verify(ctx, d.data.Store, d.data.Signer.Public().(ed25519.PublicKey))
	if err != nil {
		return err
	}
	d.step("audit: %d hash-chained records intact", rep.Records)
	return nil
}

// demoSearchQuery is the demo's search: "Harbour Lights" with a swapped
// pair in the first word (1 typo, allowed from 5 letters) and a dropped
// letter in the last, which is also matched as a prefix.
const (
	demoSearchQuery = "harbuor ligts"
	demoSearchWant  = "Harbour Lights"
)

// searchTypo asks the relay's GET /v1/search, as the registered device,
// for a demo track spelled with typos and checks that it ranks first.
func (d *demo) searchTypo(ctx context.Context) error {
	var want model.TrackID
	for _, tr := range d.tracks {
		if tr.Title == demoSearchWant {
			want = tr.ID
		}
	}
	if want == "" {
		return fmt.Errorf("%w: the demo album has no track %q", errDemoCheck, demoSearchWant)
	}
	t0 := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url+"/v1/search?q="+url.QueryEscape(demoSearchQuery), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+d.engine.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%w: GET /v1/search answered %s", errDemoCheck, resp.Status)
	}
	var res search.ResponseJSON
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&res); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	took := time.Since(t0)
	if len(res.Results) == 0 {
		return fmt.Errorf("%w: %q found nothing", errDemoCheck, demoSearchQuery)
	}
	top := res.Results[0]
	d.step("search: %q → top hit %s %q by %s (of %d, %v over HTTP)", demoSearchQuery, top.Kind, top.Title, strings.Join(top.Artists, ", "), res.Total, took.Round(10*time.Microsecond))
	if top.Kind != string(search.KindTrack) || top.ID != string(want) {
		return fmt.Errorf("%w: %q ranked %s %q first, want track %q", errDemoCheck, demoSearchQuery, top.Kind, top.Title, demoSearchWant)
	}
	return nil
}

// edgeTwice starts a caching edge on loopback in front of the relay and
// fetches one track (manifest, header, every chunk) through it from two
// fresh device caches: the first listener's requests miss and fill the
// edge, the second's are all hits. Every request must be answered by the
// edge, not by the relay behind it as a fallback.
func (d *demo) edgeTwice(ctx context.Context) error {
	e, err := edge.New(edge.DefaultOptions(d.url).WithLogger(d.log))
	if err != nil {
		return err
	}
	defer e.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: e.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()
	edgeURL := "http://" + ln.Addr().String()
	d.step("edge listening on %s (parent %s)", edgeURL, d.url)

	tr, tier := d.tracks[0], model.TierHigh
	pub := d.data.Signer.Public().(ed25519.PublicKey)
	for pass := 1; pass <= 2; pass++ {
		t0 := time.Now()
		before := e.Stats()
		n, err := d.fetchViaEdge(ctx, edgeURL, pub, tr.ID, tier)
		if err != nil {
			return fmt.Errorf("listener %d: %w", pass, err)
		}
		s := e.Stats()
		hits, misses := s.Hits-before.Hits, s.Misses-before.Misses
		d.step("edge: listener %d fetched %q (%s, %d objects) in %v: %d hits, %d misses",
			pass, tr.Title, tier, n, time.Since(t0).Round(10*time.Microsecond), hits, misses)
		if pass == 2 && (misses != 0 || hits != int64(n)) {
			return fmt.Errorf("%w: the second listener got %d hits and %d misses for %d objects, want all hits", errDemoCheck, hits, misses, n)
		}
	}
	s := e.Stats()
	byteRatio := 0.0
	if s.BytesFromCache+s.BytesFetched > 0 {
		byteRatio = float64(s.BytesFromCache) / float64(s.BytesFromCache+s.BytesFetched)
	}
	d.step("edge: hit ratio %.2f by objects (%d hits / %d misses), %.2f by bytes (%d from cache / %d fetched from the relay)",
		s.HitRatio(), s.Hits, s.Misses, byteRatio, s.BytesFromCache, s.BytesFetched)
	return nil
}

// fetchViaEdge fetches and verifies track's manifest, header and chunks
// with a fresh fetcher (an empty in-memory cache) whose first origin is
// the edge and second the relay, and returns how many objects it fetched.
// It fails if any request was answered by an origin other than the edge.
func (d *demo) fetchViaEdge(ctx context.Context, edgeURL string, pub ed25519.PublicKey, track model.TrackID, tier model.Tier) (int, error) {
	var origins []fetch.Origin
	for _, u := range []string{edgeURL, d.url} {
		o, err := fetch.NewHTTPOrigin(u, nil, d.engine.Token)
		if err != nil {
			return 0, err
		}
		origins = append(origins, o)
	}
	var viaEdge, elsewhere atomic.Int64
	observe := func(ev fetch.Event) {
		switch {
		case ev.Err == nil && ev.Origin == edgeURL:
			viaEdge.Add(1)
		case ev.Err == nil && !ev.Cached:
			elsewhere.Add(1)
		}
	}
	key := func(context.Context) (ed25519.PublicKey, error) { return pub, nil }
	f, err := fetch.New(ctx, store.NewMemory(), origins, key, fetch.DefaultOptions().WithLogger(d.log).WithObserver(observe))
	if err != nil {
		return 0, err
	}
	m, err := f.Manifest(ctx, track, tier)
	if err != nil {
		return 0, err
	}
	if _, err := f.Header(ctx, m); err != nil {
		return 0, err
	}
	for i := range m.Chunks {
		if _, err := f.Chunk(ctx, m, i); err != nil {
			return 0, fmt.Errorf("chunk %d: %w", i, err)
		}
	}
	if elsewhere.Load() != 0 {
		return 0, fmt.Errorf("%w: %d requests bypassed the edge", errDemoCheck, elsewhere.Load())
	}
	return int(viaEdge.Load()), nil
}

func (d *demo) title(id model.TrackID) string {
	for _, tr := range d.tracks {
		if tr.ID == id {
			return tr.Title
		}
	}
	return string(id)
}

// firstByteReader records when the first decrypted byte arrived.
type firstByteReader struct {
	r     io.Reader
	t0    time.Time
	first time.Duration
}

func (f *firstByteReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if n > 0 && f.first == 0 {
		f.first = time.Since(f.t0)
	}
	return n, err
}

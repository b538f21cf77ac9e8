package core_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/internal/testtool"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/player/loudness"
	"github.com/segue-fm/segue/player/vorbis"
	"github.com/segue-fm/segue/player/wav"
)

// seekBuffer is an in-memory io.WriteSeeker for WAV sinks.
type seekBuffer struct {
	b   []byte
	off int
}

func (s *seekBuffer) Write(p []byte) (int, error) {
	if need := s.off + len(p); need > len(s.b) {
		s.b = append(s.b, make([]byte, need-len(s.b))...)
	}
	copy(s.b[s.off:], p)
	s.off += len(p)
	return len(p), nil
}

func (s *seekBuffer) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case 0:
		s.off = int(off)
	case 1:
		s.off += int(off)
	case 2:
		s.off = len(s.b) + int(off)
	}
	return int64(s.off), nil
}

// playRun is the result of one playback through the engine.
type playRun struct {
	samples  []float32 // interleaved stereo at 44.1 kHz, as the WAV sink wrote them
	statuses []player.Status
	history  []core.HistoryEntry
}

// playThroughEngine opens the engine's player on a float WAV sink, starts
// playback with start, calls control on every status update, and returns
// what reached the sink once the queue has ended.
func playThroughEngine(t *testing.T, e *core.Engine, opts player.Options, start func(p *player.Player) error, control func(p *player.Player, st player.Status)) playRun {
	t.Helper()
	return playThroughEngineAt(t, e, opts, start, control, 0, nil)
}

// hookSink calls fn once, inside the Write that takes the output past
// frame at, before the player can write another block: a control fn
// sends is carried out exactly there, however fast or loaded the machine
// is (a control sent from a status subscriber races the player).
type hookSink struct {
	*player.WAVSink
	at, n int64
	fn    func()
}

func (s *hookSink) Write(ctx context.Context, frames []float32) error {
	err := s.WAVSink.Write(ctx, frames)
	s.n += int64(len(frames) / demoalbum.Channels)
	if s.fn != nil && s.n >= s.at {
		fn := s.fn
		s.fn = nil
		fn()
	}
	return err
}

// playThroughEngineAt is playThroughEngine that also calls hook (when not
// nil) from the sink as the output passes frame at.
func playThroughEngineAt(t *testing.T, e *core.Engine, opts player.Options, start func(p *player.Player) error, control func(p *player.Player, st player.Status), at int64, hook func(p *player.Player)) playRun {
	t.Helper()
	var buf seekBuffer
	wsink, err := player.NewWAVSink(&buf, demoalbum.Rate, demoalbum.Channels, wav.F32)
	if err != nil {
		t.Fatal(err)
	}
	sink := &hookSink{WAVSink: wsink, at: at}
	p, err := e.OpenPlayer(sink, opts)
	if err != nil {
		t.Fatal(err)
	}
	if hook != nil {
		sink.fn = func() { hook(p) }
	}
	defer e.ClosePlayer()
	sub, cancel := p.Subscribe()
	defer cancel()
	if err := start(p); err != nil {
		t.Fatal(err)
	}
	var run playRun
	started := false
	timeout := time.After(50 * time.Second)
	for done := false; !done; {
		select {
		case st, ok := <-sub:
			if !ok {
				t.Fatal("player closed early")
			}
			run.statuses = append(run.statuses, st)
			started = started || st.State == player.StateBuffering || st.State == player.StatePlaying
			if control != nil {
				control(p, st)
			}
			done = started && (st.State == player.StateEnded || st.State == player.StateIdle)
		case <-timeout:
			t.Fatalf("playback did not end; last status %+v", run.statuses[len(run.statuses)-1])
		}
	}
	if err := e.ClosePlayer(); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	a, err := wav.Read(buf.b)
	if err != nil {
		t.Fatal(err)
	}
	run.samples = a.Samples
	if run.history, err = e.History().List(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if err := e.History().Ack(context.Background(), math.MaxUint64); err != nil {
		t.Fatal(err)
	}
	return run
}

func albumOf(tb *testbed, ids ...int) []player.Item {
	var items []player.Item
	for _, i := range ids {
		items = append(items, player.Item{Track: tb.tracks[i], Artist: "ensemble", Album: "demo"})
	}
	return items
}

func playItems(items []player.Item) func(p *player.Player) error {
	return func(p *player.Player) error {
		return p.Play(model.PlayContext{Kind: "album", ID: "demo"}, items, 0)
	}
}

func noGain(tier model.Tier) player.Options {
	return player.DefaultOptions().WithTier(tier).WithGain(player.DefaultGainOptions().WithMode(player.GainOff))
}

// tierArgs are the oggenc settings the demo album's tiers were made with.
var tierArgs = map[model.Tier][]string{
	model.TierVeryHigh: {"-q", "9"},
	model.TierHigh:     {"-q", "5"},
	model.TierNormal:   {"-q", "2"},
	model.TierLow:      {"-q", "-1"},
}

// unsplitDecode encodes the whole demo piece with oggenc at the tier's
// settings (the low tier from the piece resampled once to 16 kHz, as
// ingest does), decodes it with player/vorbis and resamples it to 44.1 kHz
// like the player: the reference a gapless album play must match.
func unsplitDecode(t *testing.T, oggenc string, tier model.Tier) []float32 {
	t.Helper()
	dir := t.TempDir()
	master, enc := filepath.Join(dir, "piece.wav"), filepath.Join(dir, "piece.ogg")
	var w bytes.Buffer
	piece, rate := demoalbum.Synthesize(), demoalbum.Rate
	if tier == model.TierLow {
		r, err := player.NewResampler(demoalbum.Rate, 16000, demoalbum.Channels)
		if err != nil {
			t.Fatal(err)
		}
		low, err := r.Write(nil, piece)
		if err != nil {
			t.Fatal(err)
		}
		piece, rate = r.Flush(low), 16000
	}
	if err := demoalbum.WriteWAV(&w, piece, rate, demoalbum.Channels); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(master, w.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append(append([]string{"-Q", "--serial", "7"}, tierArgs[tier]...), "-o", enc, master)
	if b, err := exec.Command(oggenc, args...).CombinedOutput(); err != nil {
		t.Fatalf("oggenc: %v: %s", err, b)
	}
	f, err := os.Open(enc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out seekBuffer
	dec, err := vorbis.DecodeWAV(context.Background(), &out, f, wav.F32, vorbis.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	info := dec.Info
	a, err := wav.Read(out.b)
	if err != nil {
		t.Fatal(err)
	}
	if info.SampleRate == demoalbum.Rate {
		return a.Samples
	}
	r, err := player.NewResampler(info.SampleRate, demoalbum.Rate, demoalbum.Channels)
	if err != nil {
		t.Fatal(err)
	}
	res, err := r.Write(nil, a.Samples)
	if err != nil {
		t.Fatal(err)
	}
	return r.Flush(res)
}

// rmsDiff returns the RMS of a[i]−b[i+lag] over frames [lo, hi).
func rmsDiff(a, b []float32, lo, hi, lag int) float64 {
	var s float64
	n := 0
	for i := lo * 2; i < hi*2; i++ {
		j := i + lag*2
		if i < 0 || j < 0 || i >= len(a) || j >= len(b) {
			continue
		}
		d := float64(a[i] - b[j])
		s += d * d
		n++
	}
	return math.Sqrt(s / float64(max(n, 1)))
}

// maxStep returns the largest jump between consecutive frames of the
// error signal a−b(lag) over [lo, hi): a click shows up as a step.
func maxStep(a, b []float32, lo, hi, lag int) float64 {
	var m float64
	for i := lo*2 + 2; i < hi*2; i++ {
		j := i + lag*2
		if i < 2 || j < 2 || i >= len(a) || j >= len(b) {
			continue
		}
		e1, e0 := float64(a[i]-b[j]), float64(a[i-2]-b[j-2])
		m = max(m, math.Abs(e1-e0))
	}
	return m
}

// TestGaplessAlbumEveryTier plays the demo album through the engine from
// a real relay into a WAV sink at every tier: the output has exactly the
// sum of the tracks' lengths, and around every cut it matches the decode
// of the unsplit piece as closely as it does away from the cuts.
func TestGaplessAlbumEveryTier(t *testing.T) {
	oggenc := testtool.Need(t, "oggenc")
	tb := newTestbed(t)
	for _, tier := range model.Tiers {
		t.Run(string(tier), func(t *testing.T) {
			e := tb.openEngine(t, core.DefaultOptions(), tb.url)
			run := playThroughEngine(t, e, noGain(tier), playItems(albumOf(tb, 0, 1, 2, 3)), nil)
			got := run.samples
			// Expected length: the piece's, at every tier; the low tier's
			// tracks are the piece resampled once and each ends at its cut.
			cuts := append(demoalbum.Cuts[:], demoalbum.TotalSamples)
			if n := int64(len(got) / 2); n != cuts[3] {
				t.Fatalf("%d frames, want %d", n, cuts[3])
			}
			for i, h := range run.history {
				n := cuts[i]
				if i > 0 {
					n -= cuts[i-1]
				}
				want := time.Duration(n) * time.Second / demoalbum.Rate
				if h.Event.End != model.EndCompleted || h.Event.Played != want || h.Event.IsStream != (want >= model.StreamThreshold) {
					t.Errorf("play event %+v, want completed after %v", h.Event, want)
				}
			}
			if len(run.history) != 4 {
				t.Fatalf("%d play events, want 4", len(run.history))
			}
			ref := unsplitDecode(t, oggenc, tier)
			for i, c := range cuts[:3] {
				b := int(c)
				// Align: no track may sit off the unsplit encode.
				lag, best := 0, math.Inf(1)
				for l := -12; l <= 12; l++ {
					if d := rmsDiff(got, ref, b+2048, b+10240, l); d < best {
						lag, best = l, d
					}
				}
				base := max(rmsDiff(got, ref, b-12288, b-4096, lag), rmsDiff(got, ref, b+4096, b+12288, lag))
				at := rmsDiff(got, ref, b-512, b+512, lag)
				baseStep := max(maxStep(got, ref, b-12288, b-4096, lag), maxStep(got, ref, b+4096, b+12288, lag))
				step := maxStep(got, ref, b-64, b+64, lag)
				t.Logf("cut %d at %d: lag %d, rms error %.5f at the cut, %.5f away; max error step %.5f at the cut, %.5f away",
					i+1, b, lag, at, base, step, baseStep)
				if lag != 0 {
					t.Errorf("cut %d: the track after it is %d frames off the unsplit piece", i+1, lag)
				}
				if at > 2*base+1e-4 {
					t.Errorf("cut %d: rms error %.5f at the cut vs %.5f away from it", i+1, at, base)
				}
				// The tolerance allows for the codec: each track is encoded
				// on its own, so near the cuts the fixtures differ from the
				// unsplit encode by up to about the codec error.
				if step > 2*baseStep+2*base {
					t.Errorf("cut %d: error step %.5f at the cut vs %.5f away from it (click)", i+1, step, baseStep)
				}
			}
		})
	}
}

// TestSeekLandsOnSample seeks mid-play and before the first frame; the
// audio after the seek equals, bit for bit, the uninterrupted play from
// that frame (at 44.1 kHz and through the resampler of the low tier).
func TestSeekLandsOnSample(t *testing.T) {
	tb := newTestbed(t)
	for _, tier := range []model.Tier{model.TierHigh, model.TierLow} {
		t.Run(string(tier), func(t *testing.T) {
			e := tb.openEngine(t, core.DefaultOptions(), tb.url)
			items := albumOf(tb, 1)
			whole := playThroughEngine(t, e, noGain(tier), playItems(items), nil).samples
			total := len(whole) / 2
			for _, target := range []int64{0, 1, 300_001, int64(total) - 5000} {
				// Start at a frame (resume): the output is exactly whole[target:].
				pre := playThroughEngine(t, e, noGain(tier), func(p *player.Player) error {
					return p.PlayFrom(model.PlayContext{}, items, 0, target)
				}, nil).samples
				if !equalFloats(pre, whole[target*2:]) {
					t.Fatalf("play from frame %d: %d frames differ from the uninterrupted play", target, len(pre)/2)
				}
			}
			// Seek mid-play: the output is a prefix of whole, then
			// whole[target:].
			const target = 400_009
			got := playThroughEngineAt(t, e, noGain(tier), playItems(items), nil, 44100, func(p *player.Player) {
				p.SeekFrame(target)
			}).samples
			tail := (total - target) * 2
			head := len(got) - tail
			if head < 44100*2 || head > 48000*2 {
				t.Fatalf("%d frames in all, so %d before the seek to %d of %d; want the block after frame 44100", len(got)/2, head/2, target, total)
			}
			if !equalFloats(got[:head], whole[:head]) || !equalFloats(got[head:], whole[target*2:]) {
				t.Fatalf("mid-play seek to %d: output is not whole[:%d] ‖ whole[%d:]", target, head/2, target)
			}
		})
	}
}

func equalFloats(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestNormalisedLoudness plays tracks with track gain: each measures
// within 0.5 LU of −14 LUFS, and the output's true peak stays ≤ −1 dBTP.
func TestNormalisedLoudness(t *testing.T) {
	tb := newTestbed(t)
	e := tb.openEngine(t, core.DefaultOptions(), tb.url)
	for i := range tb.tracks {
		run := playThroughEngine(t, e, player.DefaultOptions().WithTier(model.TierHigh), playItems(albumOf(tb, i)), nil)
		l, err := loudness.Measure(run.samples, demoalbum.Rate, demoalbum.Channels)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("track %d: %.2f LUFS, %.2f dBTP", i+1, l.IntegratedLUFS, l.TruePeakDBTP)
		if math.Abs(l.IntegratedLUFS-player.TargetLUFS) > 0.5 {
			t.Errorf("track %d plays at %.2f LUFS, want %.1f ± 0.5", i+1, l.IntegratedLUFS, player.TargetLUFS)
		}
		if l.TruePeakDBTP > player.PeakCeilingDBTP {
			t.Errorf("track %d peaks at %.2f dBTP, above %.1f", i+1, l.TruePeakDBTP, player.PeakCeilingDBTP)
		}
	}
}

// TestCrossfadeKeepsEnergy crossfades two tracks of different albums: the
// output is shorter by exactly the fade, and its short-term level through
// the fade stays within 3 dB of the level either side.
func TestCrossfadeKeepsEnergy(t *testing.T) {
	tb := newTestbed(t)
	e := tb.openEngine(t, core.DefaultOptions(), tb.url)
	items := []player.Item{{Track: tb.tracks[1], Album: "a"}, {Track: tb.tracks[2], Album: "b"}}
	const fade = 3 * time.Second
	run := playThroughEngine(t, e, noGain(model.TierHigh), func(p *player.Player) error {
		if err := p.SetCrossfade(fade); err != nil {
			return err
		}
		return p.Play(model.PlayContext{Kind: "playlist", ID: "mix"}, items, 0)
	}, nil)
	a := demoalbum.Cuts[1] - demoalbum.Cuts[0]
	b := demoalbum.Cuts[2] - demoalbum.Cuts[1]
	ff := int64(fade.Seconds() * demoalbum.Rate)
	if n := int64(len(run.samples) / 2); n != a+b-ff {
		t.Fatalf("%d frames, want %d + %d − %d", n, a, b, ff)
	}
	// Equal power: in every 50 ms window of the fade, the output's energy
	// matches cos²·E(outgoing) + sin²·E(incoming) of the tracks played
	// alone (the two are uncorrelated), so the level neither dips nor
	// bumps.
	ta := playThroughEngine(t, e, noGain(model.TierHigh), playItems(items[:1]), nil).samples
	tb2 := playThroughEngine(t, e, noGain(model.TierHigh), playItems(items[1:]), nil).samples
	win := int64(demoalbum.Rate / 20)
	start := a - ff
	for f := int64(0); f+win <= ff; f += win {
		var got, want float64
		for i := f; i < f+win; i++ {
			th := math.Pi / 2 * (float64(i) + 0.5) / float64(ff)
			ga, gb := math.Cos(th), math.Sin(th)
			for c := int64(0); c < 2; c++ {
				o := float64(run.samples[(start+i)*2+c])
				x, y := float64(ta[(start+i)*2+c]), float64(tb2[i*2+c])
				got += o * o
				want += ga*ga*x*x + gb*gb*y*y
				if d := o - (ga*x + gb*y); math.Abs(d) > 1e-5 {
					t.Fatalf("frame %d of the fade: %v, want %v", i, o, ga*x+gb*y)
				}
			}
		}
		if db := 10 * math.Log10(got/want); math.Abs(db) > 1.5 {
			t.Errorf("fade window at %d: energy %+.2f dB off equal power", f, db)
		}
	}
	if len(run.history) != 2 || run.history[0].Event.End != model.EndCompleted {
		t.Fatalf("history %+v", run.history)
	}
}

// TestSkipDuringPredecode skips while the next track is being
// pre-decoded: the skipped play is recorded with its exact duration, and
// the next track then plays from its first sample to its last.
func TestSkipDuringPredecode(t *testing.T) {
	tb := newTestbed(t)
	e := tb.openEngine(t, core.DefaultOptions(), tb.url)
	a := demoalbum.Cuts[0]
	run := playThroughEngineAt(t, e, noGain(model.TierHigh), playItems(albumOf(tb, 0, 1)), nil, a*4/5, func(p *player.Player) {
		p.Next()
	})
	if len(run.history) != 2 {
		t.Fatalf("history %+v", run.history)
	}
	first, second := run.history[0].Event, run.history[1].Event
	if first.End != model.EndSkipped || second.End != model.EndCompleted {
		t.Fatalf("end reasons %s, %s", first.End, second.End)
	}
	b := demoalbum.Cuts[1] - demoalbum.Cuts[0]
	played := int64(len(run.samples)/2) - b
	if want := time.Duration(played) * time.Second / demoalbum.Rate; first.Played.Round(time.Millisecond) != want.Round(time.Millisecond) || played < a*4/5 || played >= a*4/5+1024 {
		t.Fatalf("skipped play recorded %v, output holds %d frames (%v) of it", first.Played, played, want)
	}
	if want := time.Duration(b) * time.Second / demoalbum.Rate; second.Played.Round(time.Millisecond) != want.Round(time.Millisecond) {
		t.Fatalf("second play %v, want %v", second.Played, want)
	}
}

// flakyTransport is an http.RoundTripper that fails chunk requests while
// down, like a network stall.
type flakyTransport struct {
	down   atomic.Bool
	failed atomic.Int32
	chunks atomic.Int32
	onReq  func(n int32)
}

func (f *flakyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if strings.Contains(r.URL.Path, "/chunks/") || strings.Contains(r.URL.Path, "/blobs/") {
		n := f.chunks.Add(1)
		if f.onReq != nil {
			f.onReq(n)
		}
		if f.down.Load() {
			f.failed.Add(1)
			return nil, errors.New("flaky: network unreachable")
		}
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestStallResumesAtSameSample takes the network down mid-track for a
// second: playback buffers, then resumes, and the output is bit for bit
// the uninterrupted one.
func TestStallResumesAtSameSample(t *testing.T) {
	tb := newTestbed(t)
	clean := tb.openEngine(t, core.DefaultOptions(), tb.url)
	want := playThroughEngine(t, clean, noGain(model.TierHigh), playItems(albumOf(tb, 1)), nil).samples

	ft := &flakyTransport{}
	ft.onReq = func(n int32) {
		if n == 3 { // chunk 2: the track is playing from memory by now
			ft.down.Store(true)
			time.AfterFunc(time.Second, func() { ft.down.Store(false) })
		}
	}
	e := tb.openEngine(t, core.DefaultOptions().WithHTTPClient(&http.Client{Transport: ft}), tb.url)
	run := playThroughEngine(t, e, noGain(model.TierHigh).WithPredecode(2), playItems(albumOf(tb, 1)), nil)
	if ft.failed.Load() == 0 {
		t.Fatal("the stall never happened")
	}
	buffering := false
	for i, st := range run.statuses {
		if st.State == player.StateBuffering && i > 0 && run.statuses[i-1].State == player.StatePlaying && st.Frame > 0 {
			buffering = true
		}
	}
	if !buffering {
		t.Error("no buffering state published during the stall")
	}
	if !equalFloats(run.samples, want) {
		t.Fatalf("output after the stall (%d frames) differs from the clean play (%d)", len(run.samples)/2, len(want)/2)
	}
	if len(run.history) != 1 || run.history[0].Event.End != model.EndCompleted {
		t.Fatalf("history %+v", run.history)
	}
}

// TestCorruptChunk corrupts a chunk at the first origin: the player gets
// it from the second and plays the track exactly. Corrupt at the only
// origin, the track is skipped with an error event and the next plays.
func TestCorruptChunk(t *testing.T) {
	tb := newTestbed(t)
	clean := tb.openEngine(t, core.DefaultOptions(), tb.url)
	want := playThroughEngine(t, clean, noGain(model.TierHigh), playItems(albumOf(tb, 0)), nil).samples

	tp := newTamperer(tb.srv.Handler())
	for _, p := range tb.chunkPaths(t, tb.tracks[0], model.TierHigh, 2) {
		tp.flip[p] = 500
	}
	bad, _ := tp.serve(t)
	var failures atomic.Int32
	obs := func(ev fetch.Event) {
		if ev.Err != nil && errors.Is(ev.Err, fetch.ErrIntegrity) {
			failures.Add(1)
		}
	}
	e := tb.openEngine(t, core.DefaultOptions().WithObserver(obs), bad, tb.url)
	got := playThroughEngine(t, e, noGain(model.TierHigh), playItems(albumOf(tb, 0)), nil).samples
	if failures.Load() == 0 {
		t.Fatal("the corrupt chunk was never served")
	}
	if !equalFloats(got, want) {
		t.Fatal("output differs from the clean play")
	}

	only := tb.openEngine(t, core.DefaultOptions(), bad)
	var errs []error
	run := playThroughEngine(t, only, noGain(model.TierHigh), playItems(albumOf(tb, 0, 1)), func(p *player.Player, st player.Status) {
		if st.Err != nil {
			errs = append(errs, st.Err)
		}
	})
	if len(errs) == 0 || !errors.Is(errs[0], player.ErrUnplayable) {
		t.Fatalf("errors published: %v", errs)
	}
	if len(run.history) != 2 || run.history[0].Event.End != model.EndError || run.history[1].Event.End != model.EndCompleted {
		t.Fatalf("history %+v", run.history)
	}
	if n := int64(len(run.samples) / 2); n <= demoalbum.Cuts[1]-demoalbum.Cuts[0] {
		t.Fatalf("%d frames: the next track did not play in full after the skip", n)
	}
}

package player_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
)

// shortSource serves the first chunks of the demo album's high tier as
// short tracks: "<track>/<chunks>" is track's first chunks (about 1, 3, 7
// s for 1, 2, 3 chunks), with the exact manifest of that prefix.
type shortSource struct{ *memSource }

func (s shortSource) OpenTrack(ctx context.Context, id model.TrackID, tier model.Tier) (player.TrackSource, error) {
	var base string
	var n int
	if _, err := fmt.Sscanf(string(id), "%2s/%d", &base, &n); err != nil {
		return nil, fmt.Errorf("%w: %s", player.ErrUnplayable, id)
	}
	ts, err := s.memSource.OpenTrack(ctx, model.TrackID(base), model.TierHigh)
	if err != nil {
		return nil, err
	}
	mt := ts.(*memTrack)
	m := *mt.m
	m.Chunks = m.Chunks[:n]
	m.TotalSamples = 0
	for _, c := range m.Chunks {
		m.TotalSamples += c.Samples
	}
	return &memTrack{s: mt.s, st: mt.st, m: &m}, nil
}

// The crossfade the listener asks for is the overlap they get, on short
// tracks too: the next track is preloaded early enough. Only a crossfade
// longer than a track is shortened, and then with a reported reason.
func TestCrossfadeOverlapOnShortTracks(t *testing.T) {
	mem, _ := newMemSource(t)
	src := shortSource{mem}
	lengths := map[model.TrackID]int64{}
	for _, id := range []model.TrackID{"t1/3", "t2/3"} {
		ts, err := src.OpenTrack(context.Background(), id, model.TierHigh)
		if err != nil {
			t.Fatal(err)
		}
		lengths[id] = ts.Manifest().TotalSamples
	}
	a, b := lengths["t1/3"], lengths["t2/3"]
	t.Logf("outgoing track %d frames, incoming %d", a, b)
	tests := []struct {
		fade    time.Duration
		overlap int64 // frames
		warned  bool
	}{
		{2 * time.Second, 2 * 44100, false},
		{3 * time.Second, 3 * 44100, false},
		{5 * time.Second, 5 * 44100, false},
		{10 * time.Second, min(a, b), true}, // longer than either track
	}
	for _, tc := range tests {
		t.Run(tc.fade.String(), func(t *testing.T) {
			sink := player.NewDiscardSink(44100, 2)
			logged := &shortenedLog{}
			p, err := player.New(src, sink, player.DefaultOptions().WithTier(model.TierHigh).
				WithLogger(slog.New(logged)))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			sub, cancel := p.Subscribe()
			defer cancel()
			if err := p.SetCrossfade(tc.fade); err != nil {
				t.Fatal(err)
			}
			items := []player.Item{{Track: "t1/3", Album: "one"}, {Track: "t2/3", Album: "two"}}
			var warning error
			playToEnd(t, p, sub, items, func(st player.Status) {
				if errors.Is(st.Err, player.ErrCrossfadeShortened) {
					warning = st.Err
				}
			})
			overlap := a + b - sink.Frames()
			if overlap != tc.overlap {
				t.Errorf("crossfade %v: overlap %d frames (%.2f s), want %d", tc.fade, overlap, float64(overlap)/44100, tc.overlap)
			}
			// The status channel drops its oldest updates when the
			// reader falls behind (a loaded machine), so the warning is
			// counted in the log, where it is always written; a status
			// that carries it must be one of those.
			if n := logged.count.Load(); (n > 0) != tc.warned || warning != nil && n == 0 {
				t.Errorf("crossfade %v: %d warnings logged, status warning %v; want one: %v", tc.fade, n, warning, tc.warned)
			}
			if warning != nil {
				t.Logf("warning: %v", warning)
			}
		})
	}
}

// shortenedLog is a slog.Handler counting the player's "crossfade
// shortened" warnings.
type shortenedLog struct{ count atomic.Int64 }

func (h *shortenedLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *shortenedLog) Handle(_ context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn && r.Message == "player: crossfade shortened" {
		h.count.Add(1)
	}
	return nil
}

func (h *shortenedLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *shortenedLog) WithGroup(string) slog.Handler      { return h }

// reasonLog is a slog.Handler keeping the reason of the player's
// "crossfade shortened" warnings.
type reasonLog struct {
	mu      sync.Mutex
	reasons []string
}

func (h *reasonLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *reasonLog) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "player: crossfade shortened" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "reason" {
			h.mu.Lock()
			h.reasons = append(h.reasons, a.Value.String())
			h.mu.Unlock()
		}
		return true
	})
	return nil
}

func (h *reasonLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *reasonLog) WithGroup(string) slog.Handler      { return h }

// A crossfade longer than both tracks is shortened to the shorter one,
// and the warning names that one: the incoming track when it is the
// shorter, even though the outgoing one is shorter than the crossfade
// too.
func TestCrossfadeShortenedNamesTheShorterTrack(t *testing.T) {
	mem, _ := newMemSource(t)
	src := shortSource{mem}
	dur := func(id model.TrackID) time.Duration {
		ts, err := src.OpenTrack(context.Background(), id, model.TierHigh)
		if err != nil {
			t.Fatal(err)
		}
		n := ts.Manifest().TotalSamples
		return time.Duration(n/44100)*time.Second + time.Duration(n%44100*int64(time.Second)/44100)
	}
	tests := []struct {
		out, in model.TrackID
		want    string
	}{
		{"t1/2", "t2/1", "the incoming track lasts " + dur("t2/1").String()},
		{"t1/1", "t2/2", "the outgoing track lasts " + dur("t1/1").String()},
	}
	for _, tc := range tests {
		t.Run(string(tc.out)+"→"+string(tc.in), func(t *testing.T) {
			logged := &reasonLog{}
			p, err := player.New(src, player.NewDiscardSink(44100, 2), player.DefaultOptions().WithLogger(slog.New(logged)))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			sub, cancel := p.Subscribe()
			defer cancel()
			if err := p.SetCrossfade(10 * time.Second); err != nil {
				t.Fatal(err)
			}
			items := []player.Item{{Track: tc.out, Album: "one"}, {Track: tc.in, Album: "two"}}
			playToEnd(t, p, sub, items, nil)
			logged.mu.Lock()
			defer logged.mu.Unlock()
			if len(logged.reasons) != 1 || logged.reasons[0] != tc.want {
				t.Errorf("reasons %q, want [%q]", logged.reasons, tc.want)
			}
		})
	}
}

// hookSink keeps what it is written and calls fn once, inside the Write
// that takes the output to frame at or past it: a control fn sends is
// carried out right after that block, however fast the machine.
type hookSink struct {
	out []float32
	at  int64
	fn  func()
}

func (s *hookSink) Format() (int, int) { return 44100, 2 }

func (s *hookSink) Write(_ context.Context, f []float32) error {
	s.out = append(s.out, f...)
	if s.fn != nil && int64(len(s.out)/2) >= s.at {
		fn := s.fn
		s.fn = nil
		fn()
	}
	return nil
}

func (s *hookSink) Close() error { return nil }

// playHooked plays items with a 4 s crossfade into a hookSink calling
// control as the output passes frame at, and returns the output and the
// play events.
func playHooked(t *testing.T, src player.Source, items []player.Item, at int64, control func(p *player.Player), from int64) ([]float32, []model.PlayEvent) {
	t.Helper()
	h := &histRec{}
	sink := &hookSink{at: at}
	p, err := player.New(src, sink, player.DefaultOptions().WithGain(player.DefaultGainOptions().WithMode(player.GainOff)).
		WithHistory(h).WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if control != nil {
		sink.fn = func() { control(p) }
	}
	sub, cancel := p.Subscribe()
	defer cancel()
	if err := p.SetCrossfade(4 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := p.PlayFrom(model.PlayContext{Kind: "playlist", ID: "mix"}, items, 0, from); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(60 * time.Second)
	for started, done := false, false; !done; {
		select {
		case st := <-sub:
			if st.Length > 0 && st.Frame > st.Length {
				t.Errorf("status at frame %d of a %d-frame track", st.Frame, st.Length)
			}
			started = started || st.State == player.StatePlaying
			done = started && st.State == player.StateEnded
		case <-timeout:
			t.Fatal("playback did not end")
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return sink.out, h.ev
}

// histRec is a player.History keeping the play events.
type histRec struct {
	mu sync.Mutex
	ev []model.PlayEvent
}

func (h *histRec) Append(_ context.Context, ev model.PlayEvent) error {
	h.mu.Lock()
	h.ev = append(h.ev, ev)
	h.mu.Unlock()
	return nil
}

// A seek in the outgoing track, or a skip, while the incoming track is
// already fading in starts the incoming track again from its first
// frame: after a seek the output is exactly that of a play started at the
// seek's frame (the incoming track's beginning is not lost), and the
// incoming track's position and play event do not count the frames it
// played before (they were 1.7 s past its end after a skip).
func TestCrossfadeInterrupted(t *testing.T) {
	src, ids := newMemSource(t)
	l1 := src.streams["t1/high"].TotalSamples
	l2 := src.streams["t2/high"].TotalSamples
	items := []player.Item{{Track: ids[0], Album: "one"}, {Track: ids[1], Album: "two"}}
	at := l1 - 100000 // 4 s crossfade: 76,400 frames into the fade-in
	played := func(evs []model.PlayEvent, id model.TrackID) time.Duration {
		for _, ev := range evs {
			if ev.TrackID == id {
				return ev.Played
			}
		}
		t.Fatalf("no play event for %s", id)
		return 0
	}
	want2 := time.Duration(l2) * time.Second / 44100
	for _, back := range []int64{150000, 300000} {
		t.Run(fmt.Sprintf("seek to end-%d", back), func(t *testing.T) {
			out, evs := playHooked(t, src, items, at, func(p *player.Player) {
				if err := p.SeekFrame(l1 - back); err != nil {
					t.Error(err)
				}
			}, 0)
			ref, _ := playHooked(t, src, items, 0, nil, l1-back)
			n := int64(len(out) / 2)
			k := (at + 1023) / 1024 * 1024 // the hook ran after the block reaching at
			if got, want := n-k, int64(len(ref)/2); got != want {
				t.Fatalf("after the seek: %d frames, want %d (a play from the seek's frame)", got, want)
			}
			for i, v := range out[2*k:] {
				if v != ref[i] {
					t.Fatalf("after the seek, sample %d differs from a play from the seek's frame", i)
				}
			}
			if got := played(evs, ids[1]); got != want2 {
				t.Errorf("%s played %v, want %v", ids[1], got, want2)
			}
		})
	}
	t.Run("next", func(t *testing.T) {
		out, evs := playHooked(t, src, items, at, func(p *player.Player) {
			if err := p.Next(); err != nil {
				t.Error(err)
			}
		}, 0)
		k := (at + 1023) / 1024 * 1024
		if n := int64(len(out) / 2); n != k+l2 {
			t.Errorf("%d frames, want %d: the output up to the skip and the whole next track", n, k+l2)
		}
		if got := played(evs, ids[1]); got != want2 {
			t.Errorf("%s played %v, want %v", ids[1], got, want2)
		}
	})
}

// A crossfade into a track whose own crossfade must start before the
// fade into it ends (a track about as short as two crossfades), or at
// once (a track the previous fade used up, then one shorter than the
// crossfade), overlaps as long as the tracks allow: the output is the
// sum of the tracks less each overlap, every overlap the longest the
// crossfade and both tracks allow. Before, the mixer went on into the new
// track for the rest of the block the fade ended in, before its successor
// was queued: that overlap came out up to a block short.
func TestCrossfadeChainOfShortTracks(t *testing.T) {
	mem, _ := newMemSource(t)
	src := shortSource{mem}
	length := map[model.TrackID]int64{}
	for _, id := range []model.TrackID{"t1/1", "t2/1", "t3/1", "t4/1"} {
		ts, err := src.OpenTrack(context.Background(), id, model.TierHigh)
		if err != nil {
			t.Fatal(err)
		}
		length[id] = ts.Manifest().TotalSamples
	}
	t.Logf("lengths %v", length)
	tests := []struct {
		fade   time.Duration
		tracks []model.TrackID
	}{
		{480 * time.Millisecond, []model.TrackID{"t1/1", "t2/1", "t3/1"}},
		{480 * time.Millisecond, []model.TrackID{"t1/1", "t2/1", "t3/1", "t4/1"}},
		{time.Second, []model.TrackID{"t1/1", "t2/1", "t3/1", "t4/1"}},
		{12 * time.Second, []model.TrackID{"t1/1", "t2/1", "t3/1", "t4/1"}},
		{12 * time.Second, []model.TrackID{"t1/1", "t2/1", "t4/1", "t3/1"}},
		{12 * time.Second, []model.TrackID{"t4/1", "t3/1"}},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.fade, len(tc.tracks)), func(t *testing.T) {
			fade := int64(tc.fade.Seconds() * 44100)
			want, rem := int64(0), int64(0)
			for _, id := range tc.tracks {
				overlap := min(fade, rem, length[id])
				want += length[id] - overlap
				rem = length[id] - overlap
			}
			sink := player.NewDiscardSink(44100, 2)
			p, err := player.New(src, sink, player.DefaultOptions().WithTier(model.TierHigh).WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			sub, cancel := p.Subscribe()
			defer cancel()
			if err := p.SetCrossfade(tc.fade); err != nil {
				t.Fatal(err)
			}
			var items []player.Item
			for i, id := range tc.tracks {
				items = append(items, player.Item{Track: id, Album: model.AlbumID(fmt.Sprint("album", i))})
			}
			playToEnd(t, p, sub, items, nil)
			if got := sink.Frames(); got != want {
				t.Errorf("%d frames, want %d: the overlaps are %d frames short", got, want, got-want)
			}
		})
	}
}

// A crossfade shortened because the fade into the outgoing track used up
// most of it says so, not that the next track was ready late: it was
// asked for, and ready, as soon as the outgoing track became current.
func TestCrossfadeShortenedByTheFadeBefore(t *testing.T) {
	mem, _ := newMemSource(t)
	logged := &reasonLog{}
	p, err := player.New(shortSource{mem}, player.NewDiscardSink(44100, 2), player.DefaultOptions().WithLogger(slog.New(logged)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sub, cancel := p.Subscribe()
	defer cancel()
	// 0.8 s: the fade into t2/1 (0.97 s) leaves 0.17 s of it.
	if err := p.SetCrossfade(800 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	items := []player.Item{{Track: "t1/1", Album: "one"}, {Track: "t2/1", Album: "two"}, {Track: "t3/1", Album: "three"}}
	playToEnd(t, p, sub, items, nil)
	logged.mu.Lock()
	defer logged.mu.Unlock()
	want := "only 167.981859ms of the outgoing track was left when the next one was asked for"
	if len(logged.reasons) != 1 || logged.reasons[0] != want {
		t.Errorf("reasons %q, want [%q]", logged.reasons, want)
	}
}

// playToEnd plays items from the first on p and waits, a minute at most,
// for playback to end, calling each (when not nil) with every status sub
// delivers.
func playToEnd(t *testing.T, p *player.Player, sub <-chan player.Status, items []player.Item, each func(player.Status)) {
	t.Helper()
	if err := p.Play(model.PlayContext{Kind: "playlist", ID: "mix"}, items, 0); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(60 * time.Second)
	for started, done := false, false; !done; {
		select {
		case st := <-sub:
			if each != nil {
				each(st)
			}
			started = started || st.State == player.StatePlaying
			done = started && st.State == player.StateEnded
		case <-timeout:
			t.Fatal("playback did not end")
		}
	}
}

// A seek in the outgoing track after the next one was asked for, to its
// last frames, shortens the crossfade to what the seek left, and the
// warning says so: it said the next track was ready only that long
// before the end, though it had been ready for seconds.
func TestCrossfadeShortenedBySeek(t *testing.T) {
	src, ids := newMemSource(t)
	l1 := src.streams["t1/high"].TotalSamples
	items := []player.Item{{Track: ids[0], Album: "one"}, {Track: ids[1], Album: "two"}}
	tests := []struct {
		left int64 // frames of the outgoing track after the seek
		want string
	}{
		{1, "a seek left only 22.675µs of the outgoing track"},
		{4410, "a seek left only 100ms of the outgoing track"},
		{0, "a seek left only 0s of the outgoing track"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.left), func(t *testing.T) {
			logged := &reasonLog{}
			sink := &hookSink{at: l1 - 200000} // the next track is asked for 264,600 frames before the end
			p, err := player.New(src, sink, player.DefaultOptions().WithLogger(slog.New(logged)))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			sink.fn = func() {
				if err := p.SeekFrame(l1 - tc.left); err != nil {
					t.Error(err)
				}
			}
			sub, cancel := p.Subscribe()
			defer cancel()
			if err := p.SetCrossfade(4 * time.Second); err != nil {
				t.Fatal(err)
			}
			playToEnd(t, p, sub, items, nil)
			logged.mu.Lock()
			defer logged.mu.Unlock()
			if len(logged.reasons) != 1 || logged.reasons[0] != tc.want {
				t.Errorf("reasons %q, want [%q]", logged.reasons, tc.want)
			}
		})
	}
}

// A next track that fails while it fades in (a chunk after its first
// is corrupt everywhere) is dropped, and the outgoing track fades on
// against silence; in its turn the failed track is skipped at once
// (ErrUnplayable: retrying cannot fix it), and the one after it plays.
// Before, the mixer read the dropped stream, the loop panicked on it and
// its cleanup waited for the lock the loop held: playback stopped for
// good and Close hung; and then, the failed track was opened again in its
// turn and its first chunk, heard in the fade, was heard again.
func TestCrossfadeIncomingFails(t *testing.T) {
	src, ids := newMemSource(t)
	src.perm["t2/high/1"] = true // t2's chunk 0 lasts 0.97 s of a 12 s fade
	l1, l3 := src.streams["t1/high"].TotalSamples, src.streams["t3/high"].TotalSamples
	sink := player.NewDiscardSink(44100, 2)
	p, err := player.New(src, sink, player.DefaultOptions().WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		closed := make(chan error, 1)
		go func() { closed <- p.Close() }()
		select {
		case <-closed:
		case <-time.After(30 * time.Second):
			t.Error("Close did not return")
		}
	}()
	if err := p.SetCrossfade(player.MaxCrossfade); err != nil {
		t.Fatal(err)
	}
	sub, cancel := p.Subscribe()
	defer cancel()
	items := []player.Item{{Track: ids[0], Album: "one"}, {Track: ids[1], Album: "two"}, {Track: ids[2], Album: "three"}}
	if err := p.Play(model.PlayContext{Kind: "playlist", ID: "mix"}, items, 0); err != nil {
		t.Fatal(err)
	}
	var failed []error
	var at []int // the item index each skip error was published with
	timeout := time.After(60 * time.Second)
	for started, done := false, false; !done; {
		select {
		case st := <-sub:
			if st.Err != nil && !player.IsWarning(st.Err) {
				failed = append(failed, st.Err)
				at = append(at, st.Index)
			}
			started = started || st.State == player.StatePlaying
			done = started && st.State == player.StateEnded
		case <-timeout:
			t.Fatal("playback did not end")
		}
	}
	if len(failed) != 1 || !errors.Is(failed[0], player.ErrUnplayable) || !strings.Contains(failed[0].Error(), "play t2") {
		t.Errorf("skip errors %v, want t2's", failed)
	} else if at[0] != 1 {
		t.Errorf("t2's skip error published at item %d, want 1", at[0])
	}
	// t1 whole (t2's first chunk faded in under it), then t3 whole.
	if got, want := sink.Frames(), l1+l3; got != want {
		t.Errorf("%d frames, want %d: t1's %d, t3's %d", got, want, l1, l3)
	}
}

// A track that fails while a crossfade mixes it with its partner does not
// restart the partner: when the outgoing track fails, the incoming one
// goes on from where it is, fading in against silence, and is heard once
// (the output is t1 up to the fade, then t2 whole); when the incoming one
// fails, the outgoing one fades on and ends. Before, the outgoing track's
// failure loaded the incoming one as after a user skip: it started again
// from its first frame, and the seconds it had faded in were heard twice
// and counted in its play event.
func TestCrossfadeTrackFailsMidFade(t *testing.T) {
	src0, _ := newMemSource(t)
	l1, l2, l3 := src0.streams["t1/high"].TotalSamples, src0.streams["t2/high"].TotalSamples, src0.streams["t3/high"].TotalSamples
	fade := int64(player.MaxCrossfade/time.Second) * 44100
	for _, tc := range []struct {
		name   string
		chunk  string // the chunk corrupt everywhere
		failed string // the track reported failed
		frames int64
		played map[model.TrackID]int64 // frames each play event counts
	}{
		// t1's chunk 2 starts 1.1 s into the fade: t2 goes on, and its
		// fade into t3 overlaps what the fade into it left of it.
		{"outgoing", "t1/high/2", "play t1", l1 - fade + l2 + l3 - (l2 - fade),
			map[model.TrackID]int64{"t1": src0.streams["t1/high"].Chunks[2].FirstSample, "t2": l2, "t3": l3}},
		// t2's chunk 1 starts 0.97 s into the fade: t1 ends whole, and t2
		// is skipped in its turn.
		{"incoming", "t2/high/1", "play t2", l1 + l3,
			map[model.TrackID]int64{"t1": l1, "t3": l3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, ids := newMemSource(t)
			src.perm[tc.chunk] = true
			sink := player.NewDiscardSink(44100, 2)
			h := &histRec{}
			p, err := player.New(src, sink, player.DefaultOptions().WithHistory(h).WithLogger(slog.New(slog.DiscardHandler)))
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			if err := p.SetCrossfade(player.MaxCrossfade); err != nil {
				t.Fatal(err)
			}
			sub, cancel := p.Subscribe()
			defer cancel()
			items := []player.Item{{Track: ids[0], Album: "one"}, {Track: ids[1], Album: "two"}, {Track: ids[2], Album: "three"}}
			if err := p.Play(model.PlayContext{Kind: "playlist", ID: "mix"}, items, 0); err != nil {
				t.Fatal(err)
			}
			var failed []error
			timeout := time.After(60 * time.Second)
			for started, done := false, false; !done; {
				select {
				case st := <-sub:
					if st.Err != nil && !player.IsWarning(st.Err) {
						failed = append(failed, st.Err)
					}
					started = started || st.State == player.StatePlaying
					done = started && st.State == player.StateEnded
				case <-timeout:
					t.Fatal("playback did not end")
				}
			}
			if err := p.Close(); err != nil {
				t.Fatal(err)
			}
			if len(failed) != 1 || !strings.Contains(failed[0].Error(), tc.failed) {
				t.Errorf("skip errors %v, want one of %q", failed, tc.failed)
			}
			if got := sink.Frames(); got != tc.frames {
				t.Errorf("%d frames, want %d", got, tc.frames)
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			for id, n := range tc.played {
				want := time.Duration(n) * time.Second / 44100
				var got []time.Duration
				for _, ev := range h.ev {
					if ev.TrackID == id {
						got = append(got, ev.Played)
					}
				}
				if len(got) != 1 || got[0] != want {
					t.Errorf("%s played %v, want [%v]", id, got, want)
				}
			}
		})
	}
}

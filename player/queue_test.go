package player

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
)

const rate = 44100

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func album(n int, albumID string) []Item {
	var items []Item
	for i := 0; i < n; i++ {
		items = append(items, Item{Track: model.TrackID(fmt.Sprintf("%s-%d", albumID, i)), Artist: "ar", Album: model.AlbumID(albumID)})
	}
	return items
}

func newQueue() *Queue {
	n := 0
	return NewQueue(QueueConfig{Rate: rate, Device: "dev1", Tier: model.TierHigh,
		NewID: func() string { n++; return fmt.Sprint("ev", n) }, ShuffleRng: rand.New(rand.NewPCG(1, 2))})
}

func effects[T Effect](fx []Effect) []T {
	var out []T
	for _, f := range fx {
		if v, ok := f.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

func lastLoad(t *testing.T, fx []Effect) Load {
	t.Helper()
	l := effects[Load](fx)
	if len(l) != 1 {
		t.Fatalf("want one Load, got %v", fx)
	}
	return l[0]
}

func status(fx []Effect) Status { return effects[Publish](fx)[0].Status }

// play starts a context and plays `frames` frames of the first track.
func play(t *testing.T, q *Queue, items []Item, start int, frames int64) Load {
	fx := q.Step(t0, PlayContext{Context: model.PlayContext{Kind: "album", ID: "al"}, Items: items, Start: start})
	l := lastLoad(t, fx)
	q.Step(t0, Ready{Load: l.Load, Frames: 180 * rate, Bitrate: 160000})
	if frames > 0 {
		q.Step(t0, Advanced{Load: l.Load, Frames: frames})
	}
	return l
}

func TestQueuePlayEvents(t *testing.T) {
	cases := []struct {
		name     string
		frames   int64
		ev       Event
		end      model.EndReason
		played   time.Duration
		isStream bool
	}{
		{"skip at 29.99 s", 30*rate - 1, Next{}, model.EndSkipped, 30*time.Second - time.Second/rate - 1, false},
		{"skip at exactly 30 s is a stream", 30 * rate, Next{}, model.EndSkipped, 30 * time.Second, true},
		{"stop", 45 * rate, Stop{}, model.EndStopped, 45 * time.Second, true},
		{"completed", 180 * rate, nil, model.EndCompleted, 180 * time.Second, true},
		{"error", 1000, nil, model.EndError, 1000 * time.Second / rate, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := newQueue()
			l := play(t, q, album(3, "al"), 0, c.frames)
			ev := c.ev
			switch c.end {
			case model.EndCompleted:
				ev = Ended{Load: l.Load}
			case model.EndError:
				ev = Failed{Load: l.Load, Err: errors.New("boom")}
			}
			fx := q.Step(t0.Add(time.Minute), ev)
			rec := effects[Record](fx)
			if len(rec) != 1 {
				t.Fatalf("records: %v", fx)
			}
			e := rec[0].Event
			want := model.PlayEvent{EventID: "ev1", Device: "dev1", TrackID: "al-0", Tier: model.TierHigh,
				Context: model.PlayContext{Kind: "album", ID: "al"}, Started: t0, Played: c.played, End: c.end, IsStream: c.isStream}
			if e != want {
				t.Errorf("event\n got %+v\nwant %+v", e, want)
			}
		})
	}
}

func TestQueueNavigation(t *testing.T) {
	cases := []struct {
		name   string
		repeat RepeatMode
		start  int
		pos    int64
		ev     func(l Load) Event
		want   model.TrackID // "" = no new Load
		state  State
		seek   bool
	}{
		{"next", RepeatOff, 0, 0, func(Load) Event { return Next{} }, "al-1", StateBuffering, false},
		{"next at end stops", RepeatOff, 2, 0, func(Load) Event { return Next{} }, "", StateEnded, false},
		{"next at end wraps with repeat context", RepeatContext, 2, 0, func(Load) Event { return Next{} }, "al-0", StateBuffering, false},
		{"user next overrides repeat track", RepeatTrack, 0, 0, func(Load) Event { return Next{} }, "al-1", StateBuffering, false},
		{"end with repeat track replays", RepeatTrack, 1, 0, func(l Load) Event { return Ended{Load: l.Load} }, "al-1", StateBuffering, false},
		{"end advances", RepeatOff, 1, 0, func(l Load) Event { return Ended{Load: l.Load} }, "al-2", StateBuffering, false},
		{"previous within 3 s goes back", RepeatOff, 1, 2 * rate, func(Load) Event { return Previous{} }, "al-0", StateBuffering, false},
		{"previous after 3 s restarts", RepeatOff, 1, 3*rate + 1, func(Load) Event { return Previous{} }, "", StatePlaying, true},
		{"previous on first restarts", RepeatOff, 0, 0, func(Load) Event { return Previous{} }, "", StatePlaying, true},
		{"stale end ignored", RepeatOff, 0, 0, func(l Load) Event { return Ended{Load: l.Load + 7} }, "", StatePlaying, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q := newQueue()
			q.Step(t0, SetRepeat{Mode: c.repeat})
			l := play(t, q, album(3, "al"), c.start, c.pos)
			fx := q.Step(t0, c.ev(l))
			loads := effects[Load](fx)
			switch {
			case c.want == "" && len(loads) != 0:
				t.Errorf("unexpected load %+v", loads)
			case c.want != "" && (len(loads) != 1 || loads[0].Track != c.want):
				t.Errorf("loads %+v, want %s", loads, c.want)
			}
			if got := len(effects[SeekTo](fx)) == 1; got != c.seek {
				t.Errorf("seek = %v, want %v", got, c.seek)
			}
			if len(fx) > 0 && status(fx).State != c.state {
				t.Errorf("state %v, want %v", status(fx).State, c.state)
			}
		})
	}
}

func TestQueueTierAppliesFromNextTrack(t *testing.T) {
	q := newQueue()
	l := play(t, q, album(2, "al"), 0, 10*rate)
	q.Step(t0, SetTier{Tier: model.TierLow})
	fx := q.Step(t0, Ended{Load: l.Load})
	if e := effects[Record](fx)[0].Event; e.Tier != model.TierHigh {
		t.Errorf("finished play recorded tier %s, want high", e.Tier)
	}
	if l2 := lastLoad(t, fx); l2.Tier != model.TierLow {
		t.Errorf("next load tier %s, want low", l2.Tier)
	}
}

func TestQueueCrossfadeExceptSameAlbum(t *testing.T) {
	items := append(album(2, "A"), album(1, "B")...)
	q := newQueue()
	q.Step(t0, SetCrossfade{Duration: 5 * time.Second})
	l := play(t, q, items, 0, 0)
	l2 := lastLoad(t, q.Step(t0, Ended{Load: l.Load}))
	if l2.Crossfade != 0 {
		t.Errorf("same-album transition crossfades %v", l2.Crossfade)
	}
	l3 := lastLoad(t, q.Step(t0, Ended{Load: l2.Load}))
	if l3.Crossfade != 5*time.Second {
		t.Errorf("cross-album transition crossfade %v, want 5s", l3.Crossfade)
	}
	q.Step(t0, SetCrossfade{Duration: time.Hour})
	if q.crossfade != 12*time.Second {
		t.Errorf("crossfade not capped: %v", q.crossfade)
	}
}

func TestQueuePreloadAndBandwidth(t *testing.T) {
	q := newQueue()
	l := play(t, q, album(2, "al"), 0, 0)
	if p := effects[Preload](q.Step(t0, Advanced{Load: l.Load, Frames: 134 * rate})); len(p) != 0 {
		t.Fatalf("preload before 75%%: %v", p)
	}
	p := effects[Preload](q.Step(t0, Advanced{Load: l.Load, Frames: 1 * rate}))
	if len(p) != 1 || p[0].Track != "al-1" {
		t.Fatalf("preload at 75%%: %v", p)
	}
	if p := effects[Preload](q.Step(t0, Advanced{Load: l.Load, Frames: rate})); len(p) != 0 {
		t.Fatal("preloaded twice")
	}
	if w := effects[Warn](q.Step(t0, Bandwidth{BitsPerSecond: 1e6})); len(w) != 0 {
		t.Fatal("warned at 1 Mbit/s for 160 kbit/s")
	}
	w := effects[Warn](q.Step(t0, Bandwidth{BitsPerSecond: 100e3}))
	if len(w) != 1 || !errors.Is(w[0].Err, ErrTierUnsustainable) {
		t.Fatalf("no tier warning: %v", w)
	}
	if w := effects[Warn](q.Step(t0, Bandwidth{BitsPerSecond: 90e3})); len(w) != 0 {
		t.Fatal("warned twice for one track")
	}
}

func TestQueuePauseSeekVolume(t *testing.T) {
	q := newQueue()
	l := play(t, q, album(2, "al"), 0, rate)
	fx := q.Step(t0, Pause{})
	if o := effects[Output](fx); len(o) != 1 || o[0].Playing || status(fx).State != StatePaused {
		t.Fatalf("pause: %v", fx)
	}
	fx = q.Step(t0, Resume{})
	if o := effects[Output](fx); len(o) != 1 || !o[0].Playing {
		t.Fatalf("resume: %v", fx)
	}
	fx = q.Step(t0, Seek{Frame: 90 * rate})
	if s := effects[SeekTo](fx); len(s) != 1 || s[0].Frame != 90*rate || s[0].Load != l.Load || status(fx).Position != 90*time.Second {
		t.Fatalf("seek: %v", fx)
	}
	// Seeking moves the position, not the played duration.
	q.Step(t0, Advanced{Load: l.Load, Frames: rate})
	rec := effects[Record](q.Step(t0, Stop{}))
	if rec[0].Event.Played != 2*time.Second {
		t.Errorf("played %v after seek, want 2s", rec[0].Event.Played)
	}
	if v := effects[Volume](q.Step(t0, SetVolume{Gain: 3})); v[0].Gain != 1 {
		t.Errorf("volume not clamped: %v", v)
	}
}

func TestQueueShuffle(t *testing.T) {
	var items []Item
	for i := 0; i < 30; i++ {
		items = append(items, Item{Track: model.TrackID(fmt.Sprint("t", i)), Artist: model.ArtistID(fmt.Sprint("a", i%3))})
	}
	q := newQueue()
	q.Step(t0, SetShuffle{On: true})
	l := play(t, q, items, 5, 0)
	if l.Track != "t5" {
		t.Fatalf("shuffle did not start at the chosen track: %s", l.Track)
	}
	seen := map[model.TrackID]bool{l.Track: true}
	for i := 1; i < 30; i++ {
		fx := q.Step(t0, Next{})
		seen[lastLoad(t, fx).Track] = true
	}
	if len(seen) != 30 {
		t.Fatalf("shuffle played %d distinct tracks of 30", len(seen))
	}
	if fx := q.Step(t0, Next{}); status(fx).State != StateEnded {
		t.Fatal("shuffle did not end after every track")
	}
}

func TestFramesToDuration(t *testing.T) {
	cases := []struct {
		frames int64
		rate   int
		want   time.Duration
	}{
		{0, 44100, 0},
		{44100, 44100, time.Second},
		{1, 44100, 22675},
		{1 << 40, 48000, 22906492*time.Second + 245333333},
	}
	for _, c := range cases {
		if got := framesToDuration(c.frames, c.rate); got != c.want {
			t.Errorf("%d@%d = %v, want %v", c.frames, c.rate, got, c.want)
		}
	}
}

// TestQueuePlayFromFrame starts a play mid-track (resume): the load asks
// for that frame, the played duration counts only frames actually played,
// and the next track starts at its beginning.
func TestQueuePlayFromFrame(t *testing.T) {
	for _, tc := range []struct {
		name      string
		frame     int64
		wantStart int64
	}{
		{"beginning", 0, 0},
		{"mid-track", 90 * rate, 90 * rate},
		{"negative is the beginning", -5, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newQueue()
			fx := q.Step(t0, PlayContext{Items: album(2, "al"), StartFrame: tc.frame})
			l := lastLoad(t, fx)
			if l.StartFrame != tc.wantStart {
				t.Fatalf("Load.StartFrame = %d, want %d", l.StartFrame, tc.wantStart)
			}
			q.Step(t0, Ready{Load: l.Load, Frames: 180 * rate, Bitrate: 160000})
			q.Step(t0, Advanced{Load: l.Load, Frames: 40 * rate})
			fx = q.Step(t0, Ended{Load: l.Load})
			if e := effects[Record](fx)[0].Event; e.Played != 40*time.Second || !e.IsStream {
				t.Errorf("recorded %v played (stream %v), want 40s and a stream", e.Played, e.IsStream)
			}
			if next := lastLoad(t, fx); next.StartFrame != 0 {
				t.Errorf("next track starts at frame %d, want 0", next.StartFrame)
			}
		})
	}
}

// The next track is preloaded at 75 %, or early enough for the crossfade
// plus PreloadMargin, on a 7.5 s track; a gapless one PreloadMargin
// before the end (it was 75 %, 0.125 s later here, and on a track
// shorter than about 4 blocks the chain reached its end first).
func TestQueuePreloadPointFollowsCrossfade(t *testing.T) {
	const frames = 7*rate + rate/2
	tests := []struct {
		fade    time.Duration
		sameAlb bool
		wantAt  int64 // first position (frames) at which Preload is emitted
	}{
		{0, false, frames - 2*rate},
		{2 * time.Second, true, frames - 2*rate}, // same album: gapless
		{1 * time.Second, false, frames - 3*rate},
		{2 * time.Second, false, frames - 4*rate},
		{3 * time.Second, false, frames - 5*rate},
		{5 * time.Second, false, frames - 7*rate},
		{12 * time.Second, false, 0},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.fade, tc.sameAlb), func(t *testing.T) {
			q := newQueue()
			q.Step(t0, SetCrossfade{Duration: tc.fade})
			items := []Item{{Track: "a", Album: "A"}, {Track: "b", Album: "B"}}
			if tc.sameAlb {
				items[1].Album = "A"
			}
			l := lastLoad(t, q.Step(t0, PlayContext{Items: items}))
			at := int64(-1)
			if p := effects[Preload](q.Step(t0, Ready{Load: l.Load, Frames: frames})); len(p) == 1 {
				at = 0
			}
			for pos := int64(0); at < 0 && pos < frames; pos += 64 {
				if p := effects[Preload](q.Step(t0, Advanced{Load: l.Load, Frames: 64})); len(p) == 1 {
					at = pos + 64
					if p[0].Track != "b" || p[0].Crossfade != map[bool]time.Duration{true: 0, false: tc.fade}[tc.sameAlb] {
						t.Fatalf("preload %+v", p[0])
					}
				}
			}
			// Advanced comes in blocks of 64 frames: the preload lands on
			// the first block at or after the point.
			if at < tc.wantAt || at >= tc.wantAt+64 {
				t.Fatalf("preloaded at frame %d, want %d", at, tc.wantAt)
			}
		})
	}
}

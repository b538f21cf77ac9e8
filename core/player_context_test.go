package core_test

import (
	"context"
	"math"
	"testing"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/sync/docs"
)

// TestAlbumGain plays the demo album through core.PlayAlbum in album-gain
// mode: every track is the unnormalised play times one constant gain, the
// album's (−14 LUFS − album loudness), except where a track's own true
// peak limits it to −1 dBTP.
func TestAlbumGain(t *testing.T) {
	tb := newTestbed(t)
	e := tb.openEngine(t, core.DefaultOptions(), tb.url)
	ctx := context.Background()
	info, err := e.TrackInfo(ctx, tb.tracks[0])
	if err != nil {
		t.Fatal(err)
	}
	album, tracks, err := e.Album(ctx, info.AlbumID)
	if err != nil {
		t.Fatal(err)
	}
	if album.Loudness == (model.Loudness{}) || len(tracks) != len(tb.tracks) {
		t.Fatalf("album %+v with %d tracks", album, len(tracks))
	}
	playAlbum := func(*player.Player) error { return e.PlayAlbum(ctx, album.ID, 0) }
	ref := playThroughEngine(t, e, noGain(model.TierHigh), playAlbum, nil).samples
	albumMode := player.DefaultGainOptions().WithMode(player.GainAlbum)
	run := playThroughEngine(t, e, player.DefaultOptions().WithTier(model.TierHigh).WithGain(albumMode), playAlbum, nil)
	if len(run.samples) != len(ref) {
		t.Fatalf("%d samples, unnormalised play has %d", len(run.samples), len(ref))
	}
	albumGain := player.TargetLUFS - album.Loudness.IntegratedLUFS
	unlimited := 0
	lo := int64(0)
	for i, tr := range tracks {
		hi := int64(len(ref) / 2)
		if i < len(demoalbum.Cuts) {
			hi = demoalbum.Cuts[i]
		}
		want := player.NormalisationGainDB(tr.Loudness, album.Loudness, albumMode)
		if tr.Loudness.TruePeakDBTP+albumGain <= player.PeakCeilingDBTP {
			unlimited++
			if math.Abs(want-albumGain) > 1e-9 {
				t.Fatalf("track %d: gain %.3f dB, want the album's %.3f", i+1, want, albumGain)
			}
		}
		trackGain := player.NormalisationGainDB(tr.Loudness, model.Loudness{}, player.DefaultGainOptions())
		t.Logf("track %d: album-mode gain %+.2f dB (track mode would be %+.2f dB)", i+1, want, trackGain)
		g := player.DBToLinear(want)
		for k := lo * 2; k < hi*2; k++ {
			if d := math.Abs(float64(run.samples[k] - ref[k]*g)); d > 1e-6 {
				t.Fatalf("track %d, sample %d: %v, want %v × %v", i+1, k, run.samples[k], ref[k], g)
			}
		}
		lo = hi
	}
	if unlimited < 2 {
		t.Fatalf("only %d tracks play at the album gain: the test shows no common gain", unlimited)
	}
}

// TestPlayPlaylist plays a playlist document's entries through
// core.PlayPlaylist: the output is the entries' tracks back to back,
// sample for sample, and the play events carry the playlist context.
func TestPlayPlaylist(t *testing.T) {
	tb := newTestbed(t)
	e := tb.openEngine(t, core.DefaultOptions(), tb.url)
	ctx := context.Background()
	d, err := e.OpenDocs(ctx, testUser)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	id, err := d.Playlists().Create(ctx, "mix")
	if err != nil {
		t.Fatal(err)
	}
	order := []int{2, 0}
	if _, err := d.Playlists().Add(ctx, id, docs.AtEnd(), tb.tracks[order[0]], tb.tracks[order[1]]); err != nil {
		t.Fatal(err)
	}
	run := playThroughEngine(t, e, noGain(model.TierHigh), func(*player.Player) error {
		return e.PlayPlaylist(ctx, d, id, 0)
	}, nil)
	var want []float32
	for _, i := range order {
		want = append(want, playThroughEngine(t, e, noGain(model.TierHigh), playItems(albumOf(tb, i)), nil).samples...)
	}
	if !equalFloats(run.samples, want) {
		t.Fatalf("playlist output (%d frames) differs from its tracks played one by one (%d)", len(run.samples)/2, len(want)/2)
	}
	if len(run.history) != 2 {
		t.Fatalf("history %+v", run.history)
	}
	for k, h := range run.history {
		ev := h.Event
		if ev.TrackID != tb.tracks[order[k]] || ev.End != model.EndCompleted ||
			ev.Context != (model.PlayContext{Kind: "playlist", ID: id.String()}) {
			t.Fatalf("play event %d: %+v", k, ev)
		}
	}

	empty, err := d.Playlists().Create(ctx, "empty")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.OpenPlayer(player.NewDiscardSink(44100, 2), player.DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	defer e.ClosePlayer()
	if err := e.PlayPlaylist(ctx, d, empty, 0); err == nil {
		t.Fatal("an empty playlist played")
	}
}

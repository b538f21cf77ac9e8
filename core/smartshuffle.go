package core

import (
	"context"
	"fmt"
	"slices"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/player/shuffle"
	"github.com/segue-fm/segue/sync/docs"
)

// Smart Shuffle parameters.
const (
	// SmartShuffleEvery is how many playlist entries pass between two
	// inserted recommendations.
	SmartShuffleEvery = 3
	// smartTasteWeight weighs taste (1 for the best-ranked candidate,
	// falling linearly) against feature distance (≈ 0–2) in
	// shuffle.PlanInsertions.
	smartTasteWeight = 0.5
	// maxSmartCandidates bounds the candidates whose metadata is fetched.
	maxSmartCandidates = 200
	// smartSimilarSeeds is how many playlist entries the relay is asked
	// for similar tracks when the device holds no recommendations.
	smartSimilarSeeds = 3
)

// SetSmartShuffle turns Smart Shuffle on or off for the playlists played
// from then on: PlayPlaylist inserts one recommended track after every
// SmartShuffleEvery entries, chosen by shuffle.PlanInsertions (closest in
// audio features to the entries on both sides, minus a taste term).
// Tracks without audio features (ingested without a master) count as
// the zero feature vector, so among unmeasured tracks taste decides.
// Candidates are the tracks of the listener's service playlists held on
// this device (Discover Weekly, Daily Mixes, Release Radar — synced like
// any playlist, so it works offline), ranked by their position there,
// or, when the device holds none, tracks the relay finds similar to the
// first entries. Inserted items are marked (player.Status.Inserted),
// removable (player.Player.RemoveInserted), play with context
// player.ContextSmartShuffle, and never touch the playlist document.
func (e *Engine) SetSmartShuffle(on bool) { e.player.smart.Store(on) }

// SmartShuffle reports whether Smart Shuffle is on.
func (e *Engine) SmartShuffle() bool { return e.player.smart.Load() }

// playSmartShuffle plays playlist id's tracks ids with recommendations
// inserted; without usable candidates it plays the playlist as it is.
func (e *Engine) playSmartShuffle(ctx context.Context, d *Docs, id docs.DocumentID, ids []model.TrackID, start int, frame int64) error {
	c := model.PlayContext{Kind: "playlist", ID: id.String()}
	cands, taste := e.smartCandidates(ctx, d, ids)
	tracks, errs := e.TrackInfos(ctx, append(slices.Clone(ids), cands...))
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("core: play playlist %s: %w", id, err)
	}
	pl := tracks[:len(ids)]
	for i, err := range errs[:len(ids)] {
		if err != nil {
			pl[i] = model.Track{ID: ids[i]}
		}
	}
	var candTracks []model.Track
	var candFeats []model.AudioFeatures
	var candTaste []float64
	for j, t := range tracks[len(ids):] {
		if errs[len(ids)+j] != nil {
			continue
		}
		var f model.AudioFeatures // unmeasured: the zero vector, far from measured tracks
		if t.Features != nil {
			f = *t.Features
		}
		candTracks, candFeats, candTaste = append(candTracks, t), append(candFeats, f), append(candTaste, taste[j])
	}
	plFeats := make([]model.AudioFeatures, len(pl))
	for i, t := range pl {
		if t.Features != nil {
			plFeats[i] = *t.Features
		}
	}
	ins, err := shuffle.PlanInsertions(plFeats, candFeats, candTaste, SmartShuffleEvery, smartTasteWeight)
	if err != nil {
		return fmt.Errorf("core: smart shuffle: %w", err)
	}
	if len(ins) == 0 {
		e.log.Info("core: smart shuffle found nothing to insert; playing the playlist as it is", "playlist", id)
	}
	items, first := insertItems(pl, candTracks, ins, start)
	p := e.Player()
	if p == nil {
		return ErrNoPlayer
	}
	e.player.late.Stop()   // the queue it describes is being replaced
	e.social.setContext(c) // the activity's context, as play sets it
	return p.Send(player.PlayContext{Context: c, Items: items, Start: first, StartFrame: frame, Offline: e.OfflineMode()})
}

// insertItems merges playlist tracks pl and the planned insertions into
// queue items and returns the item index of playlist entry start.
func insertItems(pl, cands []model.Track, ins []shuffle.Insertion, start int) ([]player.Item, int) {
	base := playerItems(pl, model.Loudness{})
	after := map[int]int{}
	for _, in := range ins {
		after[in.After] = in.Candidate
	}
	items := make([]player.Item, 0, len(base)+len(ins))
	first := 0
	for i, it := range base {
		if i == start {
			first = len(items)
		}
		items = append(items, it)
		if c, ok := after[i]; ok {
			x := playerItems(cands[c:c+1], model.Loudness{})[0]
			x.Inserted = true
			items = append(items, x)
		}
	}
	return items, first
}

// smartCandidates returns the tracks Smart Shuffle may insert (none of
// them in the playlist) and each one's taste score in [0, 1].
func (e *Engine) smartCandidates(ctx context.Context, d *Docs, playlist []model.TrackID) ([]model.TrackID, []float64) {
	in := map[model.TrackID]bool{}
	for _, t := range playlist {
		in[t] = true
	}
	var out []model.TrackID
	var taste []float64
	add := func(ts []model.TrackID) {
		for r, t := range ts {
			if in[t] || len(out) == maxSmartCandidates {
				continue
			}
			in[t] = true
			out = append(out, t)
			taste = append(taste, 1-float64(r)/float64(len(ts)))
		}
	}
	views, err := d.Playlists().List(ctx)
	if err != nil {
		e.log.Warn("core: smart shuffle: list playlists", "err", err)
	}
	for _, v := range views {
		if v.Info.Owner != docs.ServiceUser {
			continue
		}
		ts := make([]model.TrackID, len(v.Entries))
		for i, en := range v.Entries {
			ts[i] = en.Track
		}
		add(ts)
	}
	if len(out) == 0 && !e.OfflineMode() {
		for _, seed := range playlist[:min(len(playlist), smartSimilarSeeds)] {
			sim, err := e.SimilarTracks(ctx, seed, 20)
			if err != nil {
				e.log.Warn("core: smart shuffle: similar tracks", "track", seed, "err", err)
				continue
			}
			add(sim)
		}
	}
	return out, taste
}

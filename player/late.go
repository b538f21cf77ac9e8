package player

import (
	"context"
	"sync"

	"github.com/segue-fm/segue/core/model"
)

// Lookup returns the metadata of tracks by id: tracks[i] describes
// ids[i], or errs[i] says why there is no description (as
// core.Engine.TrackInfos and the web engine's TrackInfos do).
type Lookup func(ctx context.Context, ids []model.TrackID) (tracks []model.Track, errs []error)

// lateFirstRound is how many items the first round of FillLate looks up;
// each later round is twice the one before, so a 100,000-entry context
// is described in 7 rounds (and the queue spreads its shuffle again at
// most as often).
const lateFirstRound = 800

// StartOrder returns the indexes of n items in the order a play from
// start needs their metadata: start (clamped as PlayContext.Start is) and
// the items after it, then those before it.
func StartOrder(n, start int) []int {
	if n <= 0 {
		return nil
	}
	start = min(max(start, 0), n-1)
	order := make([]int, 0, n)
	for i := start; i < n; i++ {
		order = append(order, i)
	}
	for i := range start {
		order = append(order, i)
	}
	return order
}

// ItemOf returns the queue item of track t: its album and first artist,
// with album loudness album (zero when unknown or mixed).
func ItemOf(t model.Track, album model.Loudness) Item {
	it := Item{Track: t.ID, Album: t.AlbumID, AlbumLoudness: album}
	if len(t.ArtistIDs) > 0 {
		it.Artist = t.ArtistIDs[0]
	}
	return it
}

// FillLate looks up, with lookup, the metadata of the items at indexes
// order of a context played without it (ids[i] is item i's track), in
// rounds of 800 items then twice the round before, and gives each round's
// artists and albums to the player (Describe) as it arrives. An item
// whose lookup failed is left as it was queued. FillLate returns nil once
// every round was given, ctx's error once ctx ends, or ErrPlayerClosed.
func (p *Player) FillLate(ctx context.Context, ids []model.TrackID, order []int, lookup Lookup) error {
	round := lateFirstRound
	for len(order) > 0 {
		part := order[:min(round, len(order))]
		order = order[len(part):]
		round *= 2
		ask := make([]model.TrackID, len(part))
		for k, i := range part {
			ask[k] = ids[i]
		}
		tracks, errs := lookup(ctx, ask)
		if err := ctx.Err(); err != nil {
			return err
		}
		infos := make([]ItemInfo, 0, len(part))
		for k, i := range part {
			if errs[k] == nil {
				it := ItemOf(tracks[k], model.Loudness{})
				infos = append(infos, ItemInfo{Index: i, Track: ids[i], Artist: it.Artist, Album: it.Album})
			}
		}
		if len(infos) == 0 {
			continue
		}
		if err := p.Describe(infos); err != nil {
			return err
		}
	}
	return nil
}

// Late runs an engine's background metadata fill (FillLate), one at a
// time: each ends when the next play replaces the queue (Replace) or the
// engine closes (Stop). The zero value is ready to use.
type Late struct {
	mu   sync.Mutex
	stop context.CancelFunc // ends the running fill; nil when none
	done chan struct{}      // closed when it has ended
}

// Replace ends the running fill and waits for it; then, when fill is not
// nil, runs fill on a goroutine of its own with a context that keeps
// parent's values but not its cancellation, and ends at the next Replace
// or Stop.
func (l *Late) Replace(parent context.Context, fill func(ctx context.Context)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stop != nil {
		l.stop()
		<-l.done
		l.stop, l.done = nil, nil
	}
	if fill == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(parent))
	done := make(chan struct{})
	l.stop, l.done = cancel, done
	go func() {
		defer close(done)
		defer cancel()
		fill(ctx)
	}()
}

// Stop ends the running fill, if any, and waits for it.
func (l *Late) Stop() { l.Replace(context.Background(), nil) }

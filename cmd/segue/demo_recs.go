package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/recs/relayrecs"
	"github.com/segue-fm/segue/sync/docs"
)

// demoSimListeners is how many simulated listeners the recommendation
// step adds to the demo relay's listening.
const demoSimListeners = 20

// discoverWeekly runs the relay's recommendation service once for this
// week over the demo catalog and shows a new listener's Discover Weekly
// arriving on her device as a read-only playlist. The listening is
// simulated (cleo played two tracks; 20 simulated listeners) plus ada's
// counted streams. The demo catalog is one album by one artist, so the
// at-most-2-per-artist rule caps the playlist at 2 tracks where a real
// catalog gives 30.
func (d *demo) discoverWeekly(ctx context.Context) error {
	fmt.Fprintln(d.out)
	if d.relay.Docs() == nil {
		return errors.New("the relay's sync endpoint is not mounted")
	}
	cleoEngine, err := d.newDevice(ctx, "device-3", "cleo", "Cleo's phone")
	if err != nil {
		return err
	}
	defer cleoEngine.Close()
	t := d.tracks
	cleo := map[model.TrackID]uint64{t[0].ID: 9, t[1].ID: 4}
	var sims []model.UserID
	for i := range demoSimListeners {
		sims = append(sims, model.UserID(fmt.Sprintf("sim%02d", i)))
	}
	simulated := relayrecs.SimulatedPlays(d.tracks, sims, 6, nil, 1)
	counted := relayrecs.CountedPlays(d.data.Store)
	plays := func(ctx context.Context, from, to time.Time) (map[model.UserID]map[model.TrackID]uint64, error) {
		out, err := counted(ctx, from, to)
		if err != nil {
			return nil, err
		}
		sim, err := simulated(ctx, from, to)
		if err != nil {
			return nil, err
		}
		for u, m := range sim {
			out[u] = m
		}
		out["cleo"] = cleo
		return out, nil
	}
	svc := relayrecs.New(d.data.Store, d.data.Catalog, d.relay.Docs(), plays, relayrecs.DefaultOptions().WithLogger(d.log))
	week := relayrecs.ISOWeek(time.Now().UTC())
	d.step("recs: simulated listening over the demo catalog (%d tracks, one artist): cleo played %q and %q, %d simulated listeners, ada's counted streams",
		len(t), t[0].Title, t[1].Title, demoSimListeners)
	res, err := svc.RunWeek(ctx, week)
	if err != nil {
		return err
	}
	d.step("recs: ALS trained; Discover Weekly %s delivered to %d listeners (%d failed) as service-owned playlist documents", week, res.Delivered, res.Failed)
	x, err := cleoEngine.OpenDocs(ctx, "cleo")
	if err != nil {
		return err
	}
	defer x.Close()
	if err := x.StartSync(ctx); err != nil {
		return err
	}
	var dw docs.DocumentID
	if err := waitFor(ctx, 20*time.Second, func() (bool, error) {
		ps, err := x.Playlists().List(ctx)
		if err != nil {
			return false, err
		}
		for _, p := range ps {
			if p.Info.Owner == docs.ServiceUser && len(p.Entries) > 0 {
				dw = p.ID
				return true, nil
			}
		}
		return false, nil
	}); err != nil {
		return fmt.Errorf("cleo's Discover Weekly never arrived: %w", err)
	}
	d.step("cleo's device synced it through her library: %s", d.describe(ctx, x, dw))
	v, err := x.Playlists().Get(ctx, dw)
	if err != nil {
		return err
	}
	for _, e := range v.Entries {
		if e.Track == t[0].ID || e.Track == t[1].ID {
			return fmt.Errorf("%w: Discover Weekly holds %s, which cleo has played", errDemoCheck, e.Track)
		}
	}
	err = x.Playlists().Rename(ctx, dw, "mine now")
	if !errors.Is(err, docs.ErrReadOnly) {
		return fmt.Errorf("%w: renaming Discover Weekly: %v, want read-only", errDemoCheck, err)
	}
	d.step("  none of it played by cleo, at most 2 per artist (so 2 here: the demo catalog has one artist; a real catalog fills 30); editing it is refused: %s",
		strings.TrimPrefix(docs.ErrReadOnly.Error(), "docs: "))
	return nil
}

package relayrecs

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"gonum.org/v1/gonum/mat"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/recs/sparkals"
	"github.com/segue-fm/segue/sync/relaysync"
)

// FactorStats counts how a loaded factor run matched the relay's
// catalog and listeners.
type FactorStats struct {
	// Items and Users are the rows used.
	Items, Users int
	// DroppedItems are rows of tracks not in the catalog (removed since
	// the export) or not released yet (an embargoed album); DroppedUsers
	// rows of users with no library here.
	DroppedItems, DroppedUsers int
	// Uncovered are catalog tracks without a row (new since the export):
	// they are treated as unplayed, so the audio-feature stage covers
	// them.
	Uncovered int
}

// loadFactors reads the configured Spark factor directory (package
// sparkals) and aligns it with the catalog index and the listeners: it
// fills snap.factors and returns the item factors, one row per catalog
// item (zero for uncovered items). Rows of unknown tracks or users are
// dropped and counted, not fatal: the catalog and the listeners move on
// while Spark trains. A malformed or oversized directory fails the run,
// so the previous playlists stay.
func (s *Service) loadFactors(ctx context.Context, snap *snapshot, index map[model.TrackID]int) (*mat.Dense, error) {
	f, err := sparkals.Load(ctx, s.opts.factorsDir, s.opts.factorLimits)
	if err != nil {
		return nil, fmt.Errorf("relayrecs: load factors: %w", err)
	}
	listeners, err := relaysync.Listeners(ctx, s.st)
	if err != nil {
		return nil, err
	}
	known := make(map[model.UserID]bool, len(listeners))
	for _, u := range listeners {
		known[u] = true
	}
	var st FactorStats
	rank := f.Manifest.Rank
	items := mat.NewDense(max(len(index), 1), rank, nil)
	covered := make([]bool, len(index))
	for r, id := range f.Items.IDs {
		i, ok := index[model.TrackID(id)]
		if !ok {
			st.DroppedItems++
			continue
		}
		items.SetRow(i, f.Items.Factors.RawRowView(r))
		covered[i] = true
		st.Items++
	}
	for _, c := range covered {
		if !c {
			st.Uncovered++
		}
	}
	for r, id := range f.Users.IDs {
		if !known[model.UserID(id)] {
			st.DroppedUsers++
			continue
		}
		snap.factors[model.UserID(id)] = f.Users.Factors.RawRowView(r)
		st.Users++
	}
	s.mu.Lock()
	s.factorStats = st
	s.mu.Unlock()
	s.opts.log.Info("relayrecs: loaded Spark factors", "run", f.Manifest.RunID, "export", f.Manifest.ExportID,
		"rank", rank, "items", st.Items, "users", st.Users, "dropped_items", st.DroppedItems,
		"dropped_users", st.DroppedUsers, "uncovered_items", st.Uncovered)
	if len(index) == 0 {
		return nil, nil
	}
	return items, nil
}

// FactorStats returns how the latest loaded factor run matched (zero
// when the service trains in process or has not run).
func (s *Service) FactorStats() FactorStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.factorStats
}

// WriteFactors writes the latest in-process model's factors to dir in
// the layout of package sparkals (the files a Spark run hands back):
// the user factors of every listener who played something and the item
// factors of every track someone played (the rows ALS trained). It lets
// an operator compare a Spark pipeline against the embedded trainer on
// the same data. ErrNoModel before the first run or when the latest
// model has no factors.
func (s *Service) WriteFactors(dir string, m sparkals.Manifest, p sparkals.Precision) error {
	s.mu.Lock()
	snap := s.snap
	s.mu.Unlock()
	if snap == nil || snap.u.Factors == nil {
		return ErrNoModel
	}
	_, rank := snap.u.Factors.Dims()
	var items sparkals.Table
	var rows []float64
	for i, it := range snap.u.Items {
		if snap.u.Plays[i] > 0 {
			items.IDs = append(items.IDs, string(it.Track))
			rows = append(rows, snap.u.Factors.RawRowView(i)...)
		}
	}
	if len(items.IDs) > 0 {
		items.Factors = mat.NewDense(len(items.IDs), rank, rows)
	}
	var users sparkals.Table
	rows = nil
	for _, u := range slices.Sorted(maps.Keys(snap.factors)) {
		users.IDs = append(users.IDs, string(u))
		rows = append(rows, snap.factors[u]...)
	}
	if len(users.IDs) > 0 {
		users.Factors = mat.NewDense(len(users.IDs), rank, rows)
	}
	return sparkals.Write(dir, m, users, items, p)
}

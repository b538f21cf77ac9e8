package download

import (
	"slices"

	"github.com/segue-fm/segue/core/model"
)

// CompleteTracks returns the tracks completely downloaded at some tier,
// sorted, each once. The slice is the caller's.
func (m *Manager) CompleteTracks() []model.TrackID {
	m.mu.Lock()
	var out []model.TrackID
	for tt, j := range m.jobs {
		if j.complete() {
			out = append(out, tt.track)
		}
	}
	m.mu.Unlock()
	slices.Sort(out)
	return slices.Compact(out)
}

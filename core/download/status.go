package download

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/segue-fm/segue/core/model"
)

// ItemStatus is the state of one download request.
type ItemStatus struct {
	Ref        Ref
	Resolved   bool
	Tracks     int
	TracksDone int
	Err        string
}

// LicenseInfo describes one stored license (no keys).
type LicenseInfo struct {
	ID      string
	Entries int
	Issued  time.Time
	Expires time.Time
	// Until is Expires plus the grace period: playback stops then.
	Until time.Time
}

// Status is a snapshot of downloads, storage and licenses.
type Status struct {
	Items      []ItemStatus
	Tracks     int   // distinct (track, tier) downloads, shared ones once
	TracksDone int   // of which complete
	Bytes      int64 // stored encrypted bytes, each track counted once
	Paused     string
	AllowMeter bool
	Licenses   []LicenseInfo
	TrustedNow time.Time
	Revoked    bool
	// Refused is the relay's reason for refusing the last renewal, if any.
	Refused string
}

// Status returns the current state. It opens the stored licenses (no
// network) to report their expiry.
func (m *Manager) Status(ctx context.Context) (Status, error) {
	var s Status
	m.mu.Lock()
	for _, j := range m.jobs {
		s.Tracks++
		s.Bytes += j.DoneBytes
		if j.complete() {
			s.TracksDone++
		}
	}
	for r, it := range m.items {
		is := ItemStatus{Ref: r, Resolved: it.Resolved, Tracks: len(it.Tracks)}
		for _, t := range it.Tracks {
			if j, ok := m.jobs[trackTier{model.TrackID(t), r.Tier}]; ok && j.complete() {
				is.TracksDone++
			}
		}
		if err := m.errs[r]; err != nil {
			is.Err = err.Error()
		}
		s.Items = append(s.Items, is)
	}
	s.Paused, s.AllowMeter, s.Revoked, s.Refused = m.paused, m.allowMet, m.state.Revoked, m.state.Refused
	m.mu.Unlock()
	slices.SortFunc(s.Items, func(a, b ItemStatus) int { return strings.Compare(a.Ref.String(), b.Ref.String()) })
	s.TrustedNow = m.TrustedNow(ctx)
	m.licMu.Lock()
	defer m.licMu.Unlock()
	if err := m.loadLicensesLocked(ctx); err != nil {
		return s, err
	}
	for _, l := range m.lics {
		s.Licenses = append(s.Licenses, LicenseInfo{ID: l.ID, Entries: len(l.Entries), Issued: l.Issued, Expires: l.Expires, Until: l.Expires.Add(l.Grace)})
	}
	slices.SortFunc(s.Licenses, func(a, b LicenseInfo) int { return a.Expires.Compare(b.Expires) })
	return s, nil
}

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
	Tracks     int // tracks of the request at its tier, Unavailable ones left out
	TracksDone int // of which completely downloaded
	// Unavailable are the tracks the relay would not license when the
	// request was last resolved, in request order.
	Unavailable []Unavailable
	// Err is why the request's last resolve failed, "" when it did not;
	// it is kept across restarts until a resolve succeeds. A request
	// whose stored record does not decode is listed with only its Ref
	// and an Err saying so, until it is removed or added again.
	Err string
	// Failed are its tracks not downloaded whose last download failed,
	// with the cause, in request order; they are kept across restarts
	// (up to MaxStoredFailures) until the track completes, the failed
	// tracks are retried (Add, Refresh) or the request is removed.
	Failed []TrackFailure
	// Unlicensed counts its tracks no stored license covers (a license
	// record that no longer opens was dropped, or the device was
	// deregistered): they do not play offline until licensed again,
	// which the manager does on its own while online unless the device
	// was deregistered (then Add the request again).
	Unlicensed int
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

// TierStatus counts the downloads at one tier.
type TierStatus struct {
	Tier       model.Tier
	Tracks     int   // tracks downloaded or downloading at Tier, shared ones once
	TracksDone int   // of which complete
	Bytes      int64 // their stored encrypted bytes
}

// Status is a snapshot of downloads, storage and licenses.
type Status struct {
	Items []ItemStatus
	// Tracks counts the distinct tracks downloaded or downloading at any
	// tier, and TracksDone those complete at one tier at least (playable
	// offline): a track downloaded at two tiers counts once. Tiers has
	// the counts per tier.
	Tracks     int
	TracksDone int
	Tiers      []TierStatus // the tiers with downloads, in model.Tiers order
	Bytes      int64        // stored encrypted bytes, each (track, tier) counted once
	Paused     string
	AllowMeter bool
	Licenses   []LicenseInfo
	TrustedNow time.Time
	Revoked    bool
	// Refused is the relay's reason for refusing the last renewal, if any.
	Refused string
}

// Status returns the current state. It opens the stored licenses (no
// network) to report their expiry. It first waits, until ctx ends, for
// the start-up reconcile of the blob files with the store (the
// scheduler runs it before any download, so New returns without
// listing them): a file lost while the manager was closed is not
// reported downloaded, nor its bytes used. After Close it returns
// ErrClosed.
func (m *Manager) Status(ctx context.Context) (Status, error) {
	if err := m.open(); err != nil {
		return Status{}, err
	}
	select {
	case <-m.reconciled:
	case <-ctx.Done():
		return Status{}, ctx.Err()
	}
	var s Status
	m.mu.Lock()
	tiers := map[model.Tier]*TierStatus{}
	tracks := map[model.TrackID]bool{} // track → complete at some tier
	for tt, j := range m.jobs {
		ts := tiers[tt.tier]
		if ts == nil {
			ts = &TierStatus{Tier: tt.tier}
			tiers[tt.tier] = ts
		}
		ts.Tracks++
		ts.Bytes += j.DoneBytes
		s.Bytes += j.DoneBytes
		if j.complete() {
			ts.TracksDone++
		}
		tracks[tt.track] = tracks[tt.track] || j.complete()
	}
	for _, done := range tracks {
		s.Tracks++
		if done {
			s.TracksDone++
		}
	}
	for _, t := range model.Tiers {
		if ts := tiers[t]; ts != nil {
			s.Tiers = append(s.Tiers, *ts)
		}
	}
	tracksOf := map[Ref][]string{}
	for r, it := range m.items {
		tracksOf[r] = it.Tracks
		is := ItemStatus{Ref: r, Resolved: it.Resolved, Tracks: len(it.Tracks), Unavailable: slices.Clone(it.Unavailable), Err: it.Err}
		for _, t := range it.Tracks {
			if j, ok := m.jobs[trackTier{model.TrackID(t), r.Tier}]; ok && j.complete() {
				is.TracksDone++
			}
		}
		is.Failed = m.trackFailuresLocked(r, it.Tracks)
		if err := m.errs[r]; err != nil && is.Err == "" {
			is.Err = err.Error()
		}
		s.Items = append(s.Items, is)
	}
	for r, cause := range m.damaged {
		s.Items = append(s.Items, ItemStatus{Ref: r, Err: "download record damaged (" + cause + "): remove the download, or add it again to download it anew"})
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
	for i := range s.Items {
		for _, t := range tracksOf[s.Items[i].Ref] {
			if m.byTT[trackTier{model.TrackID(t), s.Items[i].Ref.Tier}] == nil {
				s.Items[i].Unlicensed++
			}
		}
	}
	for _, l := range m.lics {
		s.Licenses = append(s.Licenses, LicenseInfo{ID: l.ID, Entries: len(l.Entries), Issued: l.Issued, Expires: l.Expires, Until: l.Expires.Add(l.Grace)})
	}
	slices.SortFunc(s.Licenses, func(a, b LicenseInfo) int { return a.Expires.Compare(b.Expires) })
	return s, nil
}

// TrackCount counts the tracks of some download requests (Manager.Count).
type TrackCount struct {
	Tracks      int // distinct (track, tier) the requests hold: a track two of them name at one tier counts once
	Done        int // of which completely downloaded
	Unavailable int // distinct (track, tier) left out because the relay would not license them
}

// Count counts the tracks of the requests refs, each at its own tier
// (requests not recorded count nothing): what a download of refs makes
// available offline, whatever else is downloaded.
func (m *Manager) Count(refs ...Ref) TrackCount {
	m.mu.Lock()
	defer m.mu.Unlock()
	var c TrackCount
	held := map[trackTier]bool{}
	left := map[trackTier]bool{}
	for _, r := range refs {
		it := m.items[r]
		if it == nil {
			continue
		}
		for _, t := range it.Tracks {
			tt := trackTier{model.TrackID(t), r.Tier}
			if held[tt] {
				continue
			}
			held[tt] = true
			c.Tracks++
			if j, ok := m.jobs[tt]; ok && j.complete() {
				c.Done++
			}
		}
		for _, u := range it.Unavailable {
			left[trackTier{u.Track, r.Tier}] = true
		}
	}
	for tt := range left {
		if !held[tt] { // another of refs holds it: it is not missing
			c.Unavailable++
		}
	}
	return c
}

package download

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/safetext"
	"github.com/segue-fm/segue/store"
)

// TrackFailure is why the last download of a track of a request failed
// (EventFailed: a full disk, a blob failing its check), as this Manager
// saw it or as a previous one stored it.
type TrackFailure struct {
	Track model.TrackID
	// Cause is the error's text, at most MaxFailureCause bytes.
	Cause string
	// At is when the download failed (wall clock).
	At time.Time
}

// failure is a job's last failure cause in memory; stored tells whether
// its dl/fail/ record was written.
type failure struct {
	rec    failRec
	stored bool
}

// loadFailures reads the stored failure causes of the jobs loaded before
// it, deleting those of jobs that are gone or complete (a crash between
// a job's last commit and the deletion of its cause, or a failure
// recorded while its job was being removed).
func (m *Manager) loadFailures(ctx context.Context) error {
	var stale [][]byte
	err := m.d.Store.Iterate(ctx, []byte(pFail), false, func(k, v []byte) error {
		tier, track, ok := strings.Cut(string(k[len(pFail):]), "/")
		tt := trackTier{model.TrackID(track), model.Tier(tier)}
		j := m.jobs[tt]
		var r failRec
		if !ok || j == nil || j.complete() || len(m.lastFail) >= MaxStoredFailures || strictDec.Unmarshal(v, &r) != nil {
			stale = append(stale, append([]byte(nil), k...))
			return nil
		}
		r.Cause = safetext.Cut(r.Cause, MaxFailureCause)
		m.setFailureLocked(tt, failure{rec: r, stored: true})
		return nil
	})
	if err != nil {
		return err
	}
	for len(stale) > 0 {
		batch := stale[:min(len(stale), metaBatch)]
		stale = stale[len(batch):]
		err := m.d.Store.Update(ctx, func(tx store.Txn) error {
			for _, k := range batch {
				if err := tx.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// recordFailure keeps the cause of tt's failed download, in the store
// while fewer than MaxStoredFailures are. A store error is logged: the
// cause is then reported by this Manager only.
func (m *Manager) recordFailure(ctx context.Context, tt trackTier, cause error) {
	m.failMu.Lock()
	defer m.failMu.Unlock()
	f := failure{rec: failRec{Cause: safetext.Cut(cause.Error(), MaxFailureCause), At: m.opts.wall().UnixMilli()}}
	m.mu.Lock()
	prev := m.lastFail[tt]
	room := prev.stored || m.nStored < MaxStoredFailures
	m.mu.Unlock()
	if room {
		b, err := detEnc.Marshal(&f.rec)
		if err == nil {
			err = m.d.Store.Set(ctx, failKey(tt), b)
		}
		if err != nil {
			m.log.Warn("download: failure cause not stored", "track", tt.track, "tier", tt.tier, "err", err)
		}
		f.stored = err == nil
	}
	m.mu.Lock()
	m.setFailureLocked(tt, f)
	m.mu.Unlock()
}

// setFailureLocked sets (or, with a zero f, deletes) tt's failure cause,
// keeping nStored. Caller holds m.mu.
func (m *Manager) setFailureLocked(tt trackTier, f failure) {
	if m.lastFail[tt].stored {
		m.nStored--
	}
	if f == (failure{}) {
		delete(m.lastFail, tt)
		return
	}
	if f.stored {
		m.nStored++
	}
	m.lastFail[tt] = f
}

// forgetFailure drops tt's failure cause (its download completed).
func (m *Manager) forgetFailure(ctx context.Context, tt trackTier) {
	m.failMu.Lock()
	defer m.failMu.Unlock()
	m.mu.Lock()
	f, ok := m.lastFail[tt]
	m.setFailureLocked(tt, failure{})
	m.mu.Unlock()
	if ok && f.stored {
		if err := m.d.Store.Delete(ctx, failKey(tt)); err != nil {
			m.log.Warn("download: failure cause not deleted", "track", tt.track, "tier", tt.tier, "err", err)
		}
	}
}

// forgetFailures drops every failure cause: the failed tracks are retried
// (Add, Refresh). A store error is logged (the stale causes are then
// reported until their tracks complete or fail again).
func (m *Manager) forgetFailures(ctx context.Context) {
	m.failMu.Lock()
	defer m.failMu.Unlock()
	m.mu.Lock()
	var keys [][]byte
	for tt, f := range m.lastFail {
		if f.stored {
			keys = append(keys, failKey(tt))
		}
	}
	clear(m.lastFail)
	m.nStored = 0
	m.mu.Unlock()
	if len(keys) == 0 {
		return
	}
	err := m.d.Store.Update(ctx, func(tx store.Txn) error {
		for _, k := range keys {
			if err := tx.Delete(k); err != nil {
				return fmt.Errorf("delete %s: %w", k, err)
			}
		}
		return nil
	})
	if err != nil {
		m.log.Warn("download: failure causes not deleted", "err", err)
	}
}

// trackFailuresLocked returns the failure causes of the incomplete
// tracks of request r (of tracks ids), in request order. Caller holds
// m.mu.
func (m *Manager) trackFailuresLocked(r Ref, ids []string) []TrackFailure {
	if len(m.lastFail) == 0 {
		return nil
	}
	var out []TrackFailure
	for _, t := range ids {
		tt := trackTier{model.TrackID(t), r.Tier}
		f, ok := m.lastFail[tt]
		if j := m.jobs[tt]; !ok || j == nil || j.complete() {
			continue
		}
		out = append(out, TrackFailure{Track: tt.track, Cause: f.rec.Cause, At: time.UnixMilli(f.rec.At)})
	}
	return out
}

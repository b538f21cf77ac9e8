package download

import (
	"context"
	"time"

	"github.com/segue-fm/segue/core/model"
)

// SetResolvedHook makes resolve call fn after its network work (album
// lookup, licensing) and before it records the result, so tests can
// interleave other operations at that point deterministically.
func SetResolvedHook(m *Manager, fn func(Ref)) {
	m.itemMu.Lock()
	defer m.itemMu.Unlock()
	m.resolved = fn
}

// SetListedHook makes renew call fn after it listed the stored licenses
// and before it reads which are still downloaded. Call it before the
// first renewal.
func SetListedHook(m *Manager, fn func()) { m.listed = fn }

// SetWriteFault makes every write to a blob's temp file call fn first
// and fail with its error when it returns one (a full or failing disk).
// Call it before the first download.
func SetWriteFault(m *Manager, fn func() error) { m.files.writeFault = fn }

// SetFreeSpace makes the manager read the blob directory's free space
// from fn instead of the file system. Call it before the first download.
func SetFreeSpace(m *Manager, fn func() uint64) {
	m.files.free = func(string) (uint64, bool) { return fn(), true }
}

// RecordFailure records cause as the failure of track's download at tier
// (as a failed download does), for tests of the stored causes' bounds.
func RecordFailure(m *Manager, track model.TrackID, tier model.Tier, cause error) {
	m.recordFailure(context.Background(), trackTier{track, tier}, cause)
}

// StoredFailures returns the failure causes in the store.
func StoredFailures(m *Manager) (causes []string, err error) {
	err = m.d.Store.Iterate(context.Background(), []byte(pFail), false, func(_, v []byte) error {
		var r failRec
		if err := strictDec.Unmarshal(v, &r); err != nil {
			return err
		}
		causes = append(causes, r.Cause)
		return nil
	})
	return causes, err
}

// SetTimer makes the scheduler's waits (backoff, Retry-After, idle) use
// fn's channel instead of a real timer: a fake clock for its waits.
func SetTimer(m *Manager, fn func(d time.Duration) <-chan time.Time) { m.timer.Store(&fn) }

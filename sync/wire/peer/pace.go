package peer

import (
	"time"

	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/wire"
)

// lastSent is what pacing knows of a document's last sync message that
// carried changes: when it left (Now) and whether the remote has
// answered it since.
type lastSent struct {
	at       time.Time
	answered bool
}

// paceTimer is the pending release of a held document, or PushRate's
// restart of the flusher, due at at; a fired timer acts only while it is
// still the pending one (a later one may have replaced it after a stop
// that came too late).
type paceTimer struct {
	at   time.Time
	stop func() bool
}

// pacing reports whether the session holds documents at all (Pace or
// Window).
func (s *Session) pacing() bool { return s.Pace > 0 || s.Window > 0 }

// await records, with Pace or Window, that data — a sync message for
// id about to be sent — carries changes: it leaves now, unanswered. A
// message without changes leaves the record as it was: the remote may
// have nothing to say to it, and it starts no window.
func (s *Session) await(id docs.DocumentID, data []byte) {
	if !s.pacing() {
		return
	}
	if n, err := wire.SyncChangeCount(data); err != nil || n == 0 {
		return
	}
	now := s.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.last) >= maxAuthzCache {
		// A remote following this many documents at once is not
		// paced beyond this: the records start over.
		s.last = nil
	}
	put(&s.last, id, lastSent{at: now})
}

// hold reports whether id's next sync message waits: its last message
// with changes is unanswered (Pace), or left less than Window ago. The
// first hold starts the timer that releases it — at the window's end,
// or Pace later while the last message is unanswered, whichever is
// later; the remote's answer (heard) may release it sooner.
func (s *Session) hold(id docs.DocumentID) bool {
	if !s.pacing() {
		return false
	}
	now := s.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.runCtx == nil {
		return false
	}
	if s.paced[id] != nil {
		return true
	}
	l, ok := s.last[id]
	if !ok {
		return false
	}
	var wait time.Duration
	if s.Pace > 0 && !l.answered {
		wait = s.Pace
	}
	if s.Window > 0 {
		wait = max(wait, l.at.Add(s.Window).Sub(now))
	}
	if wait <= 0 {
		// Answered and past its window: nothing left to remember.
		drop(&s.last, id)
		return false
	}
	s.startHoldLocked(id, now, wait)
	return true
}

// startHoldLocked holds id until a timer wait from now releases it.
// s.mu is held.
func (s *Session) startHoldLocked(id docs.DocumentID, now time.Time, wait time.Duration) {
	t := &paceTimer{at: now.Add(wait)}
	put(&s.paced, id, t)
	t.stop = s.AfterFunc(wait, func() { s.release(id, t) })
}

// release ends the hold of id by timer t: the document is flushed
// whether or not the remote answered.
func (s *Session) release(id docs.DocumentID, t *paceTimer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.paced[id] != t {
		return
	}
	drop(&s.paced, id)
	drop(&s.last, id)
	put(&s.dirty, id, true)
	s.startFlusherLocked()
}

// heard records that a sync or request message for id arrived; changes
// reports whether it carried changes (or was a request): the remote
// waits for the answer. The last message is answered. A held document
// is released — its timer stopped, held reported, and the caller
// handles the message and calls resume — unless the message carried no
// changes and the document's Window has not passed: then it stays held
// (until the window's end, when an unanswered message had it held
// longer) and its answer waits for the release (see holding).
func (s *Session) heard(id docs.DocumentID, changes bool) (held bool) {
	if !s.pacing() {
		return false
	}
	var now time.Time
	if s.Window > 0 && !changes {
		now = s.Now()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.last[id]
	switch {
	case ok && s.Window > 0:
		l.answered = true
		put(&s.last, id, l)
	case ok:
		// Without a window an answered message holds nothing back.
		drop(&s.last, id)
	}
	t := s.paced[id]
	if t == nil {
		return false
	}
	if !changes && s.Window > 0 && ok {
		if end := l.at.Add(s.Window); now.Before(end) {
			if t.at.After(end) {
				t.stop()
				s.startHoldLocked(id, now, end.Sub(now))
			}
			return false
		}
	}
	t.stop()
	drop(&s.paced, id)
	drop(&s.last, id)
	return true
}

// holding reports whether id is held: an answer to the remote waits
// for the release, which sends whatever it would have carried.
func (s *Session) holding(id docs.DocumentID) bool {
	if !s.pacing() {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paced[id] != nil
}

// resume follows heard's ended hold once the message is handled: its
// answer normally carried what was held (every change the remote lacks)
// and is awaited in turn; when no answer with changes went out (the
// message was refused, say), the document is flushed as after a change.
func (s *Session) resume(id docs.DocumentID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, sent := s.last[id]; !sent {
		put(&s.dirty, id, true)
		s.startFlusherLocked()
	}
}

// unpaceLocked stops every pacing timer, and PushRate's, when Run
// returns. s.mu is held.
func (s *Session) unpaceLocked() {
	for _, t := range s.paced {
		t.stop()
	}
	s.paced = nil
	s.last = nil
	if s.pushTimer != nil {
		s.pushTimer.stop()
		s.pushTimer = nil
	}
}

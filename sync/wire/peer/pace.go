package peer

import (
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/wire"
)

// paceTimer is the pending release of a paced document; a fired timer
// releases only while it is still the document's (a later one may have
// replaced it after a stop that came too late).
type paceTimer struct{ stop func() bool }

// await records, with Pace, that data — a sync message for id about to
// be sent — carries changes the remote has to answer. A message without
// changes leaves the record as it was: the remote may have nothing to
// say to it.
func (s *Session) await(id docs.DocumentID, data []byte) {
	if s.Pace <= 0 {
		return
	}
	if n, err := wire.SyncChangeCount(data); err != nil || n == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.awaiting) >= maxAuthzCache {
		// A remote that answers nothing is not paced beyond this.
		clear(s.awaiting)
	}
	s.awaiting[id] = true
}

// hold reports whether id's next sync message waits (Pace): its last
// message with changes is unanswered. The first hold starts the timer
// that releases it at the latest Pace later; until then the remote's
// answer (heard) does.
func (s *Session) hold(id docs.DocumentID) bool {
	if s.Pace <= 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.awaiting[id] || s.runCtx == nil {
		return false
	}
	if s.paced[id] == nil {
		t := &paceTimer{}
		s.paced[id] = t
		t.stop = s.AfterFunc(s.Pace, func() { s.release(id, t) })
	}
	return true
}

// release ends the hold of id by timer t: the document is flushed
// whether or not the remote answered.
func (s *Session) release(id docs.DocumentID, t *paceTimer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.paced[id] != t {
		return
	}
	delete(s.paced, id)
	delete(s.awaiting, id)
	s.dirty[id] = true
	s.startFlusherLocked()
}

// heard records that a sync or request message for id arrived: the
// last message is answered, and a held document's timer stops. It
// reports whether a hold ended; the caller then handles the message
// and calls resume.
func (s *Session) heard(id docs.DocumentID) (held bool) {
	if s.Pace <= 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.awaiting, id)
	t := s.paced[id]
	if t == nil {
		return false
	}
	t.stop()
	delete(s.paced, id)
	return true
}

// resume follows heard's ended hold once the message is handled: its
// answer normally carried what was held (every change the remote lacks)
// and is awaited in turn; when no answer with changes went out (the
// message was refused, say), the document is flushed as after a change.
func (s *Session) resume(id docs.DocumentID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.awaiting[id] {
		s.dirty[id] = true
		s.startFlusherLocked()
	}
}

// unpaceLocked stops every pacing timer when Run returns. s.mu is held.
func (s *Session) unpaceLocked() {
	for _, t := range s.paced {
		t.stop()
	}
	clear(s.paced)
	clear(s.awaiting)
}

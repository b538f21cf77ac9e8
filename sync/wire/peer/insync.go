package peer

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire"
)

// sameHeads compares two sets of heads regardless of order.
func sameHeads(a, b []automerge.ChangeHash) bool {
	if len(a) != len(b) {
		return false
	}
	cmp := func(x, y automerge.ChangeHash) int { return slices.Compare(x[:], y[:]) }
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, cmp)
	slices.SortFunc(b, cmp)
	return slices.Equal(a, b)
}

// Announce implements Repo.
func (a *RepoAdapter) Announce(ctx context.Context, peer string, id docs.DocumentID) ([]byte, error) {
	raw, err := a.R.SyncState(ctx, repo.PeerID(peer), id)
	if err != nil {
		return nil, err
	}
	var out []byte
	err = a.View(ctx, id, func(doc *automerge.Doc) error {
		var ss *automerge.SyncState
		if raw != nil {
			if loaded, err := automerge.LoadSyncState(doc, raw); err == nil {
				ss = loaded
			}
		}
		if ss == nil {
			ss = automerge.NewSyncState(doc)
		}
		defer ss.Close()
		if sm, ok := ss.GenerateMessage(); ok {
			out = sm.Bytes()
			sm.Close()
		}
		return nil
	})
	return out, err
}

// InSync implements Repo.
func (a *RepoAdapter) InSync(ctx context.Context, peer string, id docs.DocumentID) (bool, error) {
	raw, err := a.R.SyncState(ctx, repo.PeerID(peer), id)
	if err != nil || raw == nil {
		return false, err
	}
	shared, err := repo.SharedHeads(raw)
	if err != nil {
		return false, fmt.Errorf("sync state %s/%s: %w", peer, id, err)
	}
	var in bool
	err = a.View(ctx, id, func(doc *automerge.Doc) error {
		in = sameHeads(shared, doc.Heads())
		return nil
	})
	return in, err
}

// InSync reports whether this session's remote and the local repository
// share the document's current heads as of the last message received in
// this session or an earlier one with the same remote storage (see
// Repo.InSync). Callers that must know the remote's present state wait
// for a message of this session first (OnSynced): every session answers
// the first sync message of each document, so a connected remote always
// tells its heads.
//
// A document whose refusal by the remote is being set aside and reported
// (OnRefused, OnSetAside) is not in sync until both callbacks returned,
// nor is one whose refusal began while the repository was being read
// (the set-aside document would otherwise look in sync before the
// callbacks ran). In a session with OnAccepted (a device's), neither is
// one whose last message from the remote named heads this side lacks:
// the remote cut it to fit a frame (the shared heads then cover the
// local changes, but the remote has more), and its next messages bring
// the rest.
func (s *Session) InSync(ctx context.Context, id docs.DocumentID) (bool, error) {
	s.init()
	s.mu.Lock()
	refusing, behind, seq := s.refusing[id], s.behind[id], s.refusalSeq
	s.mu.Unlock()
	if refusing || behind {
		return false, nil
	}
	in, err := s.Repo.InSync(ctx, s.peer, id)
	if err != nil || !in {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refusalSeq == seq, nil
}

// HandlingRefusal reports whether a refusal of document id by the
// remote is being set aside and reported right now (between the error
// message and the return of OnRefused and OnSetAside). A caller that
// reads its own record of refusals first and then sees false here knows
// that record is complete for every refusal received so far.
func (s *Session) HandlingRefusal(id docs.DocumentID) bool {
	s.init()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refusing[id]
}

// setRefusing marks or unmarks id as a refusal being handled (InSync,
// HandlingRefusal); marking also moves refusalSeq.
func (s *Session) setRefusing(id docs.DocumentID, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		put(&s.refusing, id, true)
		s.refusalSeq++
	} else {
		drop(&s.refusing, id)
	}
}

// answer sends the next sync message for id after a message from the
// remote; when automerge has nothing to say (the remote's heads equal
// ours) and nothing was sent for id in this session yet, it sends the
// document's heads anyway (Repo.Announce), so a remote that is already in
// sync learns so instead of waiting for a reply that never comes.
func (s *Session) answer(ctx context.Context, id docs.DocumentID) error {
	if s.holding(id) {
		// Held for its window: the release answers.
		return nil
	}
	// The message handled is answered once: a second answer (after a
	// refusal) replaces no push.
	in := s.answering
	if !in.set || in.id != id {
		in = answering{id: id, set: true}
	}
	s.answering.held, s.answering.ack = false, false
	sent, err := s.flushSent(ctx, id, in)
	if err != nil || sent {
		return err
	}
	s.mu.Lock()
	_, done := s.sent[id]
	s.mu.Unlock()
	if done {
		return nil
	}
	if acc, err := s.access(ctx, id); err != nil || !acc.Read {
		return err
	}
	data, err := s.Repo.Announce(ctx, s.peer, id)
	if err != nil || data == nil {
		return err
	}
	s.markSent(id, headsPrint(data))
	return s.sendSync(ctx, id, data)
}

// markSent records that a sync message for id whose heads print to hp
// (headsPrint) went out in this session; it returns the print of the
// one before, when there was one (spoke).
func (s *Session) markSent(id docs.DocumentID, hp uint64) (prev uint64, spoke bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, spoke = s.sent[id]
	if !spoke && len(s.sent) >= maxAuthzCache {
		clear(s.sent)
	}
	s.sent[id] = hp
	return prev, spoke
}

// headsPrint returns a print of the sender's heads in an encoded
// Automerge sync message (SyncMessageHeads): the heads' leading 8 bytes
// summed, without copying them. Two messages of a document with equal
// prints very likely carry the same heads; 0 for a message that does
// not start as a sync message.
func headsPrint(data []byte) uint64 {
	if len(data) < 2 || data[0] != syncMessageType {
		return 0
	}
	n, k := binary.Uvarint(data[1:])
	if k <= 0 || n > uint64(len(data)-1-k)/32 {
		return 0
	}
	var sum uint64
	for rest := data[1+k:]; n > 0; n-- {
		sum += binary.LittleEndian.Uint64(rest)
		rest = rest[32:]
	}
	return sum
}

// carriesChanges reports whether an encoded sync message carries
// changes.
func carriesChanges(data []byte) bool {
	n, err := wire.SyncChangeCount(data)
	return err == nil && n > 0
}

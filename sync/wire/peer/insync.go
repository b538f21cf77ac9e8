package peer

import (
	"context"
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
// callbacks ran).
func (s *Session) InSync(ctx context.Context, id docs.DocumentID) (bool, error) {
	s.init()
	s.mu.Lock()
	refusing, seq := s.refusing[id], s.refusalSeq
	s.mu.Unlock()
	if refusing {
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
		s.refusing[id] = true
		s.refusalSeq++
	} else {
		delete(s.refusing, id)
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
	sent, err := s.flushSent(ctx, id)
	if err != nil || sent {
		return err
	}
	s.mu.Lock()
	done := s.sent[id]
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
	s.markSent(id)
	return s.send(ctx, &wire.Message{Type: wire.TypeSync, SenderID: s.LocalID, TargetID: s.RemoteID, DocumentID: s.names.text(id), Data: data})
}

// markSent records that a sync message for id went out in this session.
func (s *Session) markSent(id docs.DocumentID) {
	s.mu.Lock()
	if len(s.sent) >= maxAuthzCache {
		clear(s.sent)
	}
	s.sent[id] = true
	s.mu.Unlock()
}

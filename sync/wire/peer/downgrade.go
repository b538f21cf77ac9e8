package peer

import (
	"context"

	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/wire"
)

// lostRead handles a document the remote may no longer read although the
// session follows it (a collaborator removed from a private playlist, a
// playlist made private): the session stops following it and tells the
// remote with doc-unavailable at once, so it receives no further change
// of it. Writes are refused by the same Authz on every message (its
// result is cached per document heads, so a change of the ACL takes
// effect with the change itself). A document the session does not follow
// needs nothing.
func (s *Session) lostRead(ctx context.Context, id docs.DocumentID) error {
	s.mu.Lock()
	followed := s.follows[id]
	delete(s.follows, id)
	delete(s.sent, id)
	s.mu.Unlock()
	if !followed {
		return nil
	}
	s.Log.Info("peer: access withdrawn", "doc", id, "user", s.User, "peer", s.RemoteID)
	return s.send(ctx, &wire.Message{Type: wire.TypeDocUnavailable, SenderID: s.LocalID, TargetID: s.RemoteID, DocumentID: s.names.text(id)})
}

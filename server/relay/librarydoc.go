package relay

import (
	"context"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
)

// ensureLibrary makes sure user's library document id (bound by
// relaysync.BindLibrary) exists in the relay's repo, so a client that
// cannot write Segue's deterministic genesis change (the web page's JS
// automerge) finds a library to open. The relay writes that same change
// through repo.OpenLibrary, so it is byte-identical to the one every
// native device writes and their copies merge without a conflict. It
// never fails the caller: a failure is logged and the next registration
// or GET /v1/me tries again.
func (s *Server) ensureLibrary(ctx context.Context, user model.UserID, id docs.DocumentID) {
	if s.docs == nil {
		return
	}
	if _, err := s.docs.OpenLibrary(ctx, id, user); err != nil {
		s.log.Warn("relay: create library document", "user", user, "library", id.String(), "err", err)
	}
}

package relay

import (
	"context"
	"errors"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
)

// ensureLibrary makes sure user's library document id (bound by
// relaysync.BindLibrary) exists in the relay's repo, so a client that
// cannot write Segue's deterministic genesis change (the web page's JS
// automerge) finds a library to open. The relay writes that same change
// (docs.CreateLibrary: actor derived from the owner, no timestamp), so it
// is byte-identical to the one every native device writes and their
// copies merge without a conflict. It is idempotent and race-free
// against a device's sync delivering the library at the same moment: the
// genesis is written inside the handle's Change, and a document that has
// any change already (docs.ErrNotEmpty) is left alone. It never fails
// the caller: a failure is logged and the next registration or GET
// /v1/me tries again.
func (s *Server) ensureLibrary(ctx context.Context, user model.UserID, id docs.DocumentID) {
	if s.docs == nil {
		return
	}
	h, err := s.docs.Ensure(ctx, id)
	if err == nil && h.Empty() {
		err = h.Change(ctx, func(d *automerge.Doc) error {
			_, err := docs.CreateLibrary(d, user, docs.DefaultOptions())
			return err
		})
		if errors.Is(err, docs.ErrNotEmpty) {
			err = nil
		}
	}
	if err != nil {
		s.log.Warn("relay: create library document", "user", user, "library", id.String(), "err", err)
	}
}

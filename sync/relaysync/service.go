package relaysync

import (
	"context"
	"errors"
	"fmt"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
)

// ErrOwned is returned by RecordServiceDocument for an id already
// recorded as another user's document.
var ErrOwned = errors.New("relaysync: document id belongs to another owner")

// RecordServiceDocument records docs.ServiceUser as the owner of id
// inside tx (own/<id>), the owner record every sync session decides
// access with: peer.DocumentAccess then lets only the playlist's
// listener read it and no remote peer write it. An id already recorded
// for someone else is refused (ErrOwned); recording it again is a no-op.
func RecordServiceDocument(tx store.Txn, id docs.DocumentID) error {
	v, err := tx.Get(ownerKey(id))
	switch {
	case err == nil && model.UserID(v) == docs.ServiceUser:
		return nil
	case err == nil:
		return fmt.Errorf("%w: %s", ErrOwned, id)
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("relaysync: read owner of %s: %w", id, err)
	}
	return tx.Set(ownerKey(id), []byte(docs.ServiceUser))
}

// Listeners returns every user with a library bound on the relay
// (lib/<user>; every account gets one at signup or first registration),
// in key order.
func Listeners(ctx context.Context, st store.Store) ([]model.UserID, error) {
	prefix := store.Prefix("lib")
	var out []model.UserID
	err := st.Iterate(ctx, prefix, false, func(k, _ []byte) error {
		out = append(out, model.UserID(k[len(prefix):]))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("relaysync: list libraries: %w", err)
	}
	return out, nil
}

// LibraryOf returns user's bound library id and ok false when none is
// bound yet.
func LibraryOf(ctx context.Context, st store.Store, user model.UserID) (docs.DocumentID, bool, error) {
	v, err := st.Get(ctx, libraryKey(user))
	if errors.Is(err, store.ErrNotFound) {
		return docs.DocumentID{}, false, nil
	}
	if err != nil {
		return docs.DocumentID{}, false, fmt.Errorf("relaysync: read library of %s: %w", user, err)
	}
	id, err := docs.ParseDocumentID(string(v))
	if err != nil {
		return docs.DocumentID{}, false, fmt.Errorf("relaysync: library of %s: %w", user, err)
	}
	return id, true, nil
}

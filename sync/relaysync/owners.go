package relaysync

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// Keys of the relay's document records (docs/ARCHITECTURE.md §5–6).
//
//   - own/<docID> → user: the document's owner, decided by the relay from
//     the authenticated creator and written in the transaction that first
//     stores the document (for a library: when the id is assigned).
//   - lib/<user> → docID: the user's library document id.
//   - udoc/<user>/<docID> → empty: documents user created (per-user cap).
//   - udocn/<user> → decimal count: written by every creation of user, so
//     two concurrent creations conflict and the cap check is atomic.
func ownerKey(id docs.DocumentID) []byte    { return store.Key("own", id.String()) }
func libraryKey(user model.UserID) []byte   { return store.Key("lib", string(user)) }
func udocPrefix(user model.UserID) []byte   { return store.Prefix("udoc", string(user)) }
func udocCountKey(user model.UserID) []byte { return store.Key("udocn", string(user)) }

// OwnerOf returns the recorded owner of document id, "" when none is
// recorded.
func OwnerOf(ctx context.Context, st store.Store, id docs.DocumentID) (model.UserID, error) {
	v, err := st.Get(ctx, ownerKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("relaysync: read owner of %s: %w", id, err)
	}
	return model.UserID(v), nil
}

// BindLibrary returns user's library document id, binding one inside tx
// when none is bound yet: the id docs.LibraryID(user) that older
// versions derived from the username, when the relay records user
// itself as that document's owner (a library the user created before
// ids were assigned keeps its id and content); otherwise a fresh random
// id read from rnd. A new binding writes lib/<user> and own/<id> = user,
// so no one else can create or read a document at that id. The relay
// calls it at signup (in the account's transaction) and, for accounts
// created before, at registration and GET /v1/me.
func BindLibrary(tx store.Txn, user model.UserID, rnd io.Reader) (docs.DocumentID, error) {
	if user == "" {
		return docs.DocumentID{}, fmt.Errorf("relaysync: bind library: empty user")
	}
	v, err := tx.Get(libraryKey(user))
	if err == nil {
		id, perr := docs.ParseDocumentID(string(v))
		if perr != nil {
			return docs.DocumentID{}, fmt.Errorf("relaysync: library of %s: %w", user, perr)
		}
		return id, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return docs.DocumentID{}, fmt.Errorf("relaysync: read library of %s: %w", user, err)
	}
	id := docs.LibraryID(user)
	owner, err := tx.Get(ownerKey(id))
	switch {
	case err == nil && model.UserID(owner) == user:
	case err == nil || errors.Is(err, store.ErrNotFound):
		// Never created, or created by someone else: a random id. The
		// loop guards against an id already recorded (practically never).
		for {
			if id, err = docs.NewDocumentID(rnd); err != nil {
				return docs.DocumentID{}, fmt.Errorf("relaysync: bind library: %w", err)
			}
			if _, err := tx.Get(ownerKey(id)); errors.Is(err, store.ErrNotFound) {
				break
			} else if err != nil {
				return docs.DocumentID{}, fmt.Errorf("relaysync: bind library: %w", err)
			}
		}
	default:
		return docs.DocumentID{}, fmt.Errorf("relaysync: read owner of %s: %w", id, err)
	}
	if err := tx.Set(libraryKey(user), []byte(id.String())); err != nil {
		return docs.DocumentID{}, err
	}
	if err := tx.Set(ownerKey(id), []byte(user)); err != nil {
		return docs.DocumentID{}, err
	}
	return id, nil
}

// RecordOwners writes own/<doc> for every document created on the relay
// before owners were recorded, from the relay's own creation records
// (udoc/<user>/<doc>, written from the authenticated creator; never from
// document content). A document two users' records name is left
// unrecorded and logged: no one may manage it (nor read it, if it is a
// library) until an operator records an owner.
// Idempotent; it returns how many owners it recorded.
func RecordOwners(ctx context.Context, st store.Store, log *slog.Logger) (int, error) {
	creators := map[docs.DocumentID][]model.UserID{}
	prefix := store.Prefix("udoc")
	err := st.Iterate(ctx, prefix, false, func(k, _ []byte) error {
		rest := k[len(prefix):]
		i := bytes.LastIndexByte(rest, '/')
		if i <= 0 {
			return nil
		}
		id, err := docs.ParseDocumentID(string(rest[i+1:]))
		if err != nil {
			return nil
		}
		creators[id] = append(creators[id], model.UserID(rest[:i]))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("relaysync: record owners: %w", err)
	}
	n := 0
	for id, users := range creators {
		if len(users) > 1 {
			log.Warn("relaysync: document created by several users; owner not recorded", "doc", id.String(), "users", users)
			continue
		}
		// Most documents have their owner recorded already (every
		// creation since writes it): a read, not a write transaction,
		// tells, so a restart over 100,000 documents is not 100,000
		// commits.
		if _, err := st.Get(ctx, ownerKey(id)); err == nil {
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return n, fmt.Errorf("relaysync: read owner of %s: %w", id, err)
		}
		wrote := false
		err := st.Update(ctx, func(tx store.Txn) error {
			_, err := tx.Get(ownerKey(id))
			if err == nil {
				wrote = false
				return nil
			}
			if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			wrote = true
			return tx.Set(ownerKey(id), []byte(users[0]))
		})
		if err != nil {
			return n, fmt.Errorf("relaysync: record owner of %s: %w", id, err)
		}
		if wrote {
			n++
		}
	}
	return n, nil
}

// recordCreate runs in the transaction that first stores document id,
// created by user (RecordCreation with the endpoint's per-user cap).
func (e *Endpoint) recordCreate(tx store.Txn, user model.UserID, id docs.DocumentID) error {
	return RecordCreation(tx, user, id, e.opts.maxDocs)
}

// RecordCreation runs in the transaction that first stores document id,
// created by user: it refuses an id recorded for another user
// (peer.ErrForbidden) and a creation past maxDocs documents of user
// (peer.ErrLimit), and records the owner and the creation. The relay's
// sessions call it for every creation (repo.Incoming.Create); a tool
// that fills a relay's store offline (bench/synccap -setup) calls it the
// same way.
func RecordCreation(tx store.Txn, user model.UserID, id docs.DocumentID, maxDocs int) error {
	owner, err := tx.Get(ownerKey(id))
	switch {
	case err == nil && model.UserID(owner) != user:
		return fmt.Errorf("%w %s: the id belongs to another user", peer.ErrForbidden, id)
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("read owner of %s: %w", id, err)
	}
	// Reading the count key makes concurrent creations of one user
	// conflict: the store retries the loser, which then counts again.
	if _, err := tx.Get(udocCountKey(user)); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("read document count of %s: %w", user, err)
	}
	n := 0
	if err := tx.Iterate(udocPrefix(user), false, func(_, _ []byte) error { n++; return nil }); err != nil {
		return fmt.Errorf("count documents of %s: %w", user, err)
	}
	if n >= maxDocs {
		return fmt.Errorf("%w: user %q already has %d documents", peer.ErrLimit, user, n)
	}
	if err := tx.Set(append(udocPrefix(user), id.String()...), nil); err != nil {
		return err
	}
	if err := tx.Set(udocCountKey(user), []byte(strconv.Itoa(n+1))); err != nil {
		return err
	}
	return tx.Set(ownerKey(id), []byte(user))
}

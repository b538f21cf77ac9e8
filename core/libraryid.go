package core

import (
	"context"
	"errors"
	"fmt"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/repo"
)

// libraryIDKey is the store key of the account's library document id
// (bs58check), assigned by the relay and received at registration or
// from GET /v1/me.
var libraryIDKey = []byte("cfg/library-id")

// saveLibraryID checks and stores the library id the relay assigned.
func (e *Engine) saveLibraryID(ctx context.Context, s string) error {
	if _, err := docs.ParseDocumentID(s); err != nil {
		return fmt.Errorf("%w: library id: %w", ErrBadResponse, err)
	}
	if err := e.st.Set(ctx, libraryIDKey, []byte(s)); err != nil {
		return fmt.Errorf("store library id: %w", err)
	}
	return nil
}

// libraryID returns the stored library id; ok is false when the device
// has none (registered with a relay that did not assign one yet).
func (e *Engine) libraryID(ctx context.Context) (id docs.DocumentID, ok bool, err error) {
	v, err := e.st.Get(ctx, libraryIDKey)
	if errors.Is(err, store.ErrNotFound) {
		return docs.DocumentID{}, false, nil
	}
	if err != nil {
		return docs.DocumentID{}, false, fmt.Errorf("core: read library id: %w", err)
	}
	id, err = docs.ParseDocumentID(string(v))
	if err != nil {
		// A damaged record is treated as a missing one: the relay's
		// answer (fetchLibraryID) replaces it, and until then the
		// library is opened at the derived id, then moved into the
		// assigned one as on a device from before assignment.
		e.log.Warn("core: stored library id damaged; asking the relay for it again", "key", string(libraryIDKey), "err", err)
		return docs.DocumentID{}, false, nil
	}
	return id, true, nil
}

// fetchLibraryID asks the relay for the account's library id
// (GET /v1/me) when none is stored, and stores it. A relay that assigns
// none (older than assignment) leaves the device on the derived id.
func (e *Engine) fetchLibraryID(ctx context.Context) error {
	if _, ok, err := e.libraryID(ctx); err != nil || ok {
		return err
	}
	var out api.MeResponse
	if err := e.call(ctx, "GET", "/v1/me", nil, &out, true); err != nil {
		return fmt.Errorf("core: fetch library id: %w", err)
	}
	if out.Library == "" {
		e.log.Info("core: the relay assigns no library id; keeping the derived one")
		return nil
	}
	if err := e.saveLibraryID(ctx, out.Library); err != nil {
		return fmt.Errorf("core: fetch library id: %w", err)
	}
	return nil
}

// libraryDocID is the id the library is opened at: the one the relay
// assigned, or, before the device knows it, the id older versions
// derived from the username (a local document that is moved into the
// assigned one once it is known).
func (d *Docs) libraryDocID(ctx context.Context) (id docs.DocumentID, assigned bool, err error) {
	id, ok, err := d.e.libraryID(ctx)
	if err != nil || ok {
		return id, ok, err
	}
	return docs.LibraryID(d.user), false, nil
}

// library returns the handle of the user's library, creating it when
// missing. The first time it runs with an assigned id that differs from
// the derived one, a library kept locally under the derived id is
// imported into it (Library.Import) and then deleted from this device:
// the relay would refuse it (the id is not the user's), and its content
// lives on in the assigned library.
func (d *Docs) library(ctx context.Context) (*repo.Handle, error) {
	id, assigned, err := d.libraryDocID(ctx)
	if err != nil {
		return nil, err
	}
	h, err := d.repo.OpenLibrary(ctx, id, d.user)
	if err != nil || !assigned {
		return h, err
	}
	d.libMu.Lock()
	defer d.libMu.Unlock()
	if d.libMoved {
		return h, nil
	}
	old := docs.LibraryID(d.user)
	if old != id {
		if err := d.moveLibrary(ctx, old, h); err != nil {
			return nil, err
		}
	}
	d.libMoved = true
	return h, nil
}

// moveLibrary imports the library stored under old into to and deletes
// old; nothing happens when old is not stored.
func (d *Docs) moveLibrary(ctx context.Context, old docs.DocumentID, to *repo.Handle) error {
	oh, err := d.repo.Get(ctx, old)
	if errors.Is(err, repo.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if !oh.Empty() {
		skipped := 0
		err := to.Library(ctx, func(l *docs.Library) error {
			return oh.ReadLibrary(func(from *docs.Library) error {
				var err error
				skipped, err = l.Import(from)
				return err
			})
		})
		if err != nil && !errors.Is(err, docs.ErrWrongType) {
			return fmt.Errorf("move library %s to %s: %w", old, to.ID(), err)
		}
		if skipped > 0 {
			d.e.log.Warn("core: library move left out members or settings no library may hold (too long, control or bidirectional formatting characters)",
				"from", old.String(), "to", to.ID().String(), "skipped", skipped)
		}
	}
	if err := d.repo.Delete(ctx, old); err != nil {
		return fmt.Errorf("move library %s to %s: %w", old, to.ID(), err)
	}
	d.e.log.Info("core: library moved to the id the relay assigned", "from", old.String(), "to", to.ID().String())
	return nil
}

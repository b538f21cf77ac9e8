package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
)

// Handle is one open document of a Repo. Its methods serialise access to
// the document; the *automerge.Doc passed to callbacks must not be
// retained after the callback returns.
type Handle struct {
	repo *Repo
	id   docs.DocumentID

	mu       sync.Mutex
	doc      *automerge.Doc
	nextSeq  uint64 // sequence number of the next increment key
	incCount int    // increments stored since the last snapshot
	incBytes int
	// snapBytes is the size of the stored snapshot: compaction rewrites
	// it, so it waits until the increments are worth a share of it.
	snapBytes int
	// dirty is set when persisting failed after the document changed in
	// memory: the next persist writes a full snapshot so nothing is lost.
	dirty bool
	syncs map[PeerID]*automerge.SyncState
	// view is the playlist's ordered entries, kept across calls so that
	// reads and placements on big playlists do not re-read every entry
	// (docs.EntryView rebuilds it when the heads moved). Nil until the
	// document is first opened as a playlist.
	view *docs.EntryView
}

// playlist opens the document as a playlist with the handle's entry
// view. Caller holds h.mu.
func (h *Handle) playlist(d *automerge.Doc) (*docs.Playlist, error) {
	if h.view == nil {
		h.view = docs.NewEntryView()
	}
	return docs.OpenPlaylistWith(d, h.view, h.repo.opts.docs)
}

// ID returns the document id.
func (h *Handle) ID() docs.DocumentID { return h.id }

// Heads returns the document's current heads (a new slice).
func (h *Handle) Heads() []automerge.ChangeHash {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.doc.Heads()
}

// Empty reports whether the document has no changes yet (a placeholder
// created by Ensure that has not synced).
func (h *Handle) Empty() bool {
	return len(h.Heads()) == 0
}

// Read runs fn with the document under the handle's lock. fn must not
// modify the document.
func (h *Handle) Read(fn func(d *automerge.Doc) error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return fn(h.doc)
}

// ReadPlaylist runs fn with a read view of the playlist.
func (h *Handle) ReadPlaylist(fn func(p *docs.Playlist) error) error {
	return h.Read(func(d *automerge.Doc) error {
		p, err := h.playlist(d)
		if err != nil {
			return err
		}
		return fn(p)
	})
}

// ReadLibrary runs fn with a read view of the library.
func (h *Handle) ReadLibrary(fn func(l *docs.Library) error) error {
	return h.Read(func(d *automerge.Doc) error {
		l, err := docs.OpenLibrary(d, h.repo.opts.docs)
		if err != nil {
			return err
		}
		return fn(l)
	})
}

// Change runs fn on the document under the handle's lock; fn makes its
// edits and commits them (the docs views commit for it). Whatever fn
// committed — even when it then returns an error — is persisted as one
// store increment before Change returns, so a nil result means the edits
// are durable (as durable as the store). Subscribers are notified after.
func (h *Handle) Change(ctx context.Context, fn func(d *automerge.Doc) error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	before := h.doc.Heads()
	fnErr := fn(h.doc)
	after := h.doc.Heads()
	if slices.Equal(before, after) {
		return fnErr
	}
	if err := h.persist(ctx, nil); err != nil {
		return errors.Join(fnErr, err)
	}
	h.repo.subs.publish(Event{Doc: h.id, Heads: after})
	return fnErr
}

// Playlist runs fn with a playlist view (ErrWrongType if the document is
// not a playlist) inside Change.
func (h *Handle) Playlist(ctx context.Context, fn func(p *docs.Playlist) error) error {
	return h.Change(ctx, func(d *automerge.Doc) error {
		p, err := h.playlist(d)
		if err != nil {
			return err
		}
		return fn(p)
	})
}

// Library runs fn with a library view inside Change.
func (h *Handle) Library(ctx context.Context, fn func(l *docs.Library) error) error {
	return h.Change(ctx, func(d *automerge.Doc) error {
		l, err := docs.OpenLibrary(d, h.repo.opts.docs)
		if err != nil {
			return err
		}
		return fn(l)
	})
}

// persist writes the changes since the last persist as one increment,
// plus whatever extra writes, in one store Update; it compacts when the
// increments pass the configured bounds or a previous persist failed.
// Caller holds h.mu.
func (h *Handle) persist(ctx context.Context, extra func(tx store.Txn) error) error {
	if h.dirty {
		return h.compact(ctx, extra)
	}
	inc := h.doc.SaveIncremental()
	if len(inc) == 0 && extra == nil {
		return nil
	}
	seq := h.nextSeq
	err := h.repo.st.Update(ctx, func(tx store.Txn) error {
		if len(inc) > 0 {
			if err := tx.Set(incKey(h.id, seq), inc); err != nil {
				return err
			}
		}
		if extra != nil {
			return extra(tx)
		}
		return nil
	})
	if err != nil {
		h.dirty = len(inc) > 0
		return fmt.Errorf("repo: persist %s: %w", h.id, err)
	}
	if len(inc) > 0 {
		h.nextSeq++
		h.incCount++
		h.incBytes += len(inc)
	}
	if h.incBytes > h.repo.opts.maxIncBytes ||
		h.incCount > h.repo.opts.maxIncrements && h.incBytes*compactShare >= h.snapBytes {
		if err := h.compact(ctx, nil); err != nil {
			// The increment is durable; compaction is retried next time.
			h.repo.opts.logger.Warn("repo: compaction failed", "doc", h.id.String(), "err", err)
			h.dirty = false
		}
	}
	return nil
}

// compact replaces the snapshot and every increment of the document with
// one fresh snapshot, atomically. Caller holds h.mu.
func (h *Handle) compact(ctx context.Context, extra func(tx store.Txn) error) error {
	snap := h.doc.Save()
	err := h.repo.st.Update(ctx, func(tx store.Txn) error {
		var old [][]byte
		if err := tx.Iterate(incPrefix(h.id), false, func(k, _ []byte) error {
			old = append(old, bytes.Clone(k))
			return nil
		}); err != nil {
			return err
		}
		for _, k := range old {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		if err := tx.Set(snapKey(h.id), snap); err != nil {
			return err
		}
		if extra != nil {
			return extra(tx)
		}
		return nil
	})
	if err != nil {
		h.dirty = true
		return fmt.Errorf("repo: compact %s: %w", h.id, err)
	}
	h.dirty = false
	h.incCount, h.incBytes, h.snapBytes = 0, 0, len(snap)
	return nil
}

// Compact forces a compaction of the document now.
func (h *Handle) Compact(ctx context.Context) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.compact(ctx, nil)
}

package search

import (
	"context"
	"errors"
	"fmt"

	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/repo"
)

// FollowPlaylists indexes the playlists of the relay's document
// repository rp (st is the store relaysync records owners in) and keeps
// them indexed as they are created, renamed, made public or private: each
// playlist is an entry of kind playlist titled by its name, with its
// owner from the relay's record (relaysync.OwnerOf, never the document's
// content) and its public flag, so GET /v1/search shows a caller only
// public playlists and their own. The watcher runs until rp is closed.
//
// It reads each document's facts record (rp must be opened with
// repo.Options.WithFacts(docs.EncodeFacts)), never the automerge
// document: a start over 100,000 documents costs two key reads each, and
// only a document stored before the record existed is loaded (once, one
// at a time, Repo.Facts) to write it. A change that left the record as
// it was (repo.Event.Facts false: an edit of the entries) costs no read.
func (s *Service) FollowPlaylists(ctx context.Context, st store.Store, rp *repo.Repo) error {
	events, cancel := rp.Subscribe(docs.DocumentID{})
	if err := s.indexPlaylists(ctx, st, rp); err != nil {
		cancel()
		return err
	}
	bg := context.WithoutCancel(ctx)
	go func() {
		defer cancel()
		for ev := range events {
			if !ev.Facts {
				// The facts record is as it was: so is the entry.
				continue
			}
			if err := s.indexPlaylist(bg, st, rp, ev.Doc); err != nil {
				s.log.Warn("search: index playlist", "doc", ev.Doc.String(), "err", err)
			}
		}
	}()
	return nil
}

// startBatch bounds the entries FollowPlaylists upserts in one store
// transaction at start (a first start over 100,000 documents otherwise
// commits, and syncs, once per playlist).
const startBatch = 500

// indexPlaylists brings the index up to date with every document of rp:
// new and changed playlists are upserted startBatch at a time, entries
// of documents that are no longer named playlists with an owner removed.
func (s *Service) indexPlaylists(ctx context.Context, st store.Store, rp *repo.Repo) error {
	ids, err := rp.List(ctx)
	if err != nil {
		return fmt.Errorf("search: list documents: %w", err)
	}
	var batch []Entry
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := s.Index.Upsert(ctx, batch...)
		batch = batch[:0]
		return err
	}
	for _, id := range ids {
		e, ok, err := playlistEntry(ctx, st, rp, id)
		if err != nil {
			return err
		}
		if !ok || e.Check() != nil {
			if _, indexed := s.Index.Lookup(KindPlaylist, id.String()); indexed {
				if err := s.Index.Remove(ctx, KindPlaylist, id.String()); err != nil {
					return err
				}
			}
			continue
		}
		if len(s.Index.Changed([]Entry{e})) == 0 {
			continue
		}
		if batch = append(batch, e); len(batch) == startBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// indexPlaylist indexes document id if it is a named playlist with an
// owner, and removes its entry otherwise.
func (s *Service) indexPlaylist(ctx context.Context, st store.Store, rp *repo.Repo, id docs.DocumentID) error {
	e, ok, err := playlistEntry(ctx, st, rp, id)
	if err != nil {
		return err
	}
	if !ok || e.Check() != nil {
		if _, indexed := s.Index.Lookup(KindPlaylist, id.String()); indexed {
			return s.Index.Remove(ctx, KindPlaylist, id.String())
		}
		return nil
	}
	if len(s.Index.Changed([]Entry{e})) == 0 {
		return nil
	}
	return s.Index.Upsert(ctx, e)
}

// playlistEntry reads the search entry of playlist id from its facts
// record; ok is false for a document that is not a playlist, has no name
// or no recorded owner.
func playlistEntry(ctx context.Context, st store.Store, rp *repo.Repo, id docs.DocumentID) (Entry, bool, error) {
	owner, err := relaysync.OwnerOf(ctx, st, id)
	if err != nil || owner == "" {
		return Entry{}, false, err
	}
	b, err := rp.Facts(ctx, id)
	if errors.Is(err, repo.ErrNotFound) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("search: read playlist %s: %w", id, err)
	}
	f, err := docs.ParseFacts(b)
	if err != nil {
		return Entry{}, false, fmt.Errorf("search: read playlist %s: %w", id, err)
	}
	if f.Kind != docs.KindPlaylist || f.Name == "" {
		return Entry{}, false, nil
	}
	return Entry{Kind: KindPlaylist, ID: id.String(), Title: f.Name, Owner: string(owner), Public: f.Public}, true, nil
}

package download

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
)

// metaFetches bounds the concurrent track-metadata requests of a resolve.
const metaFetches = 8

// fetchMeta adds to metas the catalog metadata (JSON model.Track) of the
// tracks among ids that have none in metas nor recorded at tier, asking
// the relay (up to metaFetches requests at a time). A track the relay does
// not describe (unknown, refused, malformed) is logged and left out: its
// download goes on, only its offline metadata is missing. A connectivity
// failure is returned, so the resolve is retried.
func (m *Manager) fetchMeta(ctx context.Context, tier model.Tier, ids []string, metas map[model.TrackID][]byte) error {
	var need []model.TrackID
	for _, t := range ids {
		id := model.TrackID(t)
		if metas[id] != nil {
			continue
		}
		switch _, err := m.d.Store.Get(ctx, metaKey(trackTier{id, tier})); {
		case errors.Is(err, store.ErrNotFound):
			need = append(need, id)
		case err != nil:
			return fmt.Errorf("read metadata of %s: %w", id, err)
		}
	}
	got := make([][]byte, len(need))
	errs := make([]error, len(need))
	sem := make(chan struct{}, metaFetches)
	var wg sync.WaitGroup
	for i, id := range need {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			t, err := m.rc.track(ctx, id)
			if err == nil {
				got[i], err = json.Marshal(t)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, id := range need {
		switch err := errs[i]; {
		case err == nil:
			metas[id] = got[i]
		case errors.Is(err, fetch.ErrOffline) || errors.Is(err, api.ErrRetryLater) || ctx.Err() != nil:
			return fmt.Errorf("metadata of %s: %w", id, err)
		default:
			m.log.Warn("download: no catalog metadata for track", "track", id, "err", err)
		}
	}
	return nil
}

// metaBatch bounds the metadata records written per transaction: a large
// playlist's would not fit Badger's transaction size in one.
const metaBatch = 256

// recordMeta writes the metadata in metas of the jobs of ids at tier,
// metaBatch per transaction, after the transaction that referenced the
// jobs. The caller holds itemMu, so no job can go meanwhile (only
// resolve and Remove release jobs, both under itemMu). A crash before the
// writes end leaves tracks without metadata: TrackInfo then falls back to
// the relay, and the next resolve of a request naming them fetches it.
func (m *Manager) recordMeta(ctx context.Context, tier model.Tier, ids []string, metas map[model.TrackID][]byte) error {
	var todo []string
	for _, t := range ids {
		if metas[model.TrackID(t)] != nil {
			todo = append(todo, t)
		}
	}
	for len(todo) > 0 {
		batch := todo[:min(len(todo), metaBatch)]
		todo = todo[len(batch):]
		err := m.d.Store.Update(ctx, func(tx store.Txn) error {
			for _, t := range batch {
				if err := tx.Set(metaKey(trackTier{model.TrackID(t), tier}), metas[model.TrackID(t)]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// TrackInfo returns the catalog metadata of a track as a download of it
// (at any tier) recorded it when the download was last resolved, without
// network I/O; ok is false when no download holds it, and err ErrClosed
// once Close began. The Track is owned by the caller.
func (m *Manager) TrackInfo(ctx context.Context, id model.TrackID) (t model.Track, ok bool, err error) {
	if err := m.open(); err != nil {
		return model.Track{}, false, err
	}
	m.mu.Lock()
	var tiers []model.Tier
	for _, tier := range model.Tiers {
		if m.jobs[trackTier{id, tier}] != nil {
			tiers = append(tiers, tier)
		}
	}
	m.mu.Unlock()
	for _, tier := range tiers {
		if t, ok, err = m.recordedTrack(ctx, trackTier{id, tier}); ok || err != nil {
			return t, ok, err
		}
	}
	return model.Track{}, false, nil
}

// recordedTrack reads the recorded metadata of a job.
func (m *Manager) recordedTrack(ctx context.Context, tt trackTier) (model.Track, bool, error) {
	var t model.Track
	b, err := m.d.Store.Get(ctx, metaKey(tt))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return t, false, nil
	case err != nil:
		return t, false, fmt.Errorf("download: read metadata of %s: %w", tt.track, err)
	}
	if err := json.Unmarshal(b, &t); err != nil || t.ID != tt.track {
		return model.Track{}, false, fmt.Errorf("download: recorded metadata of %s/%s is damaged", tt.track, tt.tier)
	}
	return t, true, nil
}

// AlbumInfo returns an album and its tracks in album order as an album
// download (at any tier) recorded them when it was last resolved, without
// network I/O; ok is false when no album download holds the album with
// the metadata of every one of its tracks, and the error ErrClosed once
// Close began. The results are owned by the caller.
func (m *Manager) AlbumInfo(ctx context.Context, id model.AlbumID) (model.Album, []model.Track, bool, error) {
	if err := m.open(); err != nil {
		return model.Album{}, nil, false, err
	}
	m.mu.Lock()
	var recs []itemRec
	for _, tier := range model.Tiers {
		if it := m.items[Ref{KindAlbum, string(id), tier}]; it != nil && len(it.Album) > 0 {
			recs = append(recs, *it)
		}
	}
	m.mu.Unlock()
next:
	for _, it := range recs {
		var a model.Album
		if err := json.Unmarshal(it.Album, &a); err != nil || a.ID != id {
			return model.Album{}, nil, false, fmt.Errorf("download: recorded metadata of album %s is damaged", id)
		}
		tracks := make([]model.Track, 0, len(a.TrackIDs))
		for _, t := range a.TrackIDs {
			tr, ok, err := m.recordedTrack(ctx, trackTier{t, model.Tier(it.Tier)})
			if err != nil {
				return model.Album{}, nil, false, err
			}
			if !ok {
				continue next
			}
			tracks = append(tracks, tr)
		}
		return a, tracks, true, nil
	}
	return model.Album{}, nil, false, nil
}

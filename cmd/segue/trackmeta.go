package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
)

// Engine store key prefixes at which the CLI keeps the track and artist
// records it resolved from the relay (JSON), so that it can name tracks
// when the relay is unreachable (docs/ARCHITECTURE.md §5).
const (
	cliMetaTrack  = "cli/meta/track/"
	cliMetaArtist = "cli/meta/artist/"
)

// metaResolver names tracks for display: from the relay while it
// answers, else from the records this device kept. After one request
// finds the relay unreachable it asks it nothing more.
type metaResolver struct {
	e       *core.Engine
	offline bool
	artists map[model.ArtistID]string
	// tracks holds what prefetch had from the relay; asked, every id it
	// asked for (one it did not get is named from the device's record).
	tracks map[model.TrackID]model.Track
	asked  map[model.TrackID]bool
}

func newMetaResolver(e *core.Engine) *metaResolver {
	return &metaResolver{e: e, artists: map[model.ArtistID]string{}, tracks: map[model.TrackID]model.Track{}, asked: map[model.TrackID]bool{}}
}

// metaRecordBatch is how many track records prefetch writes in one
// store transaction.
const metaRecordBatch = 1000

// prefetch asks the relay for the tracks of ids at once (Engine.TrackInfos:
// batches, not a request per entry) and records the answers for offline
// display, so that trackLine asks the relay nothing more for them. A
// listing of 10,000 entries took 8.3 s one request and one record write
// per entry.
func (r *metaResolver) prefetch(ctx context.Context, ids []model.TrackID) {
	if r.offline {
		return
	}
	var uniq []model.TrackID
	for _, id := range ids {
		if model.ValidID(string(id)) && !r.asked[id] {
			r.asked[id] = true
			uniq = append(uniq, id)
		}
	}
	tracks, errs := r.e.TrackInfos(ctx, uniq)
	type record struct {
		key []byte
		val []byte
	}
	var recs []record
	for i, id := range uniq {
		if errs[i] != nil {
			if errors.Is(errs[i], core.ErrOffline) {
				r.offline = true
			}
			continue
		}
		r.tracks[id] = tracks[i]
		if b, err := json.Marshal(tracks[i]); err == nil {
			recs = append(recs, record{[]byte(cliMetaTrack + string(id)), b})
		}
	}
	for len(recs) > 0 {
		batch := recs[:min(len(recs), metaRecordBatch)]
		recs = recs[len(batch):]
		// A record not kept only costs an offline name.
		_ = r.e.Store().Update(ctx, func(tx store.Txn) error {
			for _, rec := range batch {
				if err := tx.Set(rec.key, rec.val); err != nil {
					return err
				}
			}
			return nil
		})
	}
}

// trackLine is a track's display form: "Title — Artist, Artist  m:ss",
// or "(unknown)" when neither the relay nor the device knows the track.
func (r *metaResolver) trackLine(ctx context.Context, id model.TrackID) (string, time.Duration) {
	t, ok := r.tracks[id]
	if !ok {
		fetch := func() (any, error) { return r.e.TrackInfo(ctx, id) }
		if r.asked[id] {
			fetch = nil // prefetch asked the relay already
		}
		if !r.resolve(ctx, cliMetaTrack, string(id), &t, fetch) {
			return "(unknown)", 0
		}
	}
	names := make([]string, 0, len(t.ArtistIDs))
	for _, a := range t.ArtistIDs {
		names = append(names, r.artist(ctx, a))
	}
	var d time.Duration
	if t.SampleRate > 0 {
		d = time.Duration(t.Samples) * time.Second / time.Duration(t.SampleRate)
	}
	return fmt.Sprintf("%s — %s  %s", t.Title, strings.Join(names, ", "), mmss(d)), d
}

// artist returns an artist's name, or its id when it is not known.
func (r *metaResolver) artist(ctx context.Context, id model.ArtistID) string {
	if n, ok := r.artists[id]; ok {
		return n
	}
	var a model.Artist
	name := string(id)
	if r.resolve(ctx, cliMetaArtist, string(id), &a, func() (any, error) { return r.e.Artist(ctx, id) }) && a.Name != "" {
		name = a.Name
	}
	r.artists[id] = name
	return name
}

// resolve fills v (a *model.Track or *model.Artist) from fetch while the
// relay answers, recording the answer under prefix+id; otherwise (or
// with a nil fetch) from the record under prefix+id. It reports whether v
// was filled. An id that is not a valid catalog id (a playlist may hold
// anything) is never asked for nor looked up.
func (r *metaResolver) resolve(ctx context.Context, prefix, id string, v any, fetch func() (any, error)) bool {
	if !model.ValidID(id) {
		return false
	}
	key := []byte(prefix + id)
	if !r.offline && fetch != nil {
		got, err := fetch()
		if err == nil {
			b, merr := json.Marshal(got)
			if merr == nil {
				_ = r.e.Store().Set(ctx, key, b) // a record not kept only costs an offline name
			}
			return json.Unmarshal(b, v) == nil
		}
		if errors.Is(err, core.ErrOffline) {
			r.offline = true
		}
	}
	b, err := r.e.Store().Get(ctx, key)
	return err == nil && json.Unmarshal(b, v) == nil
}

// mmss formats d as m:ss (h:mm:ss from an hour).
func mmss(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

package core

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/core/search"
	"github.com/segue-fm/segue/core/searchindex"
	"github.com/segue-fm/segue/store"
)

// ErrBadQuery is returned by Search for a query or options it refuses
// (too long, invalid UTF-8, too many words, an unknown kind, a limit out
// of range).
var ErrBadQuery = errors.New("core: invalid search query")

// SearchOptions configures Engine.Search. Start from DefaultSearchOptions.
type SearchOptions struct {
	kinds   []string
	limit   int
	offline bool
}

// DefaultSearchOptions returns the defaults: every kind (track, album,
// artist, playlist), 20 results (api.SearchDefaultLimit), the relay asked
// when reachable.
func DefaultSearchOptions() SearchOptions { return SearchOptions{limit: api.SearchDefaultLimit} }

// WithKinds limits the results to these kinds (track, album, artist,
// playlist); none means all.
func (o SearchOptions) WithKinds(kinds ...string) SearchOptions {
	o.kinds = slices.Clone(kinds)
	return o
}

// WithLimit sets how many results to return, 1 to api.SearchMaxLimit.
func (o SearchOptions) WithLimit(n int) SearchOptions { o.limit = n; return o }

// WithOffline makes Search answer from the device's local index only,
// without asking the relay (default false; offline mode implies it).
func (o SearchOptions) WithOffline(on bool) SearchOptions { o.offline = on; return o }

// SearchHit is one result of Engine.Search.
type SearchHit struct {
	api.SearchResult
	// Local reports that the device's local index holds it (downloaded,
	// in the library, in a playlist or recently played).
	Local bool
	// Downloaded reports a track this device has downloaded.
	Downloaded bool
}

// SearchResults is what Engine.Search found.
type SearchResults struct {
	Query string
	// Hits are the local index's hits first, then the relay's others.
	Hits []SearchHit
	// Total is the relay's count of matches, or the local index's when
	// Offline.
	Total int
	// Offline reports that the relay was not asked (WithOffline, offline
	// mode) or did not answer (Unreachable): Hits are local only.
	Offline bool
	// Unreachable is the error of a relay that could not be reached, when
	// Search fell back to the local index (nil otherwise).
	Unreachable error
}

// Search searches the catalog for query (typo-tolerant, the last word as
// a prefix; see core/search). Online it asks the relay (GET /v1/search)
// and puts first the hits of the device's local index — what the device
// holds: downloads, the library, playlists' tracks, recently played —
// marked Local (and Downloaded). With WithOffline, in offline mode, or
// when no relay answers (ErrOffline) it answers from the local index
// alone, with the same matching and ranking (core/searchindex), and says
// so in Offline (and Unreachable). Other relay failures are returned.
// The results, their hits included, are owned by the caller.
func (e *Engine) Search(ctx context.Context, query string, opts SearchOptions) (SearchResults, error) {
	ctx, done, err := e.calls.enter(ctx)
	if err != nil {
		return SearchResults{}, err
	}
	defer done()
	q, err := search.ParseQuery(query)
	if err != nil {
		return SearchResults{}, fmt.Errorf("%w: %w", ErrBadQuery, err)
	}
	if opts.limit < 1 || opts.limit > api.SearchMaxLimit {
		return SearchResults{}, fmt.Errorf("%w: limit %d: want 1 to %d", ErrBadQuery, opts.limit, api.SearchMaxLimit)
	}
	var kinds []searchindex.Kind
	for _, k := range opts.kinds {
		if !searchindex.Kind(k).Valid() {
			return SearchResults{}, fmt.Errorf("%w: kind %q: want track, album, artist or playlist", ErrBadQuery, k)
		}
		kinds = append(kinds, searchindex.Kind(k))
	}
	ix, err := e.localIndex(ctx)
	if err != nil {
		return SearchResults{}, err
	}
	hits, total, err := ix.Search(searchindex.Request{Query: q, Kinds: kinds, Limit: opts.limit})
	if err != nil {
		return SearchResults{}, fmt.Errorf("core: local search: %w", err)
	}
	out := SearchResults{Query: query, Total: total}
	seen := map[string]bool{}
	for _, h := range hits {
		out.Hits = append(out.Hits, SearchHit{SearchResult: h.JSON(), Local: true, Downloaded: e.downloadedLocally(ctx, h.Entry)})
		seen[h.Entry.Key()] = true
	}
	if opts.offline || e.OfflineMode() {
		out.Offline = true
		return out, nil
	}
	v := url.Values{"q": {query}, "limit": {strconv.Itoa(opts.limit)}}
	if len(opts.kinds) > 0 {
		v.Set("types", strings.Join(opts.kinds, ","))
	}
	var resp api.SearchResponse
	if err := e.call(ctx, http.MethodGet, "/v1/search?"+v.Encode(), nil, &resp, true); err != nil {
		if errors.Is(err, ErrOffline) && ctx.Err() == nil {
			out.Offline, out.Unreachable = true, err
			return out, nil
		}
		return SearchResults{}, fmt.Errorf("core: search: %w", err)
	}
	if resp.Query != query || resp.Results == nil {
		return SearchResults{}, fmt.Errorf("core: search: %w", e.badAnswer("the answer to %q is for %q or lists no results", query, resp.Query))
	}
	out.Total = max(resp.Total, len(hits))
	for _, r := range resp.Results {
		if len(out.Hits) >= opts.limit {
			break
		}
		if seen[r.Kind+":"+r.ID] || r.Audio != "" && seen[string(searchindex.KindTrack)+":"+r.Audio] {
			continue
		}
		out.Hits = append(out.Hits, SearchHit{SearchResult: r})
	}
	return out, nil
}

// Store keys of the local search index (docs/ARCHITECTURE.md §5): the
// entries are searchindex's (search/entry/<kind>:<id>); which source holds
// each is lsearch/src/<source>/<kind>:<id> (empty, or for recent plays the
// 8-byte big-endian play time in Unix milliseconds).
const (
	srcDownload = "download"
	srcLibrary  = "library"
	srcPlaylist = "playlist"
	srcRecent   = "recent"
)

var searchSources = []string{srcDownload, srcLibrary, srcPlaylist, srcRecent}

func srcPrefix(src string) []byte                   { return store.Prefix("lsearch", "src", src) }
func srcKey(src, key string) []byte                 { return store.Key("lsearch", "src", src, key) }
func entryKey(k searchindex.Kind, id string) string { return string(k) + ":" + id }

// MaxRecentSearch is how many recently played tracks the local search
// index keeps (the oldest go first).
const MaxRecentSearch = 200

// localSearchTermCache is the local index's term cache: a device's
// dictionary is small.
const localSearchTermCache = 1 << 20

// searchState is the engine's local search index, opened on first use.
type searchState struct {
	mu sync.Mutex // opening ix
	ix *searchindex.Index
	// upd serialises source updates (read, describe, write).
	upd sync.Mutex
	// cacheMu guards names and albums, which cache artist names and
	// album titles while the engine is open.
	cacheMu sync.Mutex
	names   map[model.ArtistID]string
	albums  map[model.AlbumID]model.Album
	follow  searchFollow
}

// localIndex opens the local search index over the engine's store (its
// dictionary is rebuilt from the stored entries) on first use.
func (e *Engine) localIndex(ctx context.Context) (*searchindex.Index, error) {
	s := &e.search
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ix == nil {
		ix, err := searchindex.OpenIndex(ctx, e.st, searchindex.DefaultOptions().WithTermCache(localSearchTermCache))
		if err != nil {
			return nil, fmt.Errorf("core: open local search index: %w", err)
		}
		s.ix = ix
	}
	return s.ix, nil
}

// downloadedLocally reports whether e is a track the download source holds.
func (e *Engine) downloadedLocally(ctx context.Context, en searchindex.Entry) bool {
	if en.Kind != searchindex.KindTrack {
		return false
	}
	_, err := e.st.Get(ctx, srcKey(srcDownload, en.Key()))
	return err == nil
}

// SearchIndexStats sums up a local search index update.
type SearchIndexStats struct {
	// Entries is how many entries the local index holds after it.
	Entries int
	// Added and Removed count the entries added to and removed from it.
	Added, Removed int
	// Unresolved counts what the device holds but could not describe
	// (no relay to name an artist or album): retried on the next update.
	Unresolved int
}

func (s *SearchIndexStats) add(o SearchIndexStats) {
	s.Added += o.Added
	s.Removed += o.Removed
	s.Unresolved += o.Unresolved
}

// RefreshSearchIndex brings the local search index up to date with what
// the device holds: the completed downloads (when OpenDownloads ran), and
// with d (when not nil) the library's saved tracks, albums and followed
// artists, the playlists (by name) and their tracks. Recently played
// tracks are added as they play. Entries already indexed are kept as
// they are; new ones are described from downloaded metadata when
// possible, else by the relay (so an entry described online is found
// offline later); what no source holds any more is removed.
func (e *Engine) RefreshSearchIndex(ctx context.Context, d *Docs) (SearchIndexStats, error) {
	ctx, done, err := e.calls.enter(ctx)
	if err != nil {
		return SearchIndexStats{}, err
	}
	defer done()
	var sum SearchIndexStats
	if dl := e.Downloads(); dl != nil {
		want := map[string]*searchindex.Entry{}
		for _, t := range dl.CompleteTracks() {
			want[entryKey(searchindex.KindTrack, string(t))] = nil
		}
		st, err := e.updateSource(ctx, srcDownload, want)
		sum.add(st)
		if err != nil {
			return sum, err
		}
	}
	if d != nil {
		lib, pls, err := e.docsSources(ctx, d)
		if err != nil {
			return sum, err
		}
		st, err := e.updateSource(ctx, srcLibrary, lib)
		sum.add(st)
		if err != nil {
			return sum, err
		}
		st, err = e.updateSource(ctx, srcPlaylist, pls)
		sum.add(st)
		if err != nil {
			return sum, err
		}
	}
	st, err := e.resolveRecent(ctx)
	sum.add(st)
	ix, ierr := e.localIndex(ctx)
	if ierr == nil {
		sum.Entries = ix.Len()
	}
	return sum, errors.Join(err, ierr)
}

// docsSources returns the keys the library holds and those the
// playlists hold (the playlists themselves described by name).
func (e *Engine) docsSources(ctx context.Context, d *Docs) (lib, pls map[string]*searchindex.Entry, err error) {
	v, err := d.Library().Get(ctx)
	if err != nil {
		return nil, nil, err
	}
	lib = map[string]*searchindex.Entry{}
	for _, t := range v.Tracks {
		lib[entryKey(searchindex.KindTrack, t.ID)] = nil
	}
	for _, a := range v.Albums {
		lib[entryKey(searchindex.KindAlbum, a.ID)] = nil
	}
	for _, a := range v.Artists {
		lib[entryKey(searchindex.KindArtist, a.ID)] = nil
	}
	views, err := d.Playlists().List(ctx)
	if err != nil {
		return nil, nil, err
	}
	pls = map[string]*searchindex.Entry{}
	for _, p := range views {
		if name := strings.TrimSpace(p.Info.Name); name != "" && len(name) <= searchindex.MaxTextBytes {
			en := searchindex.Entry{Kind: searchindex.KindPlaylist, ID: p.ID.String(), Title: name}
			pls[en.Key()] = &en
		}
		for _, t := range p.Entries {
			pls[entryKey(searchindex.KindTrack, string(t.Track))] = nil
		}
	}
	return lib, pls, nil
}

// updateSource makes src hold exactly the keys of want: keys new to it
// are indexed (want's entry when given and changed, else described unless
// already indexed), keys gone from it are removed from the index unless
// another source holds them.
func (e *Engine) updateSource(ctx context.Context, src string, want map[string]*searchindex.Entry) (SearchIndexStats, error) {
	var sum SearchIndexStats
	ix, err := e.localIndex(ctx)
	if err != nil {
		return sum, err
	}
	s := &e.search
	s.upd.Lock()
	defer s.upd.Unlock()
	have := map[string]bool{}
	pfx := srcPrefix(src)
	if err := e.st.Iterate(ctx, pfx, true, func(k, _ []byte) error {
		have[string(k[len(pfx):])] = true
		return nil
	}); err != nil {
		return sum, fmt.Errorf("core: read search sources: %w", err)
	}
	var upsert []searchindex.Entry
	var add []string
	offline := false // no relay answered: the rest is not asked for either
	for key, given := range want {
		kind, id, _ := strings.Cut(key, ":")
		cur, indexed := ix.Lookup(searchindex.Kind(kind), id)
		switch {
		case given != nil:
			if !indexed || cur.Title != given.Title {
				upsert = append(upsert, *given)
			}
		case !indexed:
			en, err := e.describeUnless(ctx, offline, searchindex.Kind(kind), id)
			if err != nil {
				if ctx.Err() != nil {
					return sum, ctx.Err()
				}
				offline = offline || errors.Is(err, ErrOffline)
				sum.Unresolved++
				continue
			}
			upsert = append(upsert, en)
		}
		if !have[key] {
			add = append(add, key)
		}
	}
	var gone []string
	for key := range have {
		if _, ok := want[key]; !ok {
			gone = append(gone, key)
		}
	}
	for i := 0; i < len(upsert); i += 256 {
		if err := ix.Upsert(ctx, upsert[i:min(i+256, len(upsert))]...); err != nil {
			return sum, fmt.Errorf("core: update local search index: %w", err)
		}
	}
	sum.Added = len(upsert)
	if err := e.writeSource(ctx, src, add, gone, nil); err != nil {
		return sum, err
	}
	n, err := e.dropUnheld(ctx, ix, gone)
	sum.Removed = n
	return sum, err
}

// writeSource records keys added to and gone from src, 512 a
// transaction; stamp, when set, is the value of added keys.
func (e *Engine) writeSource(ctx context.Context, src string, add, gone []string, stamp []byte) error {
	type op struct {
		key string
		del bool
	}
	ops := make([]op, 0, len(add)+len(gone))
	for _, k := range add {
		ops = append(ops, op{k, false})
	}
	for _, k := range gone {
		ops = append(ops, op{k, true})
	}
	for i := 0; i < len(ops); i += 512 {
		err := e.st.Update(ctx, func(tx store.Txn) error {
			for _, o := range ops[i:min(i+512, len(ops))] {
				var err error
				if o.del {
					err = tx.Delete(srcKey(src, o.key))
				} else {
					err = tx.Set(srcKey(src, o.key), stamp)
				}
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("core: write search sources: %w", err)
		}
	}
	return nil
}

// dropUnheld removes from the index the keys no source holds.
func (e *Engine) dropUnheld(ctx context.Context, ix *searchindex.Index, keys []string) (int, error) {
	n := 0
next:
	for _, key := range keys {
		for _, src := range searchSources {
			switch _, err := e.st.Get(ctx, srcKey(src, key)); {
			case err == nil:
				continue next
			case !errors.Is(err, store.ErrNotFound):
				return n, fmt.Errorf("core: read search sources: %w", err)
			}
		}
		kind, id, _ := strings.Cut(key, ":")
		if err := ix.Remove(ctx, searchindex.Kind(kind), id); err != nil {
			return n, fmt.Errorf("core: update local search index: %w", err)
		}
		n++
	}
	return n, nil
}

// describe returns the search entry of a track, album or artist: the
// downloaded metadata when a download holds it, the relay's otherwise,
// with artist names and album titles cached while the engine is open.
// describeUnless is describe, except that with offline set (no relay
// answered earlier in this refresh) an entry that needs the relay fails
// with ErrOffline at once, without asking: what the device holds
// (downloaded metadata, names in the local index) still describes it.
func (e *Engine) describeUnless(ctx context.Context, offline bool, kind searchindex.Kind, id string) (searchindex.Entry, error) {
	if offline {
		ctx = withoutRelay(ctx)
	}
	return e.describe(ctx, kind, id)
}

func (e *Engine) describe(ctx context.Context, kind searchindex.Kind, id string) (searchindex.Entry, error) {
	en := searchindex.Entry{Kind: kind, ID: id}
	var err error
	switch kind {
	case searchindex.KindTrack:
		var t model.Track
		if t, err = e.TrackInfo(ctx, model.TrackID(id)); err != nil {
			return en, err
		}
		en.Title, en.Audio = t.Title, id
		if en.Artists, err = e.artistNames(ctx, t.ArtistIDs); err != nil {
			return en, err
		}
		if t.AlbumID != "" {
			var a model.Album
			if a, err = e.albumInfo(ctx, t.AlbumID); err != nil {
				return en, err
			}
			en.Album = a.Title
		}
	case searchindex.KindAlbum:
		var a model.Album
		if a, err = e.albumInfo(ctx, model.AlbumID(id)); err != nil {
			return en, err
		}
		en.Title = a.Title
		if en.Artists, err = e.artistNames(ctx, a.ArtistIDs); err != nil {
			return en, err
		}
	case searchindex.KindArtist:
		var names []string
		if names, err = e.artistNames(ctx, []model.ArtistID{model.ArtistID(id)}); err != nil {
			return en, err
		}
		en.Title = names[0]
	default:
		return en, fmt.Errorf("%w: cannot describe a %s", ErrBadQuery, kind)
	}
	if len(en.Artists) > searchindex.MaxArtists {
		en.Artists = en.Artists[:searchindex.MaxArtists]
	}
	return en, en.Check()
}

// artistNames names artists: from the cache, the local index, or the
// relay.
func (e *Engine) artistNames(ctx context.Context, ids []model.ArtistID) ([]string, error) {
	ix, err := e.localIndex(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		e.search.cacheMu.Lock()
		name, ok := e.search.names[id]
		e.search.cacheMu.Unlock()
		if !ok {
			if en, found := ix.Lookup(searchindex.KindArtist, string(id)); found {
				name, ok = en.Title, true
			}
		}
		if !ok {
			a, err := e.Artist(ctx, id)
			if err != nil {
				return nil, err
			}
			name = a.Name
		}
		if name == "" {
			return nil, fmt.Errorf("%w: artist %s has no name", ErrBadResponse, id)
		}
		e.search.cacheMu.Lock()
		if e.search.names == nil {
			e.search.names = map[model.ArtistID]string{}
		}
		e.search.names[id] = name
		e.search.cacheMu.Unlock()
		out = append(out, name)
	}
	return out, nil
}

// albumInfo returns an album's record: cached, downloaded or the relay's.
func (e *Engine) albumInfo(ctx context.Context, id model.AlbumID) (model.Album, error) {
	e.search.cacheMu.Lock()
	a, ok := e.search.albums[id]
	e.search.cacheMu.Unlock()
	if ok {
		return a, nil
	}
	a, _, err := e.Album(ctx, id)
	if err != nil {
		return model.Album{}, err
	}
	e.search.cacheMu.Lock()
	if e.search.albums == nil {
		e.search.albums = map[model.AlbumID]model.Album{}
	}
	e.search.albums[id] = model.Album{ID: a.ID, Title: a.Title, ArtistIDs: a.ArtistIDs}
	e.search.cacheMu.Unlock()
	return a, nil
}

// notePlayed adds a played track to the recent source (the newest
// MaxRecentSearch kept); it is described at the next refresh, or now when
// resolve is set.
func (e *Engine) notePlayed(ctx context.Context, track model.TrackID, resolve bool) error {
	stamp := binary.BigEndian.AppendUint64(nil, uint64(e.opts.clock.Now().UnixMilli()))
	key := entryKey(searchindex.KindTrack, string(track))
	e.search.upd.Lock()
	err := e.writeSource(ctx, srcRecent, []string{key}, nil, stamp)
	e.search.upd.Unlock()
	if err != nil || !resolve {
		return err
	}
	_, err = e.resolveRecent(ctx)
	return err
}

// resolveRecent indexes the recent source's tracks not indexed yet and
// trims it to the newest MaxRecentSearch.
func (e *Engine) resolveRecent(ctx context.Context) (SearchIndexStats, error) {
	var sum SearchIndexStats
	type rec struct {
		key string
		at  uint64
	}
	var recs []rec
	pfx := srcPrefix(srcRecent)
	if err := e.st.Iterate(ctx, pfx, false, func(k, v []byte) error {
		var at uint64
		if len(v) == 8 {
			at = binary.BigEndian.Uint64(v)
		}
		recs = append(recs, rec{string(k[len(pfx):]), at})
		return nil
	}); err != nil {
		return sum, fmt.Errorf("core: read search sources: %w", err)
	}
	slices.SortFunc(recs, func(a, b rec) int { return cmp.Compare(b.at, a.at) })
	want := map[string]*searchindex.Entry{}
	for _, r := range recs[:min(len(recs), MaxRecentSearch)] {
		want[r.key] = nil
	}
	st, err := e.updateSource(ctx, srcRecent, want)
	sum.add(st)
	return sum, err
}

// searchFollow is the background upkeep of the local index.
type searchFollow struct {
	mu      sync.Mutex
	docs    *Docs // followed by FollowSearchIndex, or nil
	pending bool
	running sync.Mutex
}

// scheduleSearchRefresh refreshes the local index in the background
// (coalescing requests made while one waits), as an engine call: Close
// cancels it and waits for it.
func (e *Engine) scheduleSearchRefresh() {
	f := &e.search.follow
	f.mu.Lock()
	if f.pending {
		f.mu.Unlock()
		return
	}
	f.pending = true
	f.mu.Unlock()
	ctx, done, err := e.calls.enter(context.Background())
	if err != nil {
		return
	}
	go func() {
		defer done()
		f.running.Lock()
		defer f.running.Unlock()
		f.mu.Lock()
		f.pending = false
		d := f.docs
		f.mu.Unlock()
		if _, err := e.RefreshSearchIndex(ctx, d); err != nil && ctx.Err() == nil {
			e.log.Warn("core: refresh local search index", "err", err)
		}
	}()
}

// FollowSearchIndex keeps the local search index up to date with d's
// library and playlists (and the downloads): it refreshes it now
// (RefreshSearchIndex) and again in the background after every change of
// d's documents, until d or the engine is closed or FollowSearchIndex is
// called with another Docs. Downloads refresh it as tracks complete or
// are removed, followed or not.
func (e *Engine) FollowSearchIndex(ctx context.Context, d *Docs) (SearchIndexStats, error) {
	if d == nil {
		return SearchIndexStats{}, ErrNoDocs
	}
	f := &e.search.follow
	events, unsubscribe := d.Subscribe()
	f.mu.Lock()
	f.docs = d
	f.mu.Unlock()
	go func() {
		defer unsubscribe()
		for range events {
			f.mu.Lock()
			cur := f.docs
			f.mu.Unlock()
			if cur != d {
				return
			}
			e.scheduleSearchRefresh()
		}
		f.mu.Lock()
		if f.docs == d {
			f.docs = nil
		}
		f.mu.Unlock()
	}()
	return e.RefreshSearchIndex(ctx, d)
}

// searchDownloadEvents wraps the download events sink: a completed or
// removed download refreshes the local index.
func (e *Engine) searchDownloadEvents(next func(download.Event)) func(download.Event) {
	return func(ev download.Event) {
		if ev.Kind == download.EventTrackDone || ev.Kind == download.EventRemoved {
			e.scheduleSearchRefresh()
		}
		if next != nil {
			next(ev)
		}
	}
}

package core

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/sync/docs"
)

// playerState is the engine's player (Engine.player).
type playerState struct {
	mu    sync.Mutex // held while the player opens or closes
	p     *player.Player
	smart atomic.Bool // Smart Shuffle on (smartshuffle.go)
	late  player.Late // PlayTracks' background metadata fill
}

// OpenPlayer starts the engine's player on sink (the first call; later
// calls return the same player and ignore their arguments). The player
// reads tracks through the engine (cache, then origins; verified and
// decrypted in memory), records play events in History with this
// device's id, and marks them offline while OfflineMode is on. The player
// is the engine's: ClosePlayer or Close closes it. The sink stays owned
// by the caller; close it after ClosePlayer (or Close).
func (e *Engine) OpenPlayer(sink player.Sink, opts player.Options) (*player.Player, error) {
	_, done, err := e.calls.enter(context.Background())
	if err != nil {
		return nil, err
	}
	defer done()
	st := &e.player
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.p != nil {
		return st.p, nil
	}
	p, err := player.New(engineSource{e}, sink, opts.WithHistory(e.history).WithDevice(e.DeviceID()).WithLogger(e.log))
	if err != nil {
		return nil, fmt.Errorf("core: open player: %w", err)
	}
	st.p = p
	e.watchActivity(p)
	return p, nil
}

// Player returns the player started by OpenPlayer, or nil (none, or
// after ClosePlayer or Close).
func (e *Engine) Player() *player.Player {
	e.player.mu.Lock()
	defer e.player.mu.Unlock()
	return e.player.p
}

// ClosePlayer stops and releases the player, returning when its
// goroutines have ended (a no-op returning nil without one, so after
// Close too). OpenPlayer may start a new one.
func (e *Engine) ClosePlayer() error { return e.closePlayer() }

// closePlayer closes the player holding the player's lock, so that a
// concurrent ClosePlayer and Close both return after the player ended.
func (e *Engine) closePlayer() error {
	st := &e.player
	st.late.Stop()
	st.mu.Lock()
	defer st.mu.Unlock()
	p := st.p
	st.p = nil
	if p == nil {
		return nil
	}
	return p.Close()
}

// TrackInfo returns a track's catalog metadata, owned by the caller: for
// a track a download holds (see OpenDownloads), the copy the download
// recorded, with no network I/O (so downloaded tracks play with every
// origin down); else the relay's answer (GET /v1/tracks/{id}).
func (e *Engine) TrackInfo(ctx context.Context, id model.TrackID) (model.Track, error) {
	ctx, done, err := e.calls.enter(ctx)
	if err != nil {
		return model.Track{}, err
	}
	defer done()
	if err := checkID(id); err != nil {
		return model.Track{}, fmt.Errorf("core: track: %w", err)
	}
	if dl := e.Downloads(); dl != nil {
		t, ok, err := dl.TrackInfo(ctx, id)
		if ok {
			return t, nil
		}
		if err != nil {
			e.log.Warn("core: downloaded track metadata unreadable; asking the relay", "track", id, "err", err)
		}
	}
	var t model.Track
	if err := e.call(ctx, http.MethodGet, "/v1/tracks/"+url.PathEscape(string(id)), nil, &t, true); err != nil {
		return model.Track{}, fmt.Errorf("core: track %s: %w", id, err)
	}
	return t, nil
}

// PlayTrack plays one track (context kind "track").
func (e *Engine) PlayTrack(ctx context.Context, id model.TrackID) error {
	return e.PlayTrackFrom(ctx, id, 0)
}

// PlayTrackFrom is PlayTrack starting at output frame frame of the track,
// sample-exactly (see player.Player.PlayFrom).
func (e *Engine) PlayTrackFrom(ctx context.Context, id model.TrackID, frame int64) error {
	if err := e.playerOpen(); err != nil {
		return err
	}
	t, err := e.TrackInfo(ctx, id)
	if err != nil {
		return fmt.Errorf("core: play: %w", err)
	}
	return e.play(model.PlayContext{Kind: "track", ID: string(id)}, []model.Track{t}, 0, frame, model.Loudness{})
}

// PlayAlbum plays an album from its track index start (context kind
// "album"; a start outside its tracks is ErrBadStart); its consecutive
// tracks join gaplessly, never crossfaded. In
// player.GainAlbum mode every track gets the album's gain (from
// model.Album.Loudness), limited only where a track's own true peak
// would exceed the ceiling.
func (e *Engine) PlayAlbum(ctx context.Context, id model.AlbumID, start int) error {
	return e.PlayAlbumFrom(ctx, id, start, 0)
}

// PlayAlbumFrom is PlayAlbum starting at output frame frame of track
// start, sample-exactly (see player.Player.PlayFrom).
func (e *Engine) PlayAlbumFrom(ctx context.Context, id model.AlbumID, start int, frame int64) error {
	if err := e.playerOpen(); err != nil {
		return err
	}
	a, tracks, err := e.Album(ctx, id)
	if err != nil {
		return err
	}
	if err := checkStart("album "+string(id), start, len(tracks)); err != nil {
		return err
	}
	return e.play(model.PlayContext{Kind: "album", ID: string(id)}, tracks, start, frame, a.Loudness)
}

// metadataFetches bounds the concurrent track-metadata requests of
// PlayTracks (batches of metadataBatch, or single tracks from a relay
// without the batch route).
const metadataFetches = 8

// metadataBatch is how many tracks one metadata request of PlayTracks
// asks for (≤ api.MaxTracksBatch): small enough that an answer stays far
// below maxJSONResponse even for tracks with long rights lists.
const metadataBatch = 100

// PlayTracks plays tracks by id in the given context (e.g. a playlist's
// entries in order), from ids[start] (a start outside ids is ErrBadStart;
// no ids stops the player). It waits only for the metadata of the first batch
// (100 entries from start on, from TrackInfos): the play starts with the
// others queued by id, and their metadata follows in the background
// (player.Player.FillLate), entries after start first, so that the
// queue's crossfade, gapless and shuffle decisions use their artists and
// albums once known. The fill ends when the next play replaces the
// queue, or at ClosePlayer or Close. The gain is each track's own (album
// gain needs an album context: PlayAlbum).
//
// A track whose metadata cannot be had (unknown to the relay, refused,
// or unreachable and not downloaded) does not stop the others: it is
// logged and stays queued by its id alone, and the player skips it when
// it cannot play it, with a Status whose Err says why (at once for a
// refusal; for an unreachable relay after the player's stall timeout, in
// case the network comes back). When no track of the first batch can be
// described, PlayTracks waits for the metadata of all of them and fails
// only when no track's metadata can be had.
func (e *Engine) PlayTracks(ctx context.Context, c model.PlayContext, ids []model.TrackID, start int) error {
	return e.PlayTracksFrom(ctx, c, ids, start, 0)
}

// PlayTracksFrom is PlayTracks starting at output frame frame of track
// start, sample-exactly (see player.Player.PlayFrom).
func (e *Engine) PlayTracksFrom(ctx context.Context, c model.PlayContext, ids []model.TrackID, start int, frame int64) error {
	if err := e.playerOpen(); err != nil {
		return err
	}
	if len(ids) > 0 {
		if err := checkStart(c.Kind+" "+c.ID, start, len(ids)); err != nil {
			return err
		}
	}
	e.player.late.Stop() // the network is this play's first
	order := player.StartOrder(len(ids), start)
	head, rest := order[:min(len(order), metadataBatch)], order[min(len(order), metadataBatch):]
	items := make([]player.Item, len(ids))
	for i, id := range ids {
		items[i].Track = id
	}
	failed, err := e.describeAt(ctx, c, ids, head, items)
	if err != nil {
		return err
	}
	if len(failed) == len(head) && len(rest) > 0 {
		more, err := e.describeAt(ctx, c, ids, rest, items)
		if err != nil {
			return err
		}
		failed, rest = append(failed, more...), nil
	}
	if len(failed) > 0 && len(failed) == len(ids) {
		return fmt.Errorf("core: play %s %s: %w", c.Kind, c.ID, errors.Join(failed...))
	}
	if err := e.playItems(c, items, start, frame); err != nil || len(rest) == 0 {
		return err
	}
	p := e.Player()
	if p == nil { // closed since the play
		return nil
	}
	e.player.late.Replace(ctx, func(ctx context.Context) {
		err := p.FillLate(ctx, ids, rest, func(ctx context.Context, ids []model.TrackID) ([]model.Track, []error) {
			tracks, errs := e.TrackInfos(ctx, ids)
			e.logUndescribed(c, ids, errs)
			return tracks, errs
		})
		if err != nil && !errors.Is(err, context.Canceled) {
			e.log.Info("core: background track metadata ended early", "context", c.Kind, "err", err)
		}
	})
	return nil
}

// describeAt sets items[i] for the indexes at of ids that TrackInfos
// describes and returns why the others are not (logged); ErrClosed and
// ctx's end are its error.
func (e *Engine) describeAt(ctx context.Context, c model.PlayContext, ids []model.TrackID, at []int, items []player.Item) ([]error, error) {
	ask := make([]model.TrackID, len(at))
	for k, i := range at {
		ask[k] = ids[i]
	}
	got, errs := e.TrackInfos(ctx, ask)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("core: play %s %s: %w", c.Kind, c.ID, err)
	}
	var failed []error
	for k, err := range errs {
		switch {
		case err == nil:
			items[at[k]] = player.ItemOf(got[k], model.Loudness{})
		case errors.Is(err, ErrClosed):
			return nil, err
		default:
			failed = append(failed, err)
		}
	}
	e.logUndescribed(c, ask, errs)
	return failed, nil
}

// logUndescribed logs the tracks of ids whose metadata could not be had
// (errs[i] not nil): each while there are at most 10, else their count
// and the first error.
func (e *Engine) logUndescribed(c model.PlayContext, ids []model.TrackID, errs []error) {
	var failed []int
	for i, err := range errs {
		if err != nil {
			failed = append(failed, i)
		}
	}
	if len(failed) > 10 {
		e.log.Warn("core: no metadata for some tracks; the player tries them by id", "tracks", len(failed), "context", c.Kind, "first", ids[failed[0]], "err", errs[failed[0]])
		return
	}
	for _, i := range failed {
		e.log.Warn("core: no metadata for a track; the player tries it by id", "track", ids[i], "context", c.Kind, "err", errs[i])
	}
}

// TrackInfos is TrackInfo for many tracks at once: tracks[i] describes
// ids[i], or errs[i] says why there is no description (fetch.ErrNotFound
// for a track the relay does not know, ErrOffline, ErrClosed…). Tracks
// the downloads hold are answered from their records, the rest from the
// relay in batches of 100 (POST /v1/tracks/batch), 8 requests at a time;
// a relay without that route (404 or 405) is asked one track at a time;
// an id no track can have (model.ValidID) is fetch.ErrNotFound, unasked.
// Both slices are owned by the caller and as long as ids.
func (e *Engine) TrackInfos(ctx context.Context, ids []model.TrackID) ([]model.Track, []error) {
	tracks := make([]model.Track, len(ids))
	errs := make([]error, len(ids))
	ctx, done, err := e.calls.enter(ctx)
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
		return tracks, errs
	}
	defer done()
	var ask []int // indexes of ids the downloads do not describe
	dl := e.Downloads()
	for i, id := range ids {
		if dl != nil && model.ValidID(string(id)) {
			t, ok, err := dl.TrackInfo(ctx, id)
			if ok {
				tracks[i] = t
				continue
			}
			if err != nil {
				e.log.Warn("core: downloaded track metadata unreadable; asking the relay", "track", id, "err", err)
			}
		}
		ask = append(ask, i)
	}
	e.trackBatches().Fill(ctx, ids, ask, tracks, errs)
	return tracks, errs
}

// trackBatches returns TrackInfos' fetcher: batches of metadataBatch,
// metadataFetches at a time, TrackInfo for a relay without the route.
func (e *Engine) trackBatches() fetch.TrackBatches {
	return fetch.TrackBatches{Size: metadataBatch, Parallel: metadataFetches, Prefix: "core", BadAnswer: ErrBadResponse,
		Batch: func(ctx context.Context, ids []model.TrackID) ([]*model.Track, error) {
			var out api.TracksResponse
			err := e.call(ctx, http.MethodPost, "/v1/tracks/batch", api.TracksRequest{IDs: ids}, &out, true)
			return out.Tracks, err
		},
		One: e.TrackInfo}
}

// PlayPlaylist plays the entries of playlist id, as this device holds it
// (edits made offline included), in order from entry index start, with
// context kind "playlist" and id the document id (bs58check); a start
// outside its entries is ErrBadStart. With Smart
// Shuffle on (SetSmartShuffle), recommended tracks are inserted between
// the entries (see smartshuffle.go).
func (e *Engine) PlayPlaylist(ctx context.Context, d *Docs, id docs.DocumentID, start int) error {
	return e.PlayPlaylistFrom(ctx, d, id, start, 0)
}

// PlayPlaylistFrom is PlayPlaylist starting at output frame frame of
// entry start, sample-exactly (see player.Player.PlayFrom).
func (e *Engine) PlayPlaylistFrom(ctx context.Context, d *Docs, id docs.DocumentID, start int, frame int64) error {
	if err := e.playerOpen(); err != nil {
		return err
	}
	if d == nil {
		return ErrNoDocs
	}
	v, err := d.Playlists().Get(ctx, id)
	if err != nil {
		return fmt.Errorf("core: play playlist %s: %w", id, err)
	}
	ids := make([]model.TrackID, len(v.Entries))
	for i, en := range v.Entries {
		ids[i] = en.Track
	}
	if len(ids) == 0 {
		return fmt.Errorf("core: play playlist %s: %w", id, ErrEmptyPlaylist)
	}
	if err := checkStart("playlist "+id.String(), start, len(ids)); err != nil {
		return err
	}
	if e.SmartShuffle() {
		return e.playSmartShuffle(ctx, d, id, ids, start, frame)
	}
	return e.PlayTracksFrom(ctx, model.PlayContext{Kind: "playlist", ID: id.String()}, ids, start, frame)
}

// ErrBadStart is returned by the Play methods for a start index outside
// the tracks they were given (before the player hears of the play): the
// player would clamp it, and play the first or last track instead.
var ErrBadStart = errors.New("core: start index outside the tracks")

// checkStart returns ErrBadStart unless start indexes one of n tracks of
// what (the play's context, for the message).
func checkStart(what string, start, n int) error {
	if start < 0 || start >= n {
		return fmt.Errorf("core: play %s: start %d of %d tracks: %w", what, start, n, ErrBadStart)
	}
	return nil
}

// ErrEmptyPlaylist is returned by PlayPlaylist for a playlist without
// entries.
var ErrEmptyPlaylist = errors.New("core: playlist has no entries")

// Album returns an album and its tracks in album order; the slices are
// owned by the caller. For an album an album download holds (see
// OpenDownloads), they are the copies the download recorded, with no
// network I/O; else the relay's answer (GET /v1/albums/{id}).
func (e *Engine) Album(ctx context.Context, id model.AlbumID) (model.Album, []model.Track, error) {
	ctx, done, err := e.calls.enter(ctx)
	if err != nil {
		return model.Album{}, nil, err
	}
	defer done()
	if err := checkID(id); err != nil {
		return model.Album{}, nil, fmt.Errorf("core: album: %w", err)
	}
	if dl := e.Downloads(); dl != nil {
		a, tracks, ok, err := dl.AlbumInfo(ctx, id)
		if ok {
			return a, tracks, nil
		}
		if err != nil {
			e.log.Warn("core: downloaded album metadata unreadable; asking the relay", "album", id, "err", err)
		}
	}
	var out api.AlbumResponse
	if err := e.call(ctx, http.MethodGet, "/v1/albums/"+url.PathEscape(string(id)), nil, &out, true); err != nil {
		return model.Album{}, nil, fmt.Errorf("core: album %s: %w", id, err)
	}
	return out.Album, out.Tracks, nil
}

// ErrNoPlayer is returned by the Play methods without a player (before
// OpenPlayer, after ClosePlayer), before they ask for any metadata.
var ErrNoPlayer = errors.New("core: player not open")

// playerOpen returns ErrClosed after Close and ErrNoPlayer without a
// player: the Play methods check it first, so that neither is hidden
// behind a metadata request's failure.
func (e *Engine) playerOpen() error {
	if err := e.calls.check(); err != nil {
		return err
	}
	if e.Player() == nil {
		return ErrNoPlayer
	}
	return nil
}

// play sends the tracks to the player, to start at output frame frame of
// tracks[start]; album is the loudness of the album they all belong to
// (zero when unknown or mixed).
func (e *Engine) play(c model.PlayContext, tracks []model.Track, start int, frame int64, album model.Loudness) error {
	return e.playItems(c, playerItems(tracks, album), start, frame)
}

// playItems sends the items to the player, to start at output frame
// frame of items[start], ending the background fill of the queue they
// replace.
func (e *Engine) playItems(c model.PlayContext, items []player.Item, start int, frame int64) error {
	if err := e.calls.check(); err != nil {
		return err
	}
	p := e.Player()
	if p == nil {
		return ErrNoPlayer
	}
	e.player.late.Stop() // the queue it describes is being replaced
	e.social.setContext(c)
	return p.Send(player.PlayContext{Context: c, Items: items, Start: start, StartFrame: frame, Offline: e.OfflineMode()})
}

// playerItems converts tracks to queue items with album loudness album.
func playerItems(tracks []model.Track, album model.Loudness) []player.Item {
	items := make([]player.Item, len(tracks))
	for i, t := range tracks {
		items[i] = player.ItemOf(t, album)
	}
	return items
}

// Source is the engine as a player.Source, for players an app runs
// itself: tracks come through OpenTrack (verified, decrypted in memory),
// and after the engine's Close every call fails with ErrClosed. Errors
// that retrying cannot fix — an object missing or corrupt at every
// origin, a manifest that does not verify, a refused request, a closed
// engine — match player.ErrUnplayable; connectivity failures do not, so
// the player treats them as a stall and retries.
type Source struct{ E *Engine }

// OpenTrack implements player.Source.
func (s Source) OpenTrack(ctx context.Context, id model.TrackID, tier model.Tier) (player.TrackSource, error) {
	t, err := s.E.OpenTrack(ctx, id, tier)
	if err != nil {
		return nil, classify(err)
	}
	return &playerTrack{t: t, m: t.Manifest(), gated: true, head: s.E.headOf(t.m, t.key)}, nil
}

// engineSource is the source of the engine's own player: like Source,
// but its calls bypass the engine's gate, so that while Close closes the
// player its last reads are not refused (which would fail the current
// track and record a spurious play event). Close closes the player before
// anything those reads use.
type engineSource struct{ e *Engine }

// OpenTrack implements player.Source.
func (s engineSource) OpenTrack(ctx context.Context, id model.TrackID, tier model.Tier) (player.TrackSource, error) {
	t, err := s.e.openTrack(ctx, id, tier)
	if err != nil {
		return nil, classify(err)
	}
	return &playerTrack{t: t, m: t.Manifest(), head: s.e.headOf(t.m, t.key)}, nil
}

// playerTrack adapts a Track to player.TrackSource; gated tracks refuse
// reads after the engine's Close.
type playerTrack struct {
	t     *Track
	m     *model.Manifest
	gated bool
	head  []float32 // decoded by Prefetch, nil when none (shared, read-only)
}

var (
	_ player.NetworkSource = (*playerTrack)(nil)
	_ player.HeadSource    = (*playerTrack)(nil)
)

// Head implements player.HeadSource.
func (p *playerTrack) Head() []float32 { return p.head }

func (p *playerTrack) Manifest() *model.Manifest { return p.m }

func (p *playerTrack) Header(ctx context.Context) ([]byte, error) {
	read := p.t.header
	if p.gated {
		read = p.t.Header
	}
	b, err := read(ctx)
	return b, classify(err)
}

func (p *playerTrack) Chunk(ctx context.Context, i int) ([]byte, error) {
	b, _, err := p.ChunkFrom(ctx, i)
	return b, err
}

// ChunkFrom implements player.NetworkSource: a downloaded or cached
// chunk does not count in the player's bandwidth estimate.
func (p *playerTrack) ChunkFrom(ctx context.Context, i int) ([]byte, bool, error) {
	if p.gated {
		gctx, done, err := p.t.e.calls.enter(ctx)
		if err != nil {
			return nil, false, err
		}
		defer done()
		ctx = gctx
	}
	b, network, err := p.t.chunkFrom(ctx, i)
	return b, network, classify(err)
}

func (p *playerTrack) Close() error { return nil }

// classify marks permanent failures with player.ErrUnplayable; in
// offline mode that includes a track no download holds, and a downloaded
// track whose offline license ran out, was revoked or is missing (no
// retry brings it back before a renewal).
func classify(err error) error {
	if errors.Is(err, errOfflineMiss) {
		return fmt.Errorf("%w: %w", player.ErrUnplayable, err)
	}
	if err == nil || errors.Is(err, fetch.ErrOffline) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled) {
		return err
	}
	var se *fetch.StatusError
	permanent := errors.Is(err, fetch.ErrIntegrity) || errors.Is(err, fetch.ErrNotFound) ||
		errors.Is(err, fetch.ErrTooLarge) || errors.Is(err, fetch.ErrChunkRange) ||
		errors.Is(err, model.ErrBadManifest) || errors.Is(err, model.ErrInvalidTier) ||
		errors.Is(err, ErrNotRegistered) || errors.Is(err, ErrUnauthorized) ||
		errors.Is(err, ErrCatalogKeyMismatch) || errors.Is(err, ErrClosed) ||
		errors.Is(err, ErrLicenseExpired) || errors.Is(err, ErrLicenseRevoked) ||
		errors.Is(err, download.ErrNotLicensed) || errors.Is(err, ErrBadID) ||
		errors.As(err, &se) && se.Code >= 400 && se.Code < 500 && se.Code != http.StatusRequestTimeout &&
			se.Code != http.StatusTooManyRequests
	if permanent {
		return fmt.Errorf("%w: %w", player.ErrUnplayable, err)
	}
	return err
}

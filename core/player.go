package core

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
)

// playerState is the engine's player. It lives beside the Engine (keyed
// by it) so that playback needs no field in engine.go.
type playerState struct {
	mu sync.Mutex
	p  *player.Player
}

var playerStates sync.Map // *Engine → *playerState

func (e *Engine) playerState() *playerState {
	v, _ := playerStates.LoadOrStore(e, &playerState{})
	return v.(*playerState)
}

// OpenPlayer starts the engine's player on sink (the first call; later
// calls return the same player and ignore their arguments). The player
// reads tracks through the engine (cache, then origins; verified and
// decrypted in memory), records play events in History with this
// device's id, and marks them offline while OfflineMode is on. The sink
// stays owned by the caller; call ClosePlayer before closing it and
// before Close.
func (e *Engine) OpenPlayer(sink player.Sink, opts player.Options) (*player.Player, error) {
	if err := e.checkOpen(); err != nil {
		return nil, err
	}
	st := e.playerState()
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.p != nil {
		return st.p, nil
	}
	p, err := player.New(Source{e}, sink, opts.WithHistory(e.History()).WithDevice(e.DeviceID()).WithLogger(e.log))
	if err != nil {
		return nil, fmt.Errorf("core: open player: %w", err)
	}
	st.p = p
	return p, nil
}

// Player returns the player started by OpenPlayer, or nil.
func (e *Engine) Player() *player.Player {
	st := e.playerState()
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.p
}

// ClosePlayer stops and releases the player (a no-op without one).
func (e *Engine) ClosePlayer() error {
	st := e.playerState()
	st.mu.Lock()
	p := st.p
	st.p = nil
	st.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.Close()
}

// PlayTrack plays one track (context kind "track").
func (e *Engine) PlayTrack(ctx context.Context, id model.TrackID) error {
	var t model.Track
	if err := e.call(ctx, http.MethodGet, "/v1/tracks/"+url.PathEscape(string(id)), nil, &t, true); err != nil {
		return fmt.Errorf("core: play track %s: %w", id, err)
	}
	return e.play(model.PlayContext{Kind: "track", ID: string(id)}, []model.Track{t}, 0)
}

// PlayAlbum plays an album from its track index start (context kind
// "album"); its consecutive tracks join gaplessly, never crossfaded.
func (e *Engine) PlayAlbum(ctx context.Context, id model.AlbumID, start int) error {
	_, tracks, err := e.Album(ctx, id)
	if err != nil {
		return err
	}
	return e.play(model.PlayContext{Kind: "album", ID: string(id)}, tracks, start)
}

// PlayTracks plays tracks by id in the given context (e.g. a playlist's
// entries in order), fetching their metadata from the relay.
func (e *Engine) PlayTracks(ctx context.Context, c model.PlayContext, ids []model.TrackID, start int) error {
	tracks := make([]model.Track, len(ids))
	for i, id := range ids {
		if err := e.call(ctx, http.MethodGet, "/v1/tracks/"+url.PathEscape(string(id)), nil, &tracks[i], true); err != nil {
			return fmt.Errorf("core: play %s %s: track %s: %w", c.Kind, c.ID, id, err)
		}
	}
	return e.play(c, tracks, start)
}

// Album returns an album and its tracks in album order (GET
// /v1/albums/{id}); the slices are owned by the caller.
func (e *Engine) Album(ctx context.Context, id model.AlbumID) (model.Album, []model.Track, error) {
	var out struct {
		Album  model.Album   `json:"album"`
		Tracks []model.Track `json:"tracks"`
	}
	if err := e.call(ctx, http.MethodGet, "/v1/albums/"+url.PathEscape(string(id)), nil, &out, true); err != nil {
		return model.Album{}, nil, fmt.Errorf("core: album %s: %w", id, err)
	}
	return out.Album, out.Tracks, nil
}

// ErrNoPlayer is returned by the Play methods before OpenPlayer.
var ErrNoPlayer = errors.New("core: player not open")

func (e *Engine) play(c model.PlayContext, tracks []model.Track, start int) error {
	p := e.Player()
	if p == nil {
		return ErrNoPlayer
	}
	items := make([]player.Item, len(tracks))
	for i, t := range tracks {
		items[i] = player.Item{Track: t.ID, Album: t.AlbumID}
		if len(t.ArtistIDs) > 0 {
			items[i].Artist = t.ArtistIDs[0]
		}
	}
	return p.Send(player.PlayContext{Context: c, Items: items, Start: start, Offline: e.OfflineMode()})
}

// Source is the engine as a player.Source: tracks come through OpenTrack
// (verified, decrypted in memory). Errors that retrying cannot fix — an
// object missing or corrupt at every origin, a manifest that does not
// verify, a refused request — match player.ErrUnplayable; connectivity
// failures do not, so the player treats them as a stall and retries.
type Source struct{ E *Engine }

// OpenTrack implements player.Source.
func (s Source) OpenTrack(ctx context.Context, id model.TrackID, tier model.Tier) (player.TrackSource, error) {
	t, err := s.E.OpenTrack(ctx, id, tier)
	if err != nil {
		return nil, classify(err)
	}
	return &playerTrack{t: t, m: t.Manifest()}, nil
}

// playerTrack adapts a Track to player.TrackSource.
type playerTrack struct {
	t *Track
	m *model.Manifest
}

func (p *playerTrack) Manifest() *model.Manifest { return p.m }

func (p *playerTrack) Header(ctx context.Context) ([]byte, error) {
	b, err := p.t.Header(ctx)
	return b, classify(err)
}

func (p *playerTrack) Chunk(ctx context.Context, i int) ([]byte, error) {
	b, err := p.t.Chunk(ctx, i)
	return b, classify(err)
}

func (p *playerTrack) Close() error { return nil }

// classify marks permanent failures with player.ErrUnplayable.
func classify(err error) error {
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
		errors.As(err, &se) && se.Code >= 400 && se.Code < 500 && se.Code != http.StatusRequestTimeout &&
			se.Code != http.StatusTooManyRequests
	if permanent {
		return fmt.Errorf("%w: %w", player.ErrUnplayable, err)
	}
	return err
}

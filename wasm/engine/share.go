package engine

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/cborx"
	"github.com/segue-fm/segue/player"
)

// ErrBadShareToken is returned by PlayShare for a string that is not a
// share token (22 characters of base64url).
var ErrBadShareToken = errors.New("engine: not a share token")

// maxPreviewBody bounds a preview audio answer.
const maxPreviewBody = 16 << 20

// shareTokenLen is the length of a share token: 16 random bytes in
// unpadded base64url.
const shareTokenLen = 22

// isShareToken reports whether s is shareTokenLen characters of the
// base64url alphabet (a plain check rather than package regexp, which
// would add ~250 KB to the web player's module).
func isShareToken(s string) bool {
	if len(s) != shareTokenLen {
		return false
	}
	for _, c := range []byte(s) {
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// previewDec decodes preview answers: strict (no duplicate or unknown
// keys), small nesting, at most 64 Ki chunks' worth of array elements.
var previewDec = cborx.Limits{MaxNestedLevels: 8, MaxArrayElements: 1 << 16, MaxMapPairs: 64}.StrictDecMode()

// preview is the share link whose previews the player plays while the
// engine is not signed in.
type preview struct {
	token string
	index map[model.TrackID]int
}

// PlayShare plays the item of share link token (the last path element
// of /s/{token}): signed in, the whole item through the normal path
// (content keys, full streams); otherwise each track's preview (GET
// /s/{token}/preview/{n}), which ends after SharePreview.PreviewMS. It
// returns what the link plays and whether it is the preview. A later
// play call or Stop made while it waits for the relay replaces it
// (ErrReplaced).
func (e *Engine) PlayShare(ctx context.Context, token string) (api.SharePreview, bool, error) {
	var sp api.SharePreview
	if !isShareToken(token) {
		return sp, false, ErrBadShareToken
	}
	ticket := e.plays.Add(1)
	pub := e.public()
	if _, err := pub.Do(ctx, http.MethodGet, "/s/"+token+"/preview", nil, &sp, false); err != nil {
		return sp, false, fmt.Errorf("engine: share: %w", err)
	}
	if len(sp.Tracks) == 0 {
		return sp, false, fmt.Errorf("engine: share: %w: no tracks", ErrBadAnswer)
	}
	ids := make([]model.TrackID, len(sp.Tracks))
	idx := make(map[model.TrackID]int, len(ids))
	for i, t := range sp.Tracks {
		ids[i] = t.ID
		if _, dup := idx[t.ID]; !dup {
			idx[t.ID] = i
		}
	}
	c := model.PlayContext{Kind: "tracks"}
	switch sp.Kind {
	case api.ShareAlbum, api.ShareTrack:
		c = model.PlayContext{Kind: sp.Kind, ID: sp.ID}
	}
	e.mu.Lock()
	anonymous := e.token == ""
	e.preview = nil
	if anonymous {
		e.preview = &preview{token: token, index: idx}
	}
	e.mu.Unlock()
	if anonymous {
		tracks := make([]model.Track, len(ids))
		for i, id := range ids {
			tracks[i] = model.Track{ID: id}
		}
		return sp, true, e.play(ticket, c, tracks, 0, 0, model.Loudness{})
	}
	if sp.Kind == api.ShareAlbum {
		return sp, false, e.playAlbumFrom(ctx, ticket, model.AlbumID(sp.ID), 0, 0)
	}
	return sp, false, e.playTracksFrom(ctx, ticket, c, ids, 0, 0)
}

// public is a client for the relay's unauthenticated share routes.
func (e *Engine) public() *fetch.JSONClient {
	c := e.api
	c.Token, c.MaxBody = nil, maxPreviewBody
	return &c
}

// previewOf returns the preview link playing track while signed out.
func (e *Engine) previewOf(track model.TrackID) (string, int, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.preview == nil || e.token != "" {
		return "", 0, false
	}
	n, ok := e.preview.index[track]
	return e.preview.token, n, ok
}

// openPreview fetches track n's preview of token and checks that it is
// the asked track, well formed, and matches its own manifest.
func (e *Engine) openPreview(ctx context.Context, token string, n int, id model.TrackID) (player.TrackSource, error) {
	a, err := e.public().Do(ctx, http.MethodGet, "/s/"+token+"/preview/"+strconv.Itoa(n), nil, nil, false)
	if err != nil {
		return nil, classify(fmt.Errorf("engine: preview of %s: %w", id, err))
	}
	return decodePreview(a.Body, id)
}

// decodePreview decodes and checks a preview answer (untrusted bytes):
// strict CBOR, a valid one-chunk manifest of track id, header and audio
// of the sizes and SHA-256 the manifest names. Failures are unplayable.
func decodePreview(body []byte, id model.TrackID) (*previewTrack, error) {
	var pa api.PreviewAudio
	if err := previewDec.Unmarshal(body, &pa); err != nil {
		return nil, fmt.Errorf("%w: engine: preview of %s: %w", player.ErrUnplayable, id, err)
	}
	m := &pa.Manifest
	err := m.Validate()
	switch {
	case err != nil:
	case m.TrackID != id:
		err = fmt.Errorf("%w: preview is of %s", ErrBadAnswer, m.TrackID)
	case len(m.Chunks) != 1 || m.Header.Size != int64(len(pa.Header)) || m.Chunks[0].Blob.Size != int64(len(pa.Audio)) ||
		m.Header.SHA256 != sha256.Sum256(pa.Header) || m.Chunks[0].Blob.SHA256 != sha256.Sum256(pa.Audio):
		err = fmt.Errorf("%w: preview blobs do not match its manifest", ErrBadAnswer)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: engine: preview of %s: %w", player.ErrUnplayable, id, err)
	}
	return &previewTrack{pa}, nil
}

// previewTrack is a preview as a player.TrackSource: one chunk, in
// memory, already clear.
type previewTrack struct{ a api.PreviewAudio }

func (p *previewTrack) Manifest() *model.Manifest { return &p.a.Manifest }

func (p *previewTrack) Header(context.Context) ([]byte, error) { return bytes.Clone(p.a.Header), nil }

func (p *previewTrack) Chunk(_ context.Context, i int) ([]byte, error) {
	if i != 0 {
		return nil, fmt.Errorf("%w: preview chunk %d", player.ErrUnplayable, i)
	}
	return bytes.Clone(p.a.Audio), nil
}

func (p *previewTrack) Close() error { return nil }

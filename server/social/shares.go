package social

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
)

// Errors of share links.
var (
	// ErrNoShare: the token names no live share (never issued, revoked,
	// expired, or not the caller's to revoke) (404).
	ErrNoShare = fmt.Errorf("social: no such share: %w", relay.ErrNotFound)
	// ErrBadShare: a malformed share request or token (400).
	ErrBadShare = fmt.Errorf("social: bad share: %w", relay.ErrBadRequest)
	// ErrNotShareable: the caller may not share (or invite to) the item (403).
	ErrNotShareable = fmt.Errorf("social: not yours to share: %w", relay.ErrForbidden)
)

// TokenBytes is the random length of a share token: 128 bits, encoded
// as 22 characters of unpadded base64url.
const TokenBytes = 16

// maxShareTTL bounds the lifetime a non-invite share may ask for.
const maxShareTTL = 365 * 24 * time.Hour

var tokenRE = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

// shareRecord is the value at shr/t/<sha256(token) hex>. The token itself
// is not stored: a copy of the store does not reveal live links.
type shareRecord struct {
	Kind    string       `cbor:"1,keyasint"`
	ID      string       `cbor:"2,keyasint"`
	Owner   model.UserID `cbor:"3,keyasint"`
	Created int64        `cbor:"4,keyasint"`           // Unix ms
	Expires int64        `cbor:"5,keyasint,omitempty"` // Unix ms, 0 = never
	Invite  bool         `cbor:"6,keyasint,omitempty"`
}

func shareKey(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return store.Key("shr", "t", hex.EncodeToString(h[:]))
}

// newToken returns a fresh random share token. It never starts with
// '-', so it can follow any command (`segue share revoke TOKEN`) without
// being read as a flag; redrawing those (1 in 64) costs 0.02 bits of the
// token's 128.
func newToken() (string, error) {
	var b [TokenBytes]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		if t := base64.RawURLEncoding.EncodeToString(b[:]); t[0] != '-' {
			return t, nil
		}
	}
}

// checkToken validates a token from a URL.
func checkToken(t string) error {
	if !tokenRE.MatchString(t) {
		return fmt.Errorf("%w: token", ErrBadShare)
	}
	return nil
}

// CreateShare issues a share link of req's item for me. Tracks and albums
// must be in the catalog and released: while the album is embargoed at
// the service's clock it fails with catalog.ErrEmbargoed (403), since a
// share page is public. A playlist must be readable by me (owner,
// collaborator or public); an invite only by its owner. The caller owns
// the returned Share; its URL is base + "/s/" + token.
func (s *Service) CreateShare(ctx context.Context, me model.UserID, req api.ShareRequest, base string) (api.Share, error) {
	now := s.opts.now()
	rec := shareRecord{Kind: req.Kind, ID: req.ID, Owner: me, Created: now.UnixMilli(), Invite: req.Invite}
	if req.TTL < 0 || time.Duration(req.TTL) > maxShareTTL/time.Second {
		return api.Share{}, fmt.Errorf("%w: ttl", ErrBadShare)
	}
	ttl := time.Duration(req.TTL) * time.Second
	if req.ID == "" || len(req.ID) > maxContextID {
		return api.Share{}, fmt.Errorf("%w: id", ErrBadShare)
	}
	switch req.Kind {
	case api.ShareTrack, api.ShareAlbum:
		if req.Invite {
			return api.Share{}, fmt.Errorf("%w: invites are for playlists", ErrBadShare)
		}
		var err error
		if req.Kind == api.ShareTrack {
			err = s.cat.CheckReleased(ctx, model.TrackID(req.ID), now)
		} else {
			var al model.Album
			if al, err = s.cat.Album(ctx, model.AlbumID(req.ID)); err == nil && al.Embargoed(now) {
				err = fmt.Errorf("%w: album %s releases at %s", catalog.ErrEmbargoed, al.ID,
					time.Unix(al.ReleaseAt, 0).UTC().Format(time.RFC3339))
			}
		}
		if errors.Is(err, catalog.ErrNotFound) {
			return api.Share{}, fmt.Errorf("%w: %s %s", relay.ErrNotFound, req.Kind, relay.QuoteInput(req.ID))
		}
		if errors.Is(err, catalog.ErrEmbargoed) {
			return api.Share{}, fmt.Errorf("social: no share links before the release: %w", err)
		}
		if err != nil {
			return api.Share{}, err
		}
	case api.SharePlaylist:
		id, err := docs.ParseDocumentID(req.ID)
		if err != nil {
			return api.Share{}, fmt.Errorf("%w: playlist id", ErrBadShare)
		}
		info, ok, err := s.playlistInfo(ctx, id)
		if err != nil {
			return api.Share{}, err
		}
		if !ok || !(info.Public || info.Owner == me || slices.Contains(info.Collaborators, me)) {
			return api.Share{}, fmt.Errorf("%w: playlist %s", relay.ErrNotFound, relay.QuoteInput(req.ID))
		}
		if req.Invite {
			if info.Owner != me {
				return api.Share{}, fmt.Errorf("%w: only the owner invites collaborators", ErrNotShareable)
			}
			if ttl == 0 || ttl > s.opts.inviteTTL {
				ttl = s.opts.inviteTTL
			}
		}
	default:
		return api.Share{}, fmt.Errorf("%w: kind %s (want track, album or playlist)", ErrBadShare, relay.QuoteInput(req.Kind))
	}
	tok, err := newToken()
	if err != nil {
		return api.Share{}, err
	}
	out := api.Share{Token: tok, URL: base + "/s/" + tok, Kind: req.Kind, ID: req.ID, Invite: req.Invite}
	if ttl > 0 {
		exp := now.Add(ttl).UTC().Truncate(time.Millisecond)
		rec.Expires, out.Expires = exp.UnixMilli(), &exp
	}
	b, err := cborEnc.Marshal(rec)
	if err != nil {
		return api.Share{}, err
	}
	if err := s.st.Set(ctx, shareKey(tok), b); err != nil {
		return api.Share{}, err
	}
	return out, nil
}

// share returns the live share of token (ErrNoShare when there is none
// or it expired).
func (s *Service) share(ctx context.Context, token string) (shareRecord, error) {
	var rec shareRecord
	if err := checkToken(token); err != nil {
		return rec, ErrNoShare
	}
	b, err := s.st.Get(ctx, shareKey(token))
	if errors.Is(err, store.ErrNotFound) {
		return rec, ErrNoShare
	}
	if err != nil {
		return rec, err
	}
	if err := cborDec.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("decode share: %w", err)
	}
	if rec.Expires != 0 && s.opts.now().UnixMilli() >= rec.Expires {
		return rec, ErrNoShare
	}
	return rec, nil
}

// RevokeShare deletes me's share of token: its page, card and accept
// answer 404 from then on. Another user's token is ErrNoShare.
func (s *Service) RevokeShare(ctx context.Context, me model.UserID, token string) error {
	if err := checkToken(token); err != nil {
		return ErrNoShare
	}
	return s.st.Update(ctx, func(tx store.Txn) error {
		b, err := tx.Get(shareKey(token))
		if errors.Is(err, store.ErrNotFound) {
			return ErrNoShare
		}
		if err != nil {
			return err
		}
		var rec shareRecord
		if err := cborDec.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("decode share: %w", err)
		}
		if rec.Owner != me {
			return ErrNoShare
		}
		return tx.Delete(shareKey(token))
	})
}

// AcceptShare acts on a playlist share for me: the playlist is added to
// me's library (the followed playlists set) when the library is on the
// relay, and an invite first makes me a collaborator (a change the relay
// makes to the playlist document, synced to every device like any
// other). A plain share of a playlist me may not read is ErrNotShareable.
func (s *Service) AcceptShare(ctx context.Context, me model.UserID, token string) (api.ShareAccepted, error) {
	rec, err := s.share(ctx, token)
	if err != nil {
		return api.ShareAccepted{}, err
	}
	out := api.ShareAccepted{Kind: rec.Kind, ID: rec.ID}
	if rec.Kind != api.SharePlaylist || s.docs == nil {
		return out, nil
	}
	id, info, err := s.sharedPlaylist(ctx, rec)
	if err != nil {
		return out, err
	}
	member := info.Owner == me || slices.Contains(info.Collaborators, me)
	switch { // an invite whose inviter no longer owns the playlist was ErrNoShare
	case rec.Invite && !member:
		h, err := s.docs.Get(ctx, id)
		if err != nil {
			return out, err
		}
		err = h.Playlist(ctx, func(p *docs.Playlist) error {
			_, collabs, _, err := p.Access()
			if err != nil {
				return err
			}
			return p.SetCollaborators(append(collabs, me)...)
		})
		if err != nil {
			return out, fmt.Errorf("add collaborator: %w", err)
		}
		out.Collaborator = true
	case rec.Invite:
		out.Collaborator = true
	case !info.Public && !member:
		return out, fmt.Errorf("%w: the playlist is private", ErrNotShareable)
	}
	if info.Owner == me {
		return out, nil
	}
	lib, err := s.st.Get(ctx, store.Key("lib", string(me)))
	if errors.Is(err, store.ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return out, err
	}
	libID, err := docs.ParseDocumentID(string(lib))
	if err != nil {
		return out, nil
	}
	h, err := s.docs.Get(ctx, libID)
	if err != nil {
		return out, nil // the library never reached the relay: the device follows it itself
	}
	if err := h.Library(ctx, func(l *docs.Library) error { return l.FollowPlaylists(id) }); err != nil {
		return out, fmt.Errorf("follow playlist: %w", err)
	}
	out.Followed = true
	return out, nil
}

// baseURL is the configured public URL, or the request's scheme and host.
func (s *Service) baseURL(c echo.Context) string {
	if s.opts.publicURL != "" {
		return strings.TrimRight(s.opts.publicURL, "/")
	}
	return c.Scheme() + "://" + c.Request().Host
}

func (s *Service) createShareH(c echo.Context) error {
	var req api.ShareRequest
	me, err := s.limitedBody(c, s.shares, "share links", &req)
	if err != nil {
		return err
	}
	out, err := s.CreateShare(c.Request().Context(), me, req, s.baseURL(c))
	if err != nil {
		return err
	}
	s.log.Info("social: share created", "kind", out.Kind, "invite", out.Invite)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, out)
}

func (s *Service) revokeShareH(c echo.Context) error {
	me, err := caller(c)
	if err != nil {
		return err
	}
	if err := s.RevokeShare(c.Request().Context(), me, c.Param("token")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Service) acceptShareH(c echo.Context) error {
	me, err := caller(c)
	if err != nil {
		return err
	}
	out, err := s.AcceptShare(c.Request().Context(), me, c.Param("token"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

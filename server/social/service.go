package social

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/userlimit"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/repo"
)

// maxProfilePlaylists bounds the public playlists a profile lists.
const maxProfilePlaylists = 100

// topArtists is how many artists a profile lists.
const topArtists = 5

// Service is the relay's social layer: the follow graph, profiles, live
// friend activity and share links (docs/ARCHITECTURE.md "Social"). It is
// safe for concurrent use. Create it with New, add its routes with
// Mount, and Close it to end open activity streams.
type Service struct {
	st     store.Store
	cat    *catalog.Catalog
	docs   *repo.Repo // nil: profiles list no playlists, playlist shares refused
	opts   Options
	log    *slog.Logger
	hub    *hub
	shares *userlimit.Limiter
	posts  *userlimit.Limiter
	// previews limits anonymous preview requests per client address;
	// previewJobs bounds the previews cut at once.
	previews    *userlimit.Limiter
	previewJobs chan struct{}
	waves       *waveCache
	cards       *cardCache
	acts        *actWriter
	lat         *fanoutLatency
	syncSubs    atomic.Int64 // sync connections subscribed to activity
	graph       *friendIndex
}

// New returns a Service over the relay's store, catalog (with its public
// key, which verifies the manifests waveforms are decoded from) and
// document repository (relay.Server.Docs; nil disables playlists).
func New(st store.Store, cat *catalog.Catalog, catalogPub ed25519.PublicKey, docsRepo *repo.Repo, opts Options) *Service {
	if opts.now == nil {
		opts.now = time.Now
	}
	s := &Service{
		st: st, cat: cat, docs: docsRepo, opts: opts, log: opts.logger,
		hub:         newHub(opts.streams, opts.userStreams, opts.streamBuffer, opts.streamFlush),
		shares:      userlimit.New(opts.shareRate, opts.shareBurst, opts.limiterUsers),
		posts:       userlimit.New(opts.activityRate, opts.activityBurst, opts.limiterUsers),
		previews:    userlimit.New(opts.previewRate, opts.previewBurst, opts.limiterUsers),
		previewJobs: make(chan struct{}, opts.previewJobs),
		graph:       newFriendIndex(opts.friendIndex),
		cards:       newCardCache(),
	}
	s.waves = newWaveCache(s, catalogPub)
	s.acts = newActWriter(st, opts.logger)
	s.lat = &fanoutLatency{log: opts.logger}
	return s
}

// NewForRelay is New over r's data directory (its store, catalog and
// documents), on r's clock unless opts has its own (Options.WithClock).
func NewForRelay(dd *catalog.DataDir, r *relay.Server, opts Options) *Service {
	if opts.now == nil {
		opts.now = r.Now
	}
	return New(dd.Store, r.Catalog(), dd.Signer.Public().(ed25519.PublicKey), r.Docs(), opts)
}

// Mount registers the routes on r (call before serving), makes r's sync
// endpoint deliver friend activity to the devices that subscribe on their
// sync connection (SubscribeActivity), and ends the activity streams when
// r begins a graceful shutdown:
//
//	POST/DELETE /v1/follows/{user}   follow, unfollow
//	GET  /v1/follows, /v1/followers, /v1/friends, /v1/blocks
//	POST/DELETE /v1/blocks/{user}    block, unblock
//	GET  /v1/users/{user}            profile
//	PUT  /v1/profile                 own display name and privacy settings
//	POST /v1/activity                publish what this device plays
//	GET  /v1/activity                friends' latest activity
//	GET  /v1/activity/stream         the same, pushed (text/event-stream)
//	POST /v1/shares                  create a share link
//	DELETE /v1/shares/{token}        revoke it (owner)
//	POST /v1/shares/{token}/accept   follow a shared playlist / accept an invite
//	GET  /s/{token}, /s/{token}.png  public share page and card (no auth)
//	GET  /s/{token}/preview          what the link plays (no auth, rate-limited per address)
//	GET  /s/{token}/preview/{n}      track n's preview audio (no auth, CBOR)
func (s *Service) Mount(r *relay.Server) {
	r.Mount(func(v1 *relay.DeviceRoutes) {
		v1.POST("/follows/:user", s.followH)
		v1.DELETE("/follows/:user", s.unfollowH)
		v1.GET("/follows", s.listH(func(ctx context.Context, me, after model.UserID, limit int) ([]model.UserID, bool, error) {
			return s.followPage(ctx, me, false, after, limit)
		}))
		v1.GET("/followers", s.listH(func(ctx context.Context, me, after model.UserID, limit int) ([]model.UserID, bool, error) {
			return s.followPage(ctx, me, true, after, limit)
		}))
		v1.GET("/friends", s.listH(s.friendsPage))
		v1.GET("/blocks", s.listH(func(ctx context.Context, me, after model.UserID, limit int) ([]model.UserID, bool, error) {
			return s.usersPage(ctx, blockPrefix(me), after, limit)
		}))
		v1.POST("/blocks/:user", s.blockH)
		v1.DELETE("/blocks/:user", s.unblockH)
		v1.GET("/users/:user", s.profileH)
		v1.PUT("/profile", s.settingsH)
		v1.POST("/activity", s.publishH)
		v1.GET("/activity", s.feedH)
		v1.GET("/activity/stream", s.streamH)
		v1.POST("/shares", s.createShareH)
		v1.DELETE("/shares/:token", s.revokeShareH)
		v1.POST("/shares/:token/accept", s.acceptShareH)
	})
	// Streams stay open for as long as their device listens; they have
	// caps of their own (DefaultOptions: 8 per user, 50,000 in all), so
	// the relay's in-flight cap does not count them, and over HTTP/1.x
	// they take the relay's long-lived connections, shared with sync
	// sessions.
	r.LongLived("/v1/activity/stream")
	r.Echo().GET("/s/:token", s.pageH)
	r.Echo().GET("/s/:token/preview", s.previewH)
	r.Echo().GET("/s/:token/preview/:n", s.previewAudioH)
	if ep := r.SyncEndpoint(); ep != nil {
		ep.SetActivitySource(s, relaysync.ActivityLimits{Queue: s.opts.streamBuffer, WriteTimeout: s.opts.slowConsumer})
	}
	r.OnShutdown(s.Close)
	r.OnDeviceRevoked(s.hub.revoke)
}

// Close ends every open activity stream (later streams are refused) and
// commits the latest activities not yet stored. Call it before the store
// closes (Mount arranges it for the relay's graceful shutdown).
func (s *Service) Close() {
	s.hub.close()
	s.acts.close()
}

// caller returns the authenticated user of c.
func caller(c echo.Context) (model.UserID, error) {
	dev, ok := relay.DeviceFrom(c)
	if !ok || dev.User == "" {
		return "", relay.ErrUnauthorized
	}
	return dev.User, nil
}

// limitedBody is the start of a rate-limited POST: the authenticated
// caller, one token of the caller's bucket in lim (429 with Retry-After
// naming what when there is none, before the body is read), then the
// strict JSON body decoded into v (relay.DecodeJSON, Options' body
// limit).
func (s *Service) limitedBody(c echo.Context, lim *userlimit.Limiter, what string, v any) (model.UserID, error) {
	me, err := caller(c)
	if err != nil {
		return "", err
	}
	if ok, d := lim.Allow(string(me), s.opts.now()); !ok {
		return "", tooMany(c, d, what)
	}
	if err := relay.DecodeJSON(c, s.opts.maxBody, v); err != nil {
		return "", err
	}
	return me, nil
}

// pair returns the caller and the validated {user} of the path.
func pair(c echo.Context) (model.UserID, model.UserID, error) {
	me, err := caller(c)
	if err != nil {
		return "", "", err
	}
	them, err := checkUser(c.Param("user"))
	return me, them, err
}

func (s *Service) graphH(op func(context.Context, model.UserID, model.UserID) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		me, them, err := pair(c)
		if err != nil {
			return err
		}
		if err := op(c.Request().Context(), me, them); err != nil {
			return err
		}
		return c.NoContent(http.StatusNoContent)
	}
}

func (s *Service) followH(c echo.Context) error   { return s.graphH(s.Follow)(c) }
func (s *Service) unfollowH(c echo.Context) error { return s.graphH(s.Unfollow)(c) }
func (s *Service) blockH(c echo.Context) error    { return s.graphH(s.Block)(c) }
func (s *Service) unblockH(c echo.Context) error  { return s.graphH(s.Unblock)(c) }

// listH serves one page of a user list (api.UserList): the query's
// limit (1 to api.MaxUserListLimit, default api.DefaultUserListLimit)
// users after its cursor, the last name of the page before, base64url
// encoded; the answer's next is the cursor of the page after, absent on
// the last page.
func (s *Service) listH(page func(ctx context.Context, me, after model.UserID, limit int) ([]model.UserID, bool, error)) echo.HandlerFunc {
	return func(c echo.Context) error {
		me, err := caller(c)
		if err != nil {
			return err
		}
		after, limit, err := pageParams(c)
		if err != nil {
			return err
		}
		users, more, err := page(c.Request().Context(), me, after, limit)
		if err != nil {
			return err
		}
		out := api.UserList{Users: users}
		if more && len(users) > 0 {
			out.Next = base64.RawURLEncoding.EncodeToString([]byte(users[len(users)-1]))
		}
		c.Response().Header().Set("Cache-Control", "no-store")
		return c.JSON(http.StatusOK, out)
	}
}

// pageParams parses a user list's limit and cursor query parameters.
func pageParams(c echo.Context) (model.UserID, int, error) {
	limit := api.DefaultUserListLimit
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > api.MaxUserListLimit {
			return "", 0, fmt.Errorf("%w: limit %s, want 1 to %d", ErrBadPage, relay.QuoteInput(v), api.MaxUserListLimit)
		}
		limit = n
	}
	v := c.QueryParam("cursor")
	if v == "" {
		return "", limit, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || !userRE.Match(b) {
		return "", 0, fmt.Errorf("%w: cursor %s is not one the relay gave", ErrBadPage, relay.QuoteInput(v))
	}
	return model.UserID(b), limit, nil
}

// Profile returns them's profile as me sees it: ErrNoUser when them does
// not exist or blocked me. Top artists only when them allows it (or is
// me); privacy settings only on my own.
func (s *Service) Profile(ctx context.Context, me, them model.UserID) (api.Profile, error) {
	var out api.Profile
	// The counts come from the friends index: counting them in the store
	// read every follower's key (49 ms a view at 200,000 followers).
	followers, following, counted := s.graph.counts(them)
	if !counted {
		if err := s.LoadGraph(ctx); err != nil {
			return api.Profile{}, err
		}
		followers, following, counted = s.graph.counts(them)
	}
	err := s.st.Update(ctx, func(tx store.Txn) error {
		if me != them {
			if err := target(tx, me, them); err != nil {
				return err
			}
		}
		var err error
		if out.YouFollow, err = has(tx, followKey(me, them)); err != nil {
			return err
		}
		if out.FollowsYou, err = has(tx, followKey(them, me)); err != nil {
			return err
		}
		if counted {
			out.Followers, out.Following = followers, following
			return nil
		}
		if out.Followers, err = countPrefix(tx.Iterate, followerPrefix(them), 1<<30); err != nil {
			return err
		}
		out.Following, err = countPrefix(tx.Iterate, followPrefix(them), 1<<30)
		return err
	})
	if err != nil {
		return api.Profile{}, err
	}
	p, err := s.readProfile(ctx, them)
	if err != nil {
		return api.Profile{}, err
	}
	out.User, out.DisplayName = them, cmp.Or(p.DisplayName, string(them))
	out.Friends = out.YouFollow && out.FollowsYou && me != them
	if out.PublicPlaylists, err = s.publicPlaylists(ctx, them); err != nil {
		return api.Profile{}, err
	}
	if p.ShowTopArtists || me == them {
		if out.TopArtists, err = s.topArtists(ctx, them); err != nil {
			return api.Profile{}, err
		}
	}
	if me == them {
		out.HideActivity, out.ShowTopArtists = &p.HideActivity, &p.ShowTopArtists
	}
	return out, nil
}

func (s *Service) profileH(c echo.Context) error {
	me, them, err := pair(c)
	if err != nil {
		return err
	}
	p, err := s.Profile(c.Request().Context(), me, them)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, p)
}

// SetProfile applies the non-nil fields of set to me's profile. Hiding
// activity also forgets the last one.
func (s *Service) SetProfile(ctx context.Context, me model.UserID, set api.ProfileSettings) error {
	if set.DisplayName != nil {
		if err := checkDisplayName(*set.DisplayName); err != nil {
			return err
		}
	}
	err := s.st.Update(ctx, func(tx store.Txn) error {
		var p profile
		b, err := tx.Get(profileKey(me))
		switch {
		case err == nil:
			if err := cborDec.Unmarshal(b, &p); err != nil {
				return fmt.Errorf("decode profile of %s: %w", me, err)
			}
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		if set.DisplayName != nil {
			p.DisplayName = *set.DisplayName
		}
		if set.HideActivity != nil {
			p.HideActivity = *set.HideActivity
		}
		if set.ShowTopArtists != nil {
			p.ShowTopArtists = *set.ShowTopArtists
		}
		if p.HideActivity {
			s.acts.drop(me)
			if err := tx.Delete(activityKey(me)); err != nil {
				return err
			}
		}
		nb, err := cborEnc.Marshal(p)
		if err != nil {
			return err
		}
		return tx.Set(profileKey(me), nb)
	})
	return err
}

func (s *Service) settingsH(c echo.Context) error {
	me, err := caller(c)
	if err != nil {
		return err
	}
	var set api.ProfileSettings
	if err := relay.DecodeJSON(c, s.opts.maxBody, &set); err != nil {
		return err
	}
	if err := s.SetProfile(c.Request().Context(), me, set); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// publicPlaylists lists the public playlists user owns (created on the
// relay and recorded as theirs), by name, at most maxProfilePlaylists.
func (s *Service) publicPlaylists(ctx context.Context, user model.UserID) ([]api.PlaylistRef, error) {
	out := []api.PlaylistRef{}
	if s.docs == nil {
		return out, nil
	}
	prefix := store.Prefix("udoc", string(user))
	var ids []docs.DocumentID
	err := s.st.Iterate(ctx, prefix, false, func(k, _ []byte) error {
		if id, err := docs.ParseDocumentID(string(k[len(prefix):])); err == nil {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if len(out) >= maxProfilePlaylists {
			break
		}
		info, ok, err := s.playlistInfo(ctx, id)
		if err != nil {
			return nil, err
		}
		if ok && info.Public && info.Owner == user {
			out = append(out, api.PlaylistRef{ID: id.String(), Name: info.Name})
		}
	}
	slices.SortFunc(out, func(a, b api.PlaylistRef) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID)) })
	return out, nil
}

// sharedPlaylist returns the id and the relay's record of the playlist
// share rec names: ErrNoShare when the id does not parse, the relay does
// not hold the playlist (any more), or rec's sharer may no longer show
// it (sharerShows).
func (s *Service) sharedPlaylist(ctx context.Context, rec shareRecord) (docs.DocumentID, docs.Info, error) {
	id, err := docs.ParseDocumentID(rec.ID)
	if err != nil {
		return docs.DocumentID{}, docs.Info{}, ErrNoShare
	}
	info, ok, err := s.playlistInfo(ctx, id)
	if err != nil {
		return docs.DocumentID{}, docs.Info{}, err
	}
	if !ok || !sharerShows(rec, info) {
		return docs.DocumentID{}, docs.Info{}, ErrNoShare
	}
	return id, info, nil
}

// sharerShows reports whether share rec may still show the playlist of
// info (page, card, preview, accept): an invite while its inviter owns
// it; a plain share while the playlist is public or its sharer is the
// owner or a collaborator — what CreateShare checks, checked again at
// every use, so a link someone made of a public playlist stops showing
// it once its owner makes it private (or drops the sharer), instead of
// publishing its current name and first track.
func sharerShows(rec shareRecord, info docs.Info) bool {
	if rec.Invite {
		return info.Owner == rec.Owner
	}
	return info.Public || info.Owner == rec.Owner || slices.Contains(info.Collaborators, rec.Owner)
}

// playlistInfo reads playlist id's metadata with its owner taken from
// the relay's record (never the content); ok is false when the relay
// holds no such playlist.

func (s *Service) playlistInfo(ctx context.Context, id docs.DocumentID) (docs.Info, bool, error) {
	if s.docs == nil {
		return docs.Info{}, false, nil
	}
	owner, err := relaysync.OwnerOf(ctx, s.st, id)
	if err != nil || owner == "" {
		return docs.Info{}, false, err
	}
	h, err := s.docs.Get(ctx, id)
	if errors.Is(err, repo.ErrNotFound) {
		return docs.Info{}, false, nil
	}
	if err != nil {
		return docs.Info{}, false, err
	}
	var info docs.Info
	err = h.ReadPlaylist(func(p *docs.Playlist) error {
		var err error
		info, err = p.Info()
		return err
	})
	if errors.Is(err, docs.ErrWrongType) {
		return docs.Info{}, false, nil
	}
	if err != nil {
		return docs.Info{}, false, err
	}
	info.Owner = owner
	return info, true, nil
}

// topArtists sums user's counted streams of this month and the last by
// artist (server/counting's cnt/u/ records) and returns the most played.
func (s *Service) topArtists(ctx context.Context, user model.UserID) ([]api.ArtistPlays, error) {
	now := s.opts.now().UTC()
	months := []string{now.Format("2006-01"), now.AddDate(0, -1, -now.Day()+1).Format("2006-01")}
	byTrack := map[model.TrackID]uint64{}
	for _, m := range months {
		prefix := store.Prefix("cnt", "u", string(user), m)
		err := s.st.Iterate(ctx, prefix, false, func(k, v []byte) error {
			n, err := store.Uint64(v)
			if err == nil {
				byTrack[model.TrackID(k[len(prefix):])] += n
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	byArtist := map[model.ArtistID]uint64{}
	for id, n := range byTrack {
		t, err := s.cat.Track(ctx, id)
		if err != nil {
			continue // a track no longer in the catalog
		}
		for _, a := range t.ArtistIDs {
			byArtist[a] += n
		}
	}
	out := make([]api.ArtistPlays, 0, len(byArtist))
	for id, n := range byArtist {
		name := string(id)
		if a, err := s.cat.Artist(ctx, id); err == nil {
			name = a.Name
		}
		out = append(out, api.ArtistPlays{ID: id, Name: name, Plays: n})
	}
	slices.SortFunc(out, func(a, b api.ArtistPlays) int {
		return cmp.Or(cmp.Compare(b.Plays, a.Plays), cmp.Compare(a.Name, b.Name))
	})
	if len(out) > topArtists {
		out = out[:topArtists]
	}
	return out, nil
}

// tooMany answers 429 with Retry-After d (whole seconds, at least 1).
func tooMany(c echo.Context, d time.Duration, what string) error {
	secs := max(int((d+time.Second-1)/time.Second), 1)
	c.Response().Header().Set("Retry-After", strconv.Itoa(secs))
	return echo.NewHTTPError(http.StatusTooManyRequests, fmt.Sprintf("social: too many %s, retry in %d s", what, secs))
}

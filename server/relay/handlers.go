package relay

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/store"
)

// createAccount handles POST /v1/accounts: open signup, or the admin token
// when signup is closed.
func (s *Server) createAccount(c echo.Context) error {
	admin := false
	if _, ok := BearerToken(c.Request()); ok || !s.opts.openSignup {
		// A bearer token here is an admin token, checked (and a wrong
		// one counted) as on the admin routes.
		switch err := s.checkAdmin(c.Request(), s.opts.adminToken); {
		case err == nil:
			admin = true
		case errors.Is(err, ErrTooManyRequests):
			return err
		case !s.opts.openSignup:
			return ErrSignupClosed
		}
	}
	var req api.AccountRequest
	if err := DecodeJSON(c, s.opts.maxBody, &req); err != nil {
		return err
	}
	// Accounts the operator creates with the admin token are not counted
	// against the address's signups.
	limited := !admin
	if err := s.acc.create(c.Request().Context(), req.Username, req.Password, req.Country, clientAddr(c.Request()), limited); err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]string{"username": req.Username})
}

// registerDevice handles POST /v1/devices. Once the registration is
// committed, the account's library document is created on the relay if
// missing (ensureLibrary).
func (s *Server) registerDevice(c echo.Context) error {
	var req api.RegisterRequest
	if err := DecodeJSON(c, s.opts.maxBody, &req); err != nil {
		return err
	}
	dev, tok, lib, err := s.acc.register(c.Request().Context(), &req, clientAddr(c.Request()))
	if err != nil {
		return err
	}
	cert, err := s.issueCert(dev)
	if err != nil {
		return err
	}
	s.log.Info("device registered", "device", dev.ID, "user", dev.User)
	s.ensureLibrary(c.Request().Context(), dev.User, lib)
	return c.JSON(http.StatusCreated, api.RegisterResponse{DeviceID: dev.ID, Token: tok, CatalogKey: s.catalogPub(), Cert: cert, Library: lib.String()})
}

// meResponse is the body of GET /v1/me.
type meResponse struct {
	Device       Device `json:"device"`
	Subscription string `json:"subscription"`
	// Library is the account's library document id (bs58check).
	Library string `json:"library"`
}

// me handles GET /v1/me: the calling device and its account's state.
// It also creates the library document if the relay lacks it
// (ensureLibrary), for accounts registered before the relay did so.
func (s *Server) me(c echo.Context) error {
	dev, _ := DeviceFrom(c)
	acct, err := s.accountOf(c.Request().Context(), dev)
	if err != nil {
		return err
	}
	lib, err := s.acc.library(c.Request().Context(), dev.User)
	if err != nil {
		return err
	}
	s.ensureLibrary(c.Request().Context(), dev.User, lib)
	return c.JSON(http.StatusOK, meResponse{Device: dev, Subscription: acct.Subscription, Library: lib.String()})
}

// accountOf loads the account of an authenticated device. An account
// removed since the device registered is ErrUnauthorized.
func (s *Server) accountOf(ctx context.Context, dev Device) (Account, error) {
	acct, err := s.acc.account(ctx, string(dev.User))
	if errors.Is(err, store.ErrNotFound) {
		return acct, fmt.Errorf("%w: account removed", ErrUnauthorized)
	}
	return acct, err
}

// catalogKey handles GET /v1/catalog/key.
func (s *Server) catalogKey(c echo.Context) error {
	return c.JSON(http.StatusOK, api.CatalogKeyResponse{Key: s.catalogPub()})
}

// track handles GET /v1/tracks/:id (cached: metacache.go).
func (s *Server) track(c echo.Context) error { return s.serveMeta(c, metaTrack, s.loadTrack) }

// tracks handles POST /v1/tracks/batch: the metadata of 1 to
// api.MaxTracksBatch tracks in one answer, in the request's order, null
// for an id the catalog does not hold (GET /v1/tracks/:id's 404). A
// device playing a long playlist asks for its entries this way instead of
// one request each.
func (s *Server) tracks(c echo.Context) error {
	var req api.TracksRequest
	if err := DecodeJSON(c, s.opts.maxBody, &req); err != nil {
		return err
	}
	if len(req.IDs) == 0 {
		return fmt.Errorf("%w: no track ids", ErrBadRequest)
	}
	if len(req.IDs) > api.MaxTracksBatch {
		return fmt.Errorf("%w: %d track ids, at most %d", ErrTooLarge, len(req.IDs), api.MaxTracksBatch)
	}
	ctx := c.Request().Context()
	out := api.TracksResponse{Tracks: make([]*model.Track, len(req.IDs))}
	for i, id := range req.IDs {
		t, err := s.cat.Track(ctx, id)
		switch {
		case err == nil:
			out.Tracks[i] = &t
		case !errors.Is(err, catalog.ErrNotFound):
			return fmt.Errorf("read track %d of the batch: %w", i, err)
		}
	}
	return c.JSON(http.StatusOK, out)
}

// album handles GET /v1/albums/:id: the album and its tracks in album
// order (cached: metacache.go).
func (s *Server) album(c echo.Context) error { return s.serveMeta(c, metaAlbum, s.loadAlbum) }

// artistResponse is the body of GET /v1/artists/:id.
type artistResponse struct {
	Artist model.Artist  `json:"artist"`
	Albums []model.Album `json:"albums"`
}

// artist handles GET /v1/artists/:id: the artist and its albums (cached:
// metacache.go).
func (s *Server) artist(c echo.Context) error { return s.serveMeta(c, metaArtist, s.loadArtist) }

package relay

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/store"
)

// streamKeyRequest is the body of POST /v1/keys/stream.
type streamKeyRequest struct {
	Track model.TrackID `json:"track"`
	Tier  string        `json:"tier"`
}

// StreamKeyResponse is the body of a successful POST /v1/keys/stream.
// Wrapped is the (track, tier) content key sealed with HPKE to the calling
// device's registered X25519 key (crypto.WrapContentKey; the HPKE info
// binds track and tier). ServerTime is the relay's clock, for the device's
// trusted-time bookkeeping.
type StreamKeyResponse struct {
	Track      model.TrackID `json:"track"`
	Tier       model.Tier    `json:"tier"`
	Wrapped    []byte        `json:"wrapped"`
	ServerTime time.Time     `json:"server_time"`
}

// streamKey handles POST /v1/keys/stream: it checks the account's
// subscription, then seals the content key to the device.
func (s *Server) streamKey(c echo.Context) error {
	var req streamKeyRequest
	if err := decodeJSON(c, s.opts.maxBody, &req); err != nil {
		return err
	}
	tier, err := model.ParseTier(req.Tier)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	ctx := c.Request().Context()
	dev, _ := DeviceFrom(c)
	acct, err := s.acc.account(ctx, string(dev.User))
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: account removed", ErrUnauthorized)
	}
	if err != nil {
		return err
	}
	if acct.Subscription != SubscriptionActive {
		return fmt.Errorf("%w: subscription is %s", ErrNoSubscription, acct.Subscription)
	}
	key, err := s.cat.ContentKey(ctx, req.Track, tier)
	if err != nil {
		return err
	}
	wrapped, err := crypto.WrapContentKey(dev.HPKEPub, crypto.StreamKeyInfo(req.Track, tier), key)
	if err != nil {
		return fmt.Errorf("wrap key for device %s: %w", dev.ID, err)
	}
	return c.JSON(http.StatusOK, StreamKeyResponse{Track: req.Track, Tier: tier, Wrapped: wrapped, ServerTime: s.now().UTC()})
}

package relay

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
)

// streamKey handles POST /v1/keys/stream (api.StreamKeyRequest →
// api.StreamKeyResponse): it checks the account's
// subscription and the album's embargo (by the relay's clock: 403 before
// its release time), then seals the content key to the device.
func (s *Server) streamKey(c echo.Context) error {
	var req api.StreamKeyRequest
	if err := DecodeJSON(c, s.opts.maxBody, &req); err != nil {
		return err
	}
	tier, err := model.ParseTier(string(req.Tier))
	if err != nil {
		return fmt.Errorf("%w: tier %s", ErrBadRequest, QuoteInput(string(req.Tier)))
	}
	ctx := c.Request().Context()
	dev, _ := DeviceFrom(c)
	acct, err := s.accountOf(ctx, dev)
	if err != nil {
		return err
	}
	if acct.Subscription != SubscriptionActive {
		return fmt.Errorf("%w: subscription is %s", ErrNoSubscription, acct.Subscription)
	}
	key, err := s.cat.ContentKeyAt(ctx, req.Track, tier, s.now())
	if err != nil {
		return err
	}
	wrapped, err := crypto.WrapContentKey(dev.HPKEPub, crypto.StreamKeyInfo(req.Track, tier), key)
	if err != nil {
		return fmt.Errorf("wrap key for device %s: %w", dev.ID, err)
	}
	return c.JSON(http.StatusOK, api.StreamKeyResponse{Track: req.Track, Tier: tier, Wrapped: wrapped, ServerTime: s.now().UTC()})
}

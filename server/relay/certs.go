package relay

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
)

// issueCert signs dev's device certificate (crypto.IssueDeviceCert: user, device
// id and Ed25519 key, issued now) with the catalog key. Devices present
// it to each other for LAN sync (docs/ARCHITECTURE.md §6). The returned
// envelope is owned by the caller.
func (s *Server) issueCert(dev Device) ([]byte, error) {
	cert, err := crypto.IssueDeviceCert(s.signer, dev.User, dev.SignPub, s.now())
	if err != nil {
		return nil, fmt.Errorf("issue device certificate: %w", err)
	}
	return cert, nil
}

// deviceCert handles GET /v1/devices/cert: a freshly signed certificate
// for the calling device.
func (s *Server) deviceCert(c echo.Context) error {
	dev, _ := DeviceFrom(c)
	cert, err := s.issueCert(dev)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, api.CertResponse{Cert: cert})
}

// lanKey returns the LAN key of users a and b in epoch
// (docs/ARCHITECTURE.md §6): an HMAC, under a secret derived from the
// catalog key, of the two names in order and the epoch number, so both
// accounts' devices get the same key, every relay sharing the catalog
// key gives the same, none is stored, and each epoch has its own.
func (s *Server) lanKey(a, b model.UserID, epoch int64) []byte {
	if a > b {
		a, b = b, a
	}
	secret := hmac.New(sha256.New, s.signer.Seed())
	secret.Write([]byte("segue-lan-secret-v2"))
	m := hmac.New(sha256.New, secret.Sum(nil))
	m.Write([]byte(a))
	m.Write([]byte{0})
	m.Write([]byte(b))
	m.Write([]byte{0})
	m.Write(binary.BigEndian.AppendUint64(nil, uint64(epoch)))
	return m.Sum(nil)
}

// lanKeyPair appends to keys the LAN keys of the caller me and user u:
// the current epoch's (WithLANKeyEpoch) and the previous one's.
func (s *Server) lanKeyPair(keys []api.LANKey, me, u model.UserID, epoch int64) []api.LANKey {
	return append(keys,
		api.LANKey{User: u, Key: s.lanKey(me, u, epoch), Epoch: epoch},
		api.LANKey{User: u, Key: s.lanKey(me, u, epoch-1), Epoch: epoch - 1})
}

// lanKeys handles POST /v1/devices/lan-keys: the LAN keys of the
// caller's own devices, then those it shares with each user asked for,
// each of the current epoch and of the previous one (WithLANKeyEpoch). The
// relay gives a key only to the accounts it names; whether a device
// uses the key it shares with another user is its own decision (the
// playlists it holds), so asking for anyone's reveals nothing.
func (s *Server) lanKeys(c echo.Context) error {
	dev, _ := DeviceFrom(c)
	var req api.LANKeysRequest
	if err := DecodeJSON(c, s.opts.maxBody, &req); err != nil {
		return err
	}
	if len(req.With) > api.MaxLANKeyUsers {
		return fmt.Errorf("%w: %d users, at most %d", ErrTooLarge, len(req.With), api.MaxLANKeyUsers)
	}
	epoch := s.now().UnixMilli() / s.opts.lanEpoch.Milliseconds()
	out := api.LANKeysResponse{Keys: s.lanKeyPair(nil, dev.User, dev.User, epoch)}
	seen := map[model.UserID]bool{dev.User: true}
	for _, u := range req.With {
		if !model.ValidUserID(u) {
			return fmt.Errorf("%w: user %q", ErrBadRequest, u)
		}
		if !seen[u] {
			seen[u] = true
			out.Keys = s.lanKeyPair(out.Keys, dev.User, u, epoch)
		}
	}
	return c.JSON(http.StatusOK, out)
}

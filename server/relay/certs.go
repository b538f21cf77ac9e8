package relay

import (
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/core/api"
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

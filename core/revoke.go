package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/store"
)

// revokedPrefix holds the relay's revocation notices of the account's
// other devices, cfg/revoked/<device id> → the signed notice.
const revokedPrefix = "cfg/revoked/"

// revocationTimeout bounds handling one revocation notice (reading the
// pinned catalog key, storing the notice).
const revocationTimeout = 5 * time.Second

// CertRefreshAge is how old (by the engine's clock) the stored device
// certificate may get before StartSync replaces it with a fresh one from
// the relay: well within p2p.DefaultCertMaxAge, after which LAN peers
// refuse it, so a device that reaches the relay now and then never
// presents an expired certificate.
const CertRefreshAge = 7 * 24 * time.Hour

// refreshDeviceCert replaces the stored device certificate with a fresh
// one (GET /v1/devices/cert) when it is older than CertRefreshAge. With
// no certificate stored it does nothing (DeviceCert fetches one on
// demand).
func (e *Engine) refreshDeviceCert(ctx context.Context) error {
	cert, err := e.st.Get(ctx, deviceCertKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read device certificate: %w", err)
	}
	ck, err := e.catalogKey(ctx)
	if err != nil {
		return err
	}
	if c, err := crypto.VerifyDeviceCert(ck, cert, e.id.SignPublic()); err == nil && e.opts.clock.Now().Sub(time.UnixMilli(c.Issued)) < CertRefreshAge {
		return nil
	}
	var out api.CertResponse
	if err := e.call(ctx, "GET", "/v1/devices/cert", nil, &out, true); err != nil {
		return fmt.Errorf("fetch device certificate: %w", err)
	}
	return e.saveDeviceCert(ctx, out.Cert)
}

// revocation handles a revocation notice from the relay (client
// WithRevocationHandler): one verified under the pinned catalog key and
// naming another device of this user is stored, and the LAN node, if
// running, ends and refuses sessions with that device at once. Anything
// else is logged and dropped.
func (d *Docs) revocation(notice []byte) {
	ctx, cancel := context.WithTimeout(context.Background(), revocationTimeout)
	defer cancel()
	if err := d.applyRevocation(ctx, notice); err != nil {
		d.e.log.Warn("core: revocation notice refused", "err", err)
	}
}

func (d *Docs) applyRevocation(ctx context.Context, notice []byte) error {
	ck, err := d.e.catalogKey(ctx)
	if err != nil {
		return err
	}
	r, err := crypto.VerifyRevocation(ck, notice)
	if err != nil {
		return err
	}
	if r.User != d.user || r.Device == d.e.DeviceID() {
		return fmt.Errorf("notice for device %s of %s, this is %s of %s", r.Device, r.User, d.e.DeviceID(), d.user)
	}
	if err := d.e.st.Set(ctx, []byte(revokedPrefix+string(r.Device)), notice); err != nil {
		return fmt.Errorf("store revocation: %w", err)
	}
	d.mu.Lock()
	n := d.node
	d.mu.Unlock()
	if n != nil {
		n.Revoke(r.Device)
	}
	d.e.log.Info("core: device revoked by the relay", "device", r.Device)
	return nil
}

// revokedDevices lists the devices whose revocation notices are stored.
func (d *Docs) revokedDevices(ctx context.Context) ([]model.DeviceID, error) {
	var out []model.DeviceID
	err := d.e.st.Iterate(ctx, []byte(revokedPrefix), false, func(k, _ []byte) error {
		out = append(out, model.DeviceID(k[len(revokedPrefix):]))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("core: read revocations: %w", err)
	}
	return out, nil
}

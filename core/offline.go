package core

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
)

// Offline playback errors (package download's sentinels, re-exported).
var (
	// ErrLicenseExpired: the offline license ran out (expiry plus grace,
	// by trusted time): connect to verify your subscription.
	ErrLicenseExpired = download.ErrLicenseExpired
	// ErrLicenseRevoked: this device was deregistered.
	ErrLicenseRevoked = download.ErrRevoked
)

// offlineModeReason is the pause reason downloads report in offline mode.
const offlineModeReason = "offline mode"

// SetOfflineMode turns offline mode on or off. In offline mode the engine
// never asks the relay for keys: downloaded tracks play from their
// licenses, others fail at once with an error matching ErrOffline; and
// downloads pause (blobs in flight are abandoned, Status.Paused is
// "offline mode") until offline mode is turned off, when they resume;
// and the player publishes no friend activity (PublishActivity).
//
// Offline mode is an engine setting held in memory (off at Open); it
// survives CloseDownloads.
func (e *Engine) SetOfflineMode(on bool) {
	st := &e.offline
	st.mu.Lock()
	st.offlineMode = on
	dl := st.dl
	st.mu.Unlock()
	if dl != nil {
		reason := ""
		if on {
			reason = offlineModeReason
		}
		dl.SetPaused(reason)
	}
}

// OfflineMode reports whether offline mode is on.
func (e *Engine) OfflineMode() bool {
	st := &e.offline
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.offlineMode
}

// errOfflineMiss marks a track asked for in offline mode that no download
// holds: retrying cannot play it until the app turns offline mode off, so
// the player skips it at once (classify) instead of retrying it as a
// stall.
var errOfflineMiss = errors.New("not downloaded (offline mode)")

// offlineKey is the content-key hook of OpenTrack: a completely
// downloaded (track, tier) always takes its key from the offline license
// (trusted-time checks included, no network); in offline mode any other
// track fails fast with ErrOffline. handled is false when the relay
// should be asked.
//
// A manager that CloseDownloads closed under the call (download.ErrClosed)
// is let go and the question asked again of what replaced it: closing
// sets the engine's manager to nil, or to a new one, before the next
// read of it, so the question is asked at most three times.
func (e *Engine) offlineKey(ctx context.Context, track model.TrackID, tier model.Tier) (k crypto.ContentKey, handled bool, err error) {
	st := &e.offline
	var mode bool
	for try := 0; ; try++ {
		st.mu.Lock()
		dl := st.dl
		mode = st.offlineMode
		st.mu.Unlock()
		if dl == nil || !dl.Downloaded(track, tier) {
			break
		}
		k, err = dl.ContentKey(ctx, track, tier)
		if !errors.Is(err, download.ErrClosed) || try == 2 {
			return k, true, err
		}
	}
	if mode {
		return k, true, fmt.Errorf("%w: %w: %s/%s", ErrOffline, errOfflineMiss, track, tier)
	}
	return k, false, nil
}

// OfflineDevices returns the devices of this device's account that hold
// an offline slot (their first license took it), oldest first, and the
// account's limit (GET /v1/licenses/devices): what a user at the limit
// picks from to Deregister.
func (e *Engine) OfflineDevices(ctx context.Context) (api.OfflineDevicesResponse, error) {
	ctx, done, err := e.calls.enter(ctx)
	if err != nil {
		return api.OfflineDevicesResponse{}, err
	}
	defer done()
	var out api.OfflineDevicesResponse
	if err := e.call(ctx, "GET", "/v1/licenses/devices", nil, &out, true); err != nil {
		return api.OfflineDevicesResponse{}, fmt.Errorf("core: offline devices: %w", err)
	}
	return out, nil
}

// ErrBadDeviceID: Deregister was given an id no device can have.
var ErrBadDeviceID = errors.New("core: bad device id")

// Deregister removes device id of this device's account at the relay
// (DELETE /v1/devices/{id}; this device too): its tokens stop working,
// its offline slot is freed, and its licenses are void once it learns
// it (its next renewal, or its next request: checkRevocation).
func (e *Engine) Deregister(ctx context.Context, id model.DeviceID) error {
	if !model.ValidID(string(id)) {
		return fmt.Errorf("%w: %q", ErrBadDeviceID, id)
	}
	ctx, done, err := e.calls.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	if err := e.call(ctx, "DELETE", "/v1/devices/"+url.PathEscape(string(id)), nil, nil, true); err != nil {
		return fmt.Errorf("core: deregister %s: %w", id, err)
	}
	return nil
}

// revocationCheck is the state of checkRevocation: the token it last
// checked for (a refused token is checked once).
type revocationCheck struct {
	mu    sync.Mutex
	token string
}

// checkRevocation runs when the relay refused the device's token (401).
// That answer is unsigned, so it deletes nothing by itself: with
// downloads open, the engine renews their licenses at once with a
// signed request (download.Manager.Renew), whose signed answer tells a
// deregistered device so and deletes its offline licenses — downloaded
// tracks then fail with ErrLicenseRevoked — instead of at the next
// scheduled renewal, weeks later. It runs in the background as an
// admitted call (Close cancels it), once per refused token; a renewal
// that got no answer is tried again at the next refusal.
func (e *Engine) checkRevocation() {
	tok := e.Token()
	rc := &e.revoke
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if tok == "" || tok == rc.token {
		return
	}
	ctx, done, err := e.calls.enter(context.Background())
	if err != nil {
		return
	}
	rc.token = tok
	go func() {
		defer done()
		dl := e.Downloads()
		if dl == nil {
			return
		}
		err := dl.Renew(ctx)
		switch {
		case errors.Is(err, ErrLicenseRevoked):
			e.log.Warn("core: the relay refused this device: it was deregistered, its offline licenses are deleted")
		case err != nil && !errors.Is(err, download.ErrRenewalRefused):
			e.log.Warn("core: the relay refused this device; revocation check failed", "err", err)
			rc.mu.Lock()
			rc.token = ""
			rc.mu.Unlock()
		}
	}()
}

// headerSink is implemented by relay answers that also need response
// headers; Engine.call hands them the headers of a successful answer.
type headerSink interface{ takeHeader(h http.Header) }

// streamKeyAnswer is the answer of POST /v1/keys/stream with its signed
// statement header.
type streamKeyAnswer struct {
	api.StreamKeyResponse
	statement string
}

func (a *streamKeyAnswer) takeHeader(h http.Header) { a.statement = h.Get(api.StatementHeader) }

// statementNonce returns a fresh api.NonceSize-byte nonce for a
// statement to echo.
func statementNonce() []byte {
	n := make([]byte, api.NonceSize)
	_, _ = rand.Read(n) // crypto/rand.Read never fails (Go ≥ 1.24)
	return n
}

// observeStatement feeds the signed server time of a stream-key answer
// to the downloads' trusted clock, when downloads are open. A missing,
// unsigned, tampered or replayed statement (another device or nonce) is
// ignored and logged: it never moves the clock.
func (e *Engine) observeStatement(ctx context.Context, header string, nonce []byte) {
	if header == "" {
		return
	}
	dl := e.Downloads()
	if dl == nil {
		return
	}
	if err := dl.ObserveStatement(ctx, header, nonce); err != nil {
		e.log.Warn("core: stream key statement ignored", "err", err)
	}
}

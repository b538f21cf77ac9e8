package license

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/userlimit"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/store"
)

// Errors of the license server. Handlers wrap them in relay errors so the
// relay's error handler maps them to statuses.
var (
	// ErrNoSubscription: the account's subscription is not active (403).
	ErrNoSubscription = errors.New("license: subscription not active")
	// ErrDeviceLimit: the account has reached its offline-device limit (403).
	ErrDeviceLimit = errors.New("license: offline device limit reached")
	// ErrRevoked: the device was deregistered (403).
	ErrRevoked = errors.New("license: device deregistered")
	// ErrBadState: an unknown subscription state (400).
	ErrBadState = errors.New("license: unknown subscription state")
)

// Server is the relay's license server: it issues and renews offline
// licenses, counts offline devices per account, deregisters devices and
// lets an operator set subscription states. It keeps its records in the
// relay's store under lic/… (docs/ARCHITECTURE.md §5) and reads and
// updates the relay's acct/ and dev/ records. Safe for concurrent use.
type Server struct {
	st     store.Store
	cat    *catalog.Catalog
	signer ed25519.PrivateKey
	opts   Options
	log    *slog.Logger
	// revoked is told about every deregistered device once the deletion
	// is committed (relay.Server.DeviceRevoked, set by Mount).
	revoked func(ctx context.Context, user model.UserID, dev model.DeviceID)
	// entries is each device's bucket of licensed entries
	// (Options.WithDeviceEntriesPerDay); nil without a limit.
	entries *userlimit.Limiter
}

// entryDevices bounds the devices whose entry buckets are kept; the least
// recently seen is forgotten first (its bucket starts full again).
const entryDevices = 1 << 17

// ErrEntryBudget: a device asked for more license entries than its daily
// budget (Options.WithDeviceEntriesPerDay) has left (429 with
// Retry-After).
var ErrEntryBudget = fmt.Errorf("license: too many licensed tracks for this device today: %w", relay.ErrTooManyRequests)

// charge takes n entries from dev's budget: ErrEntryBudget with the wait
// when too few are left, relay.ErrTooLarge when n exceeds the bucket.
func (s *Server) charge(dev model.DeviceID, n int) error {
	if s.entries == nil || n == 0 {
		return nil
	}
	if n > s.entries.Burst() {
		return fmt.Errorf("%w: %d tracks, more than the %d one device may be licensed per day", relay.ErrTooLarge, n, s.entries.Burst())
	}
	ok, wait := s.entries.AllowN(string(dev), s.opts.now(), n)
	if !ok {
		return relay.RetryLater(fmt.Errorf("%w: %d asked", ErrEntryBudget, n), wait)
	}
	return nil
}

// New returns a license server over the relay's store and catalog,
// signing with the catalog key (the key devices verify manifests with).
// It does not own st or cat.
func New(st store.Store, cat *catalog.Catalog, signer ed25519.PrivateKey, opts Options) *Server {
	s := &Server{st: st, cat: cat, signer: signer, opts: opts, log: opts.logger}
	if opts.entries > 0 {
		s.entries = userlimit.New(24*time.Hour/time.Duration(opts.entries), opts.entries, entryDevices)
	}
	return s
}

// NewForDataDir is New over an open relay data directory.
func NewForDataDir(dd *catalog.DataDir, opts Options) *Server {
	return New(dd.Store, dd.Catalog, dd.Signer, opts)
}

// Mount registers the license routes on r (call before serving), and
// signs the relay's stream-key answers (signStreamKeys):
//
//	POST   /v1/licenses                       issue (device token)
//	POST   /v1/licenses/renew                 renew all (device signature)
//	DELETE /v1/devices/{id}                   deregister (device token, same account)
//	PUT    /v1/admin/subscriptions/{user}     set subscription (admin token)
//	GET    /v1/admin/subscriptions/{user}     read subscription (admin token)
//
// Deregistering a device also ends its live sync sessions through
// r.DeviceRevoked.
func (s *Server) Mount(r *relay.Server) {
	s.revoked = r.DeviceRevoked
	r.Mount(func(v1 *relay.DeviceRoutes) {
		v1.POST("/licenses", s.issue)
		v1.GET("/licenses/devices", s.offlineDevices)
		v1.DELETE("/devices/:id", s.deregister)
	})
	e := r.Echo()
	e.Use(s.signStreamKeys)
	e.POST("/v1/licenses/renew", s.renew)
	admin := r.AdminGate(s.opts.adminToken)
	e.PUT("/v1/admin/subscriptions/:user", s.setSubscription, admin)
	e.GET("/v1/admin/subscriptions/:user", s.getSubscription, admin)
}

// Store keys (docs/ARCHITECTURE.md §5).
func licKey(id string) []byte                        { return []byte("lic/l/" + id) }
func devLicPrefix(dev model.DeviceID) []byte         { return []byte("lic/d/" + string(dev) + "/") }
func devLicKey(dev model.DeviceID, id string) []byte { return append(devLicPrefix(dev), id...) }
func offPrefix(user model.UserID) []byte             { return []byte("lic/a/" + string(user) + "/") }
func offKey(user model.UserID, dev model.DeviceID) []byte {
	return append(offPrefix(user), dev...)
}
func goneKey(dev model.DeviceID) []byte { return []byte("lic/gone/" + string(dev)) }

// slotsKey is the account's offline-slot guard (lic/n/<user>): every
// transaction that takes or frees an offline slot of user reads and writes
// it, so two concurrent grants that both counted the same free slot
// conflict in Badger and the later one re-runs and counts again. Without
// it each would add its own lic/a/ key unseen by the other (a phantom the
// prefix scan cannot detect) and the account could exceed its limit.
func slotsKey(user model.UserID) []byte { return []byte("lic/n/" + string(user)) }

// touchSlots reads and rewrites user's slot guard inside tx (see slotsKey).
func touchSlots(tx store.Txn, user model.UserID, now time.Time) error {
	if _, err := tx.Get(slotsKey(user)); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return tx.Set(slotsKey(user), binaryTime(now))
}

// record is a live license as the relay remembers it (lic/l/<id>).
type record struct {
	Device  string      `cbor:"1,keyasint"`
	User    string      `cbor:"2,keyasint"`
	Issued  int64       `cbor:"3,keyasint"` // Unix ms
	Expires int64       `cbor:"4,keyasint"`
	Entries [][2]string `cbor:"5,keyasint"` // (track, tier)
}

// tombstone remembers a deregistered device (lic/gone/<id>) so its
// renewal attempts get a signed revocation.
type tombstone struct {
	User    string `cbor:"1,keyasint"`
	SignPub []byte `cbor:"2,keyasint"`
	At      int64  `cbor:"3,keyasint"`
}

// statement signs st and sets it as the api.StatementHeader of c's response.
func (s *Server) statement(c echo.Context, dev model.DeviceID, status string, nonce []byte) {
	if len(nonce) > api.NonceSize {
		nonce = nil
	}
	payload, err := cborEnc.Marshal(api.Statement{Time: s.opts.now().UnixMilli(), Device: string(dev), Status: status, Nonce: nonce})
	if err == nil {
		var env []byte
		if env, err = crypto.Sign(s.signer, api.StatementDomain, payload); err == nil {
			c.Response().Header().Set(api.StatementHeader, base64.RawURLEncoding.EncodeToString(env))
			return
		}
	}
	s.log.Error("license: sign statement", "err", err)
}

// streamKeyPath is the relay's stream-key route, whose successful
// answers the license server signs (signStreamKeys).
const streamKeyPath = "/v1/keys/stream"

// signStreamKeys is middleware that gives every successful answer of
// POST /v1/keys/stream the same signed statement header as the license
// routes (status ok, the relay's time, the calling device, and the
// request's nonce from the optional query parameter nonce, base64url
// without padding of at most api.NonceSize bytes; any other is
// ErrBadRequest, 400), so devices learn trusted time while streaming too.
// The header is added just before the status is written, when the
// relay's Auth has identified the device; refusals carry none.
func (s *Server) signStreamKeys(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if c.Path() != streamKeyPath || c.Request().Method != http.MethodPost {
			return next(c)
		}
		nonce, err := base64.RawURLEncoding.DecodeString(c.QueryParam("nonce"))
		if err != nil || len(nonce) > api.NonceSize {
			return fmt.Errorf("%w: nonce %s: want base64url without padding of at most %d bytes", relay.ErrBadRequest, relay.QuoteInput(c.QueryParam("nonce")), api.NonceSize)
		}
		res := c.Response()
		res.Before(func() {
			dev, ok := relay.DeviceFrom(c)
			if ok && res.Status >= 200 && res.Status < 300 {
				s.statement(c, dev.ID, api.StatusOK, nonce)
			}
		})
		return next(c)
	}
}

// decode reads a JSON body of at most the configured size.
func (s *Server) decode(c echo.Context, v any) error {
	return relay.DecodeJSON(c, s.opts.maxBody, v)
}

// account reads the relay account of user.
func (s *Server) account(ctx context.Context, user model.UserID) (relay.Account, error) {
	var a relay.Account
	b, err := s.st.Get(ctx, relay.AccountKey(user))
	if errors.Is(err, store.ErrNotFound) {
		return a, fmt.Errorf("%w: account removed", relay.ErrUnauthorized)
	}
	if err != nil {
		return a, fmt.Errorf("read account: %w", err)
	}
	if err := relay.DecodeRecord(b, &a); err != nil {
		return a, fmt.Errorf("decode account %s: %w", user, err)
	}
	return a, nil
}

// subscriptionStatus maps a subscription state to a statement status.
func subscriptionStatus(state string) string {
	switch state {
	case SubscriptionActive:
		return api.StatusOK
	case SubscriptionExpired:
		return api.StatusSubscriptionExpired
	case SubscriptionCancelled:
		return api.StatusSubscriptionCancelled
	}
	return api.StatusSubscriptionInactive
}

// refuse answers 403 with a signed statement carrying status.
func (s *Server) refuse(c echo.Context, dev model.DeviceID, status string, nonce []byte, err error) error {
	s.statement(c, dev, status, nonce)
	return fmt.Errorf("%w: %w", relay.ErrForbidden, err)
}

// issue handles POST /v1/licenses.
func (s *Server) issue(c echo.Context) error {
	ctx := c.Request().Context()
	dev, _ := relay.DeviceFrom(c)
	var req api.IssueRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	if len(req.Nonce) > api.NonceSize {
		return fmt.Errorf("%w: nonce longer than %d bytes", relay.ErrBadRequest, api.NonceSize)
	}
	if !req.Tier.Valid() {
		return fmt.Errorf("%w: tier %s", relay.ErrBadRequest, relay.QuoteInput(string(req.Tier)))
	}
	acct, err := s.account(ctx, dev.User)
	if err != nil {
		return err
	}
	if st := subscriptionStatus(acct.Subscription); st != api.StatusOK {
		return s.refuse(c, dev.ID, st, req.Nonce, fmt.Errorf("%w: %s", ErrNoSubscription, acct.Subscription))
	}
	tracks, err := s.requestTracks(ctx, req)
	if err != nil {
		return err
	}
	if err := s.charge(dev.ID, len(tracks)); err != nil {
		return err
	}
	keys := make([]crypto.LicenseKey, 0, len(tracks))
	var unavailable []api.Unavailable
	issuer := s.cat.KeysAt(s.opts.now())
	for _, t := range tracks {
		k, err := issuer.ContentKey(ctx, t, req.Tier)
		if reason := unavailableReason(err); req.PerTrack && reason != "" {
			unavailable = append(unavailable, api.Unavailable{Track: t, Reason: reason})
			continue
		}
		if err != nil {
			return fmt.Errorf("content key: %w", err) // the catalog's error names the track, quoted (safetext.Quote)
		}
		keys = append(keys, crypto.LicenseKey{TrackID: t, Tier: req.Tier, Key: k})
	}
	if len(keys) == 0 && len(unavailable) == 0 {
		return fmt.Errorf("%w: no tracks", relay.ErrBadRequest)
	}
	if !req.PerTrack {
		return s.answerGrant(c, dev, keys, nil, req.Nonce)
	}
	ans := api.IssueAnswer{Unavailable: unavailable}
	if len(keys) > 0 {
		if ans.License, err = s.checkedGrant(c, dev, keys, nil, req.Nonce); err != nil {
			return err
		}
	}
	b, err := cborEnc.Marshal(ans)
	if err != nil {
		return fmt.Errorf("encode issue answer: %w", err)
	}
	s.statement(c, dev.ID, api.StatusOK, req.Nonce)
	return c.Blob(http.StatusOK, api.IssueAnswerType, b)
}

// requestTracks returns the distinct tracks req names, its tracks then
// those of its albums (each album read once), in order: at most
// crypto.MaxLicenseEntries, the most one license holds, else ErrTooLarge
// (413) before any content key is looked up. A request repeating one
// album 45,000 times read it 45,000 times, and one naming 70,000 unknown
// tracks looked each up and answered them all as unavailable.
func (s *Server) requestTracks(ctx context.Context, req api.IssueRequest) ([]model.TrackID, error) {
	tracks := make([]model.TrackID, 0, min(len(req.Tracks), crypto.MaxLicenseEntries))
	seen := make(map[model.TrackID]bool, cap(tracks))
	add := func(ts []model.TrackID) error {
		for _, t := range ts {
			if seen[t] {
				continue
			}
			if len(tracks) == crypto.MaxLicenseEntries {
				return fmt.Errorf("%w: more than %d distinct tracks, the most one license holds", relay.ErrTooLarge, crypto.MaxLicenseEntries)
			}
			seen[t] = true
			tracks = append(tracks, t)
		}
		return nil
	}
	if err := add(req.Tracks); err != nil {
		return nil, err
	}
	albums := make(map[model.AlbumID]bool, len(req.Albums))
	for _, a := range req.Albums {
		if albums[a] {
			continue
		}
		albums[a] = true
		al, err := s.cat.Album(ctx, a)
		if err != nil {
			return nil, fmt.Errorf("read album: %w", err) // the catalog's error names it, quoted (safetext.Quote)
		}
		if err := add(al.TrackIDs); err != nil {
			return nil, err
		}
	}
	return tracks, nil
}

// unavailableReason is the api.Unavailable reason of a content-key
// lookup's error when it says the catalog cannot license the track (not
// found, embargoed), or "" for any other outcome: success, or a failure
// of the relay itself, which fails the request.
func unavailableReason(err error) string {
	switch {
	case errors.Is(err, catalog.ErrNotFound):
		return api.UnavailableNotFound
	case errors.Is(err, catalog.ErrEmbargoed):
		return api.UnavailableEmbargoed
	}
	return ""
}

// answerGrant answers an issue or renew request with a license of keys
// for dev (see checkedGrant), with a signed statement echoing nonce.
func (s *Server) answerGrant(c echo.Context, dev relay.Device, keys []crypto.LicenseKey, supersede []string, nonce []byte) error {
	env, err := s.checkedGrant(c, dev, keys, supersede, nonce)
	if err != nil {
		return err
	}
	s.statement(c, dev.ID, api.StatusOK, nonce)
	return c.Blob(http.StatusOK, "application/cbor", env)
}

// checkedGrant returns a license of keys for dev (see grant): too many
// entries are a bad request, the account's device limit a refusal (its
// signed statement set on c).
func (s *Server) checkedGrant(c echo.Context, dev relay.Device, keys []crypto.LicenseKey, supersede []string, nonce []byte) ([]byte, error) {
	if len(keys) > crypto.MaxLicenseEntries {
		return nil, fmt.Errorf("%w: %d entries exceed %d", relay.ErrBadRequest, len(keys), crypto.MaxLicenseEntries)
	}
	env, err := s.grant(c.Request().Context(), dev, keys, supersede)
	if errors.Is(err, ErrDeviceLimit) {
		return nil, s.refuse(c, dev.ID, api.StatusDeviceLimit, nonce, err)
	}
	return env, err
}

// grant signs a license of keys for dev and records it in one update:
// the device joins the account's offline devices (within the limit), the
// superseded licenses are deleted.
func (s *Server) grant(ctx context.Context, dev relay.Device, keys []crypto.LicenseKey, supersede []string) ([]byte, error) {
	var raw [16]byte
	if _, err := io.ReadFull(s.opts.rand, raw[:]); err != nil {
		return nil, fmt.Errorf("license id: %w", err)
	}
	id := "li" + hex.EncodeToString(raw[:])
	now := s.opts.now().UTC()
	req := crypto.LicenseRequest{
		ID: id, User: dev.User, Device: dev.ID, Issued: now, Expires: now.Add(s.opts.validity),
		Grace: s.opts.grace, ServerTime: now, Keys: keys,
	}
	env, err := crypto.IssueLicense(s.opts.rand, s.signer, dev.HPKEPub, req)
	if err != nil {
		return nil, err
	}
	rec := record{Device: string(dev.ID), User: string(dev.User), Issued: now.UnixMilli(), Expires: req.Expires.UnixMilli()}
	rec.Entries = make([][2]string, len(keys))
	for i, k := range keys {
		rec.Entries[i] = [2]string{string(k.TrackID), string(k.Tier)}
	}
	val, err := cborEnc.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encode license record: %w", err)
	}
	err = s.st.Update(ctx, func(tx store.Txn) error {
		if _, err := tx.Get(offKey(dev.User, dev.ID)); errors.Is(err, store.ErrNotFound) {
			if err := touchSlots(tx, dev.User, now); err != nil {
				return err
			}
			n := 0
			if err := tx.Iterate(offPrefix(dev.User), false, func(k, v []byte) error { n++; return nil }); err != nil {
				return err
			}
			if n >= s.opts.deviceLimit {
				return fmt.Errorf("%w: %d of %d", ErrDeviceLimit, n, s.opts.deviceLimit)
			}
			if err := tx.Set(offKey(dev.User, dev.ID), binaryTime(now)); err != nil {
				return err
			}
		} else if err != nil {
			return err
		}
		for _, old := range supersede {
			if err := tx.Delete(licKey(old)); err != nil {
				return err
			}
			if err := tx.Delete(devLicKey(dev.ID, old)); err != nil {
				return err
			}
		}
		if err := foldRecords(tx, dev.ID, id); err != nil {
			return err
		}
		if err := tx.Set(licKey(id), val); err != nil {
			return err
		}
		return tx.Set(devLicKey(dev.ID, id), nil)
	})
	if err != nil {
		return nil, fmt.Errorf("record license: %w", err)
	}
	s.log.Info("license: issued", "license", id, "device", dev.ID, "entries", len(keys), "renewal", supersede != nil)
	s.recordLicense(dev.ID, id, now, req.Expires, keys)
	return env, nil
}

// MaxDeviceRecords bounds the license records the relay keeps per device
// (lic/d/<device>/…, each license issued until a renewal replaces them
// all): at a grant that finds that many, they are folded into one record
// (the union of their entries, the earliest issue, the latest expiry)
// before the new license is recorded, so a device asking for licenses in
// a loop cannot grow the store without bound (it took 1,200 a second), and
// renewal, which re-licenses every entry of the device's records, still
// covers the same entries.
const MaxDeviceRecords = 256

// foldRecords folds the license records of dev into one, kept under
// "lf" + the id of the license being granted, when it holds
// MaxDeviceRecords or more.
func foldRecords(tx store.Txn, dev model.DeviceID, id string) error {
	prefix := devLicPrefix(dev)
	var ids []string
	if err := tx.Iterate(prefix, false, func(k, _ []byte) error {
		ids = append(ids, string(k[len(prefix):]))
		return nil
	}); err != nil {
		return err
	}
	if len(ids) < MaxDeviceRecords {
		return nil
	}
	var merged record
	seen := map[[2]string]bool{}
	for i, old := range ids {
		b, err := tx.Get(licKey(old))
		if err != nil {
			return fmt.Errorf("read license %s: %w", old, err)
		}
		var rec record
		if err := cborDec.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("decode license %s: %w", old, err)
		}
		if i == 0 {
			merged = record{Device: rec.Device, User: rec.User, Issued: rec.Issued, Expires: rec.Expires}
		}
		merged.Issued, merged.Expires = min(merged.Issued, rec.Issued), max(merged.Expires, rec.Expires)
		for _, e := range rec.Entries {
			if !seen[e] {
				seen[e] = true
				merged.Entries = append(merged.Entries, e)
			}
		}
		if err := tx.Delete(licKey(old)); err != nil {
			return err
		}
		if err := tx.Delete(devLicKey(dev, old)); err != nil {
			return err
		}
	}
	val, err := cborEnc.Marshal(merged)
	if err != nil {
		return fmt.Errorf("encode folded license record: %w", err)
	}
	fid := "lf" + strings.TrimPrefix(id, "li")
	if err := tx.Set(licKey(fid), val); err != nil {
		return err
	}
	return tx.Set(devLicKey(dev, fid), nil)
}

func binaryTime(t time.Time) []byte {
	b, _ := cborEnc.Marshal(t.UnixMilli())
	return b
}

// renew handles POST /v1/licenses/renew: one new license covering every
// live license of the device, or a signed refusal.
func (s *Server) renew(c echo.Context) error {
	ctx := c.Request().Context()
	var req api.RenewRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	if len(req.Nonce) != api.NonceSize {
		return fmt.Errorf("%w: nonce must be %d bytes", relay.ErrBadRequest, api.NonceSize)
	}
	if len(req.Device) == 0 || len(req.Device) > 64 || strings.ContainsRune(string(req.Device), '/') {
		return fmt.Errorf("%w: bad device id", relay.ErrBadRequest)
	}
	msg, err := crypto.RenewMessage(req.Device, req.Nonce, req.LicenseIDs, req.Drop)
	if err != nil {
		return fmt.Errorf("%w: %v", relay.ErrBadRequest, err)
	}
	var dev relay.Device
	b, err := s.st.Get(ctx, relay.DeviceKey(req.Device))
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Deregistered? A tombstone keeps the key to prove it to the device.
		tb, err := s.st.Get(ctx, goneKey(req.Device))
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: unknown device", relay.ErrUnauthorized)
		}
		if err != nil {
			return fmt.Errorf("read tombstone: %w", err)
		}
		var t tombstone
		if err := cborDec.Unmarshal(tb, &t); err != nil {
			return fmt.Errorf("decode tombstone: %w", err)
		}
		if len(t.SignPub) != ed25519.PublicKeySize || !ed25519.Verify(t.SignPub, msg, req.Sig) {
			return fmt.Errorf("%w: bad signature", relay.ErrUnauthorized)
		}
		return s.refuse(c, req.Device, api.StatusRevoked, req.Nonce, ErrRevoked)
	case err != nil:
		return fmt.Errorf("read device: %w", err)
	}
	if err := relay.DecodeRecord(b, &dev); err != nil {
		return fmt.Errorf("decode device: %w", err)
	}
	if len(dev.SignPub) != ed25519.PublicKeySize || !ed25519.Verify(dev.SignPub, msg, req.Sig) {
		return fmt.Errorf("%w: bad signature", relay.ErrUnauthorized)
	}
	var ids []string
	prefix := devLicPrefix(dev.ID)
	err = s.st.Iterate(ctx, prefix, false, func(k, _ []byte) error {
		ids = append(ids, string(k[len(prefix):]))
		return nil
	})
	if err != nil {
		return fmt.Errorf("list licenses: %w", err)
	}
	if len(ids) == 0 {
		// Registered again after a deregistration that deleted every
		// license it held, and licensed nothing since: what it renews is
		// void, which only a signed revocation lets it act on (a 404, or
		// a refusal for the subscription, left it playing them, without
		// an offline slot).
		switch _, err := s.st.Get(ctx, goneKey(dev.ID)); {
		case err == nil:
			return s.refuse(c, dev.ID, api.StatusRevoked, req.Nonce, ErrRevoked)
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("read tombstone: %w", err)
		}
	}
	acct, err := s.account(ctx, dev.User)
	if err != nil {
		return err
	}
	if st := subscriptionStatus(acct.Subscription); st != api.StatusOK {
		return s.refuse(c, dev.ID, st, req.Nonce, fmt.Errorf("%w: %s", ErrNoSubscription, acct.Subscription))
	}
	var keys []crypto.LicenseKey
	seen := make(map[[2]string]bool, len(req.Drop))
	for _, d := range req.Drop {
		seen[[2]string{string(d.Track), string(d.Tier)}] = true // dropped: never renewed
	}
	issuer := s.cat.KeysAt(s.opts.now())
	for _, id := range ids {
		b, err := s.st.Get(ctx, licKey(id))
		if err != nil {
			return fmt.Errorf("read license %s: %w", id, err)
		}
		var rec record
		if err := cborDec.Unmarshal(b, &rec); err != nil {
			return fmt.Errorf("decode license %s: %w", id, err)
		}
		for _, e := range rec.Entries {
			if seen[e] {
				continue
			}
			seen[e] = true
			tier := model.Tier(e[1])
			k, err := issuer.ContentKey(ctx, model.TrackID(e[0]), tier)
			if errors.Is(err, catalog.ErrNotFound) || errors.Is(err, catalog.ErrEmbargoed) {
				continue // withdrawn from the catalog, or embargoed again: not renewed
			}
			if err != nil {
				return fmt.Errorf("content key %s/%s: %w", e[0], e[1], err)
			}
			keys = append(keys, crypto.LicenseKey{TrackID: model.TrackID(e[0]), Tier: tier, Key: k})
		}
	}
	if len(keys) == 0 {
		return fmt.Errorf("%w: no licenses to renew", relay.ErrNotFound)
	}
	if err := s.charge(dev.ID, len(keys)); err != nil {
		return err
	}
	return s.answerGrant(c, dev, keys, ids, req.Nonce)
}

// offlineDevices handles GET /v1/licenses/devices: the caller's
// account's devices holding an offline slot, oldest first, with their
// names, so a user at the device limit can see which to deregister.
func (s *Server) offlineDevices(c echo.Context) error {
	ctx := c.Request().Context()
	caller, _ := relay.DeviceFrom(c)
	out := api.OfflineDevicesResponse{Limit: s.opts.deviceLimit, Devices: []api.OfflineDevice{}}
	prefix := offPrefix(caller.User)
	err := s.st.Iterate(ctx, prefix, false, func(k, v []byte) error {
		d := api.OfflineDevice{DeviceID: model.DeviceID(k[len(prefix):])}
		if err := cborDec.Unmarshal(v, &d.Since); err != nil {
			return fmt.Errorf("decode offline slot of %s: %w", d.DeviceID, err)
		}
		out.Devices = append(out.Devices, d)
		return nil
	})
	if err != nil {
		return fmt.Errorf("list offline devices: %w", err)
	}
	for i, d := range out.Devices {
		b, err := s.st.Get(ctx, relay.DeviceKey(d.DeviceID))
		if err != nil {
			continue // a slot without a readable device record: listed unnamed
		}
		var dev relay.Device
		if relay.DecodeRecord(b, &dev) == nil {
			out.Devices[i].Name = dev.Name
		}
	}
	slices.SortFunc(out.Devices, func(a, b api.OfflineDevice) int {
		return cmp.Or(cmp.Compare(a.Since, b.Since), cmp.Compare(a.DeviceID, b.DeviceID))
	})
	return c.JSON(http.StatusOK, out)
}

// deregister handles DELETE /v1/devices/{id}: a device of the same
// account (itself included) removes it. Its tokens stop working, its
// licenses are deleted, its offline slot is freed, and a tombstone lets
// its next renewal learn it was revoked.
func (s *Server) deregister(c echo.Context) error {
	ctx := c.Request().Context()
	caller, _ := relay.DeviceFrom(c)
	id := model.DeviceID(c.Param("id"))
	if id == "" || len(id) > 64 || strings.ContainsRune(string(id), '/') {
		return fmt.Errorf("%w: bad device id", relay.ErrBadRequest)
	}
	err := s.st.Update(ctx, func(tx store.Txn) error {
		b, err := tx.Get(relay.DeviceKey(id))
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: device %s", relay.ErrNotFound, id)
		}
		if err != nil {
			return err
		}
		var dev relay.Device
		if err := relay.DecodeRecord(b, &dev); err != nil {
			return fmt.Errorf("decode device: %w", err)
		}
		if dev.User != caller.User {
			return fmt.Errorf("%w: device %s", relay.ErrNotFound, id) // do not reveal other accounts' devices
		}
		tb, err := cborEnc.Marshal(tombstone{User: string(dev.User), SignPub: dev.SignPub, At: s.opts.now().UnixMilli()})
		if err != nil {
			return err
		}
		var lics [][]byte
		if err := tx.Iterate(devLicPrefix(id), false, func(k, _ []byte) error {
			lics = append(lics, append([]byte(nil), k...))
			return nil
		}); err != nil {
			return err
		}
		for _, k := range lics {
			if err := tx.Delete(k); err != nil {
				return err
			}
			if err := tx.Delete(licKey(string(k[len(devLicPrefix(id)):]))); err != nil {
				return err
			}
		}
		if err := touchSlots(tx, dev.User, s.opts.now()); err != nil {
			return err
		}
		if err := tx.Delete(offKey(dev.User, id)); err != nil {
			return err
		}
		if err := tx.Set(goneKey(id), tb); err != nil {
			return err
		}
		return tx.Delete(relay.DeviceKey(id))
	})
	if err != nil {
		return err
	}
	s.log.Info("license: device deregistered", "device", id, "by", caller.ID)
	if s.revoked != nil {
		s.revoked(ctx, caller.User, id)
	}
	s.statement(c, caller.ID, api.StatusOK, nil)
	return c.NoContent(http.StatusNoContent)
}

// subscriptionAnswer is the JSON answer of the admin routes.
type subscriptionAnswer struct {
	Username       string   `json:"username"`
	Subscription   string   `json:"subscription"`
	OfflineDevices []string `json:"offline_devices"`
}

// SetSubscription sets user's subscription state (active, expired or
// cancelled). Only "active" lets licenses be issued or renewed.
func (s *Server) SetSubscription(ctx context.Context, user model.UserID, state string) error {
	switch state {
	case SubscriptionActive, SubscriptionExpired, SubscriptionCancelled:
	default:
		return fmt.Errorf("%w: %s", ErrBadState, relay.QuoteInput(state))
	}
	return s.st.Update(ctx, func(tx store.Txn) error {
		b, err := tx.Get(relay.AccountKey(user))
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("%w: account %s", relay.ErrNotFound, relay.QuoteInput(string(user)))
		}
		if err != nil {
			return err
		}
		var a relay.Account
		if err := relay.DecodeRecord(b, &a); err != nil {
			return fmt.Errorf("decode account: %w", err)
		}
		a.Subscription = state
		val, err := cborEnc.Marshal(a)
		if err != nil {
			return err
		}
		return tx.Set(relay.AccountKey(user), val)
	})
}

func (s *Server) setSubscription(c echo.Context) error {
	var req api.SubscriptionRequest
	if err := s.decode(c, &req); err != nil {
		return err
	}
	user := model.UserID(c.Param("user"))
	if err := s.SetSubscription(c.Request().Context(), user, req.State); err != nil {
		if errors.Is(err, ErrBadState) {
			return fmt.Errorf("%w: %w", relay.ErrBadRequest, err)
		}
		return err
	}
	return s.getSubscription(c)
}

func (s *Server) getSubscription(c echo.Context) error {
	ctx := c.Request().Context()
	user := model.UserID(c.Param("user"))
	if strings.ContainsRune(string(user), '/') {
		return fmt.Errorf("%w: bad username", relay.ErrBadRequest)
	}
	acct, err := s.account(ctx, user)
	if errors.Is(err, relay.ErrUnauthorized) {
		return fmt.Errorf("%w: account %s", relay.ErrNotFound, relay.QuoteInput(string(user)))
	}
	if err != nil {
		return err
	}
	out := subscriptionAnswer{Username: acct.Username, Subscription: acct.Subscription, OfflineDevices: []string{}}
	prefix := offPrefix(user)
	err = s.st.Iterate(ctx, prefix, false, func(k, _ []byte) error {
		out.OfflineDevices = append(out.OfflineDevices, string(k[len(prefix):]))
		return nil
	})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, out)
}

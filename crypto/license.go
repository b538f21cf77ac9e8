package crypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/segue-fm/segue/core/model"
)

// LicenseDomain is the signing domain of license envelopes.
const LicenseDomain = "segue-license-v1"

// MaxLicenseEntries bounds the entries of one license (DESIGN §7: 10,000
// licensed tracks per device, in up to four tiers, with headroom).
const MaxLicenseEntries = 65536

// License errors.
var (
	// ErrWrongDevice: the license was issued to another device.
	ErrWrongDevice = errors.New("crypto: license is for another device")
	// ErrLicenseExpired: the license is past Expires + Grace.
	ErrLicenseExpired = errors.New("crypto: license expired")
	// ErrNotLicensed: the license has no entry for the track and tier.
	ErrNotLicensed = errors.New("crypto: track not in license")
)

// LicenseEntry is one licensed (track, tier): its content key sealed with
// AES-128-GCM under the license key.
type LicenseEntry struct {
	TrackID    model.TrackID
	Tier       model.Tier
	WrappedKey []byte // nonce is the entry index; 32 bytes (key + tag)
}

// License is a verified, opened license. It is immutable after
// OpenLicense; the content keys it holds never leave memory.
type License struct {
	ID      string
	User    model.UserID
	Device  model.DeviceID
	Issued  time.Time
	Expires time.Time
	// Grace is how long after Expires playback continues while renewal is
	// attempted.
	Grace   time.Duration
	Entries []LicenseEntry
	// ServerTime is the relay's clock when it signed the license; feed it
	// to TrustedClock.Observe.
	ServerTime time.Time

	keys map[trackTier]ContentKey
}

type trackTier struct {
	track model.TrackID
	tier  model.Tier
}

// LicenseKey is one content key to put in a license.
type LicenseKey struct {
	TrackID model.TrackID
	Tier    model.Tier
	Key     ContentKey
}

// LicenseRequest is what IssueLicense signs.
type LicenseRequest struct {
	ID         string // unique, non-empty, no NUL
	User       model.UserID
	Device     model.DeviceID // must be the device owning the HPKE key
	Issued     time.Time
	Expires    time.Time // after Issued
	Grace      time.Duration
	ServerTime time.Time
	Keys       []LicenseKey // distinct (track, tier) pairs
}

// licensePayload is the signed CBOR payload. Times are Unix milliseconds.
type licensePayload struct {
	ID         string         `cbor:"1,keyasint"`
	User       string         `cbor:"2,keyasint"`
	Device     string         `cbor:"3,keyasint"`
	Issued     int64          `cbor:"4,keyasint"`
	Expires    int64          `cbor:"5,keyasint"`
	GraceMS    int64          `cbor:"6,keyasint"`
	SealedKey  []byte         `cbor:"7,keyasint"` // HPKE-sealed license key
	Entries    []licenseEntry `cbor:"8,keyasint"`
	ServerTime int64          `cbor:"9,keyasint"`
}

type licenseEntry struct {
	Track   string `cbor:"1,keyasint"`
	Tier    string `cbor:"2,keyasint"`
	Wrapped []byte `cbor:"3,keyasint"`
}

// licenseKeyInfo is the HPKE info of a license key: domain ‖ 0 ‖ id ‖ 0 ‖
// device.
func licenseKeyInfo(id string, dev model.DeviceID) []byte {
	return joinNUL(LicenseDomain, id, string(dev))
}

// entryAAD binds a sealed content key to its license, device, track and
// tier.
func entryAAD(id string, dev model.DeviceID, track model.TrackID, tier model.Tier) []byte {
	return joinNUL("segue-license-entry-v1", id, string(dev), string(track), string(tier))
}

func joinNUL(parts ...string) []byte {
	var b []byte
	for i, p := range parts {
		if i > 0 {
			b = append(b, 0)
		}
		b = append(b, p...)
	}
	return b
}

func entryNonce(i int) []byte {
	n := make([]byte, 12)
	binary.BigEndian.PutUint64(n[4:], uint64(i))
	return n
}

func licenseAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("%w: license key: %w", ErrMalformed, err)
	}
	return cipher.NewGCM(block)
}

func toMS(t time.Time) int64 { return t.UnixMilli() }

func fromMS(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// IssueLicense builds and signs a license (relay side): one random
// 128-bit license key read from rand, sealed once with HPKE to devHPKEPub
// (info binds license id and device), and each content key sealed under
// it with AES-128-GCM (AAD binds license id, device, track and tier).
// Renewing N keys thus costs one HPKE seal plus N small AEAD seals. The
// envelope is owned by the caller.
func IssueLicense(rand io.Reader, catalogPriv ed25519.PrivateKey, devHPKEPub []byte, req LicenseRequest) ([]byte, error) {
	p := licensePayload{
		ID: req.ID, User: string(req.User), Device: string(req.Device),
		Issued: toMS(req.Issued), Expires: toMS(req.Expires), GraceMS: req.Grace.Milliseconds(),
		ServerTime: toMS(req.ServerTime),
	}
	if len(req.Keys) > MaxLicenseEntries {
		return nil, fmt.Errorf("issue license: %d keys exceed %d", len(req.Keys), MaxLicenseEntries)
	}
	var lk [16]byte
	if _, err := io.ReadFull(rand, lk[:]); err != nil {
		return nil, fmt.Errorf("issue license: %w: %w", ErrShortRandom, err)
	}
	sealed, err := SealTo(devHPKEPub, licenseKeyInfo(req.ID, req.Device), lk[:])
	if err != nil {
		return nil, fmt.Errorf("issue license: %w", err)
	}
	p.SealedKey = sealed
	aead, err := licenseAEAD(lk[:])
	if err != nil {
		return nil, err
	}
	p.Entries = make([]licenseEntry, len(req.Keys))
	for i, k := range req.Keys {
		p.Entries[i] = licenseEntry{
			Track: string(k.TrackID), Tier: string(k.Tier),
			Wrapped: aead.Seal(nil, entryNonce(i), k.Key[:], entryAAD(req.ID, req.Device, k.TrackID, k.Tier)),
		}
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("issue license: %w", err)
	}
	payload, err := encMode.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("issue license: %w", err)
	}
	return Sign(catalogPriv, LicenseDomain, payload)
}

// validate checks the payload's shape; errors match ErrMalformed.
func (p *licensePayload) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: license: %s", ErrMalformed, fmt.Sprintf(format, args...))
	}
	switch {
	case p.ID == "" || bytes.IndexByte([]byte(p.ID), 0) >= 0:
		return bad("bad id %q", p.ID)
	case p.Device == "" || bytes.IndexByte([]byte(p.Device), 0) >= 0:
		return bad("bad device %q", p.Device)
	case p.Expires <= p.Issued:
		return bad("expires %d not after issued %d", p.Expires, p.Issued)
	case p.GraceMS < 0:
		return bad("negative grace")
	case len(p.Entries) > MaxLicenseEntries:
		return bad("%d entries", len(p.Entries))
	case len(p.SealedKey) != HPKEPublicKeySize+16+16:
		return bad("sealed key of %d bytes", len(p.SealedKey))
	}
	seen := make(map[trackTier]bool, len(p.Entries))
	for i, e := range p.Entries {
		tt := trackTier{model.TrackID(e.Track), model.Tier(e.Tier)}
		switch {
		case e.Track == "" || bytes.IndexByte([]byte(e.Track), 0) >= 0:
			return bad("entry %d: bad track %q", i, e.Track)
		case !tt.tier.Valid():
			return bad("entry %d: bad tier %q", i, e.Tier)
		case len(e.Wrapped) != 32:
			return bad("entry %d: wrapped key of %d bytes", i, len(e.Wrapped))
		case seen[tt]:
			return bad("entry %d: duplicate %s/%s", i, e.Track, e.Tier)
		}
		seen[tt] = true
	}
	return nil
}

// OpenLicense verifies a license envelope against the catalog key,
// checks that it was issued to id's device, and unwraps every content key.
// Errors match ErrMalformed, ErrUnknownKey or ErrBadSignature (envelope),
// ErrWrongDevice, or ErrDecrypt (a key does not unwrap). It does not check
// expiry: use (*License).Check with a TrustedClock time.
func OpenLicense(catalogPub ed25519.PublicKey, id *Identity, env []byte) (*License, error) {
	payload, err := Verify(catalogPub, LicenseDomain, env)
	if err != nil {
		return nil, fmt.Errorf("open license: %w", err)
	}
	var p licensePayload
	if err := decMode.Unmarshal(payload, &p); err != nil {
		return nil, fmt.Errorf("open license: %w: %w", ErrMalformed, err)
	}
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("open license: %w", err)
	}
	dev := model.DeviceID(p.Device)
	if dev != id.DeviceID() {
		return nil, fmt.Errorf("open license %s: %w: %s", p.ID, ErrWrongDevice, dev)
	}
	lk, err := id.Open(licenseKeyInfo(p.ID, dev), p.SealedKey)
	if err != nil {
		return nil, fmt.Errorf("open license %s: %w", p.ID, err)
	}
	if len(lk) != 16 {
		return nil, fmt.Errorf("open license %s: %w: license key of %d bytes", p.ID, ErrDecrypt, len(lk))
	}
	aead, err := licenseAEAD(lk)
	if err != nil {
		return nil, err
	}
	l := &License{
		ID: p.ID, User: model.UserID(p.User), Device: dev,
		Issued: fromMS(p.Issued), Expires: fromMS(p.Expires), Grace: time.Duration(p.GraceMS) * time.Millisecond,
		ServerTime: fromMS(p.ServerTime),
		Entries:    make([]LicenseEntry, len(p.Entries)),
		keys:       make(map[trackTier]ContentKey, len(p.Entries)),
	}
	for i, e := range p.Entries {
		tt := trackTier{model.TrackID(e.Track), model.Tier(e.Tier)}
		k, err := aead.Open(nil, entryNonce(i), e.Wrapped, entryAAD(p.ID, dev, tt.track, tt.tier))
		if err != nil {
			return nil, fmt.Errorf("open license %s entry %d: %w", p.ID, i, ErrDecrypt)
		}
		l.Entries[i] = LicenseEntry{TrackID: tt.track, Tier: tt.tier, WrappedKey: e.Wrapped}
		l.keys[tt] = ContentKey(k)
	}
	return l, nil
}

// ContentKey returns the content key of (track, tier), or ErrNotLicensed.
func (l *License) ContentKey(track model.TrackID, tier model.Tier) (ContentKey, error) {
	k, ok := l.keys[trackTier{track, tier}]
	if !ok {
		return ContentKey{}, fmt.Errorf("%w: %s/%s in license %s", ErrNotLicensed, track, tier, l.ID)
	}
	return k, nil
}

// Check returns ErrLicenseExpired when trusted time now is at or past
// Expires + Grace. Pass TrustedClock.Now, never the raw device clock.
func (l *License) Check(now time.Time) error {
	if !now.Before(l.Expires.Add(l.Grace)) {
		return fmt.Errorf("%w: %s expired %s (grace %s)", ErrLicenseExpired, l.ID, l.Expires.Format(time.RFC3339), l.Grace)
	}
	return nil
}

// NeedsRenewal reports whether now is at or past Expires: playback still
// works during the grace period, but the engine should renew.
func (l *License) NeedsRenewal(now time.Time) bool { return !now.Before(l.Expires) }

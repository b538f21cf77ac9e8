package license

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/cborx"
)

// StatementDomain is the signing domain of the relay's signed statements
// (header StatementHeader).
const StatementDomain = "segue-statement-v1"

// StatementHeader is the response header carrying a signed statement,
// base64url without padding, on every license response, refusals
// included.
const StatementHeader = "Segue-Statement"

// RenewDomain prefixes the bytes a device signs to renew (RenewMessage).
const RenewDomain = "segue-renew-v1"

// NonceSize is the size of the request nonce a statement echoes.
const NonceSize = 16

// Statuses a statement carries.
const (
	// StatusOK: the request succeeded.
	StatusOK = "ok"
	// StatusSubscriptionExpired: the account's subscription lapsed; no
	// license is issued or renewed.
	StatusSubscriptionExpired = "subscription_expired"
	// StatusSubscriptionCancelled: the account cancelled; no license is
	// issued or renewed.
	StatusSubscriptionCancelled = "subscription_cancelled"
	// StatusSubscriptionInactive: any other non-active subscription state.
	StatusSubscriptionInactive = "subscription_inactive"
	// StatusDeviceLimit: the account already has the maximum number of
	// offline devices.
	StatusDeviceLimit = "device_limit"
	// StatusRevoked: the device was deregistered; its licenses are void.
	StatusRevoked = "revoked"
)

// Subscription states the admin route accepts (relay.SubscriptionActive
// is "active").
const (
	SubscriptionActive    = "active"
	SubscriptionExpired   = "expired"
	SubscriptionCancelled = "cancelled"
)

// Statement is the payload of a signed statement: the relay's clock, the
// device it speaks to, the outcome, and the nonce of the request it
// answers (empty when the request had none). Devices feed Time to their
// crypto.TrustedClock after verifying the signature with the catalog key.
type Statement struct {
	Time   int64  `cbor:"1,keyasint"` // Unix milliseconds
	Device string `cbor:"2,keyasint"`
	Status string `cbor:"3,keyasint"`
	Nonce  []byte `cbor:"4,keyasint,omitempty"`
}

// ServerTime returns Time as a time.Time in UTC.
func (s Statement) ServerTime() time.Time { return time.UnixMilli(s.Time).UTC() }

// IssueRequest is the JSON body of POST /v1/licenses. Albums are
// expanded to their tracks by the relay; playlists are resolved on the
// device (which holds the playlist documents) and sent as tracks.
type IssueRequest struct {
	Tracks []model.TrackID `json:"tracks,omitempty"`
	Albums []model.AlbumID `json:"albums,omitempty"`
	Tier   model.Tier      `json:"tier"`
	Nonce  []byte          `json:"nonce,omitempty"` // NonceSize bytes, echoed in the statement
}

// RenewRequest is the JSON body of POST /v1/licenses/renew. It is
// authenticated by Sig, the device's Ed25519 signature over
// RenewMessage(Device, Nonce, LicenseIDs), not by a token, so a
// deregistered device can still learn (authentically) that it was
// revoked.
type RenewRequest struct {
	Device     model.DeviceID `json:"device"`
	LicenseIDs []string       `json:"license_ids"`
	// Drop lists (track, tier) entries the device no longer holds (it
	// removed their downloads): the renewed license leaves them out.
	Drop  []Entry `json:"drop,omitempty"`
	Nonce []byte  `json:"nonce"`
	Sig   []byte  `json:"sig"`
}

// Entry names one licensed (track, tier).
type Entry struct {
	Track model.TrackID `json:"track"`
	Tier  model.Tier    `json:"tier"`
}

// SubscriptionRequest is the JSON body of the admin route
// PUT /v1/admin/subscriptions/{user}.
type SubscriptionRequest struct {
	State string `json:"state"`
}

// RenewMessage returns the bytes a device signs to renew:
// RenewDomain ‖ 0 ‖ u16 len ‖ device ‖ u16 len ‖ nonce ‖ u32 count ‖
// (u16 len ‖ license id)…, then, only when drop is non-empty, u32 count ‖
// (u16 len ‖ track ‖ u16 len ‖ tier)…; integers big-endian. (Without
// drops the message is the one of devices that never drop.) The slice
// is owned by the caller. It fails for fields longer than 65535 bytes.
func RenewMessage(device model.DeviceID, nonce []byte, ids []string, drop []Entry) ([]byte, error) {
	b := append([]byte(RenewDomain), 0)
	var err error
	put := func(s []byte) {
		if len(s) > 0xffff {
			err = fmt.Errorf("license: renew field of %d bytes", len(s))
			return
		}
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
		b = append(b, s...)
	}
	put([]byte(device))
	put(nonce)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ids)))
	for _, id := range ids {
		put([]byte(id))
	}
	if len(drop) > 0 {
		b = binary.BigEndian.AppendUint32(b, uint32(len(drop)))
		for _, e := range drop {
			put([]byte(e.Track))
			put([]byte(e.Tier))
		}
	}
	return b, err
}

var (
	cborEnc = cborx.EncMode()
	// cborDec reads requests and the license server's records strictly.
	cborDec = cborx.Limits{MaxNestedLevels: 8, MaxArrayElements: 1 << 17, MaxMapPairs: 1 << 10}.StrictDecMode()
)

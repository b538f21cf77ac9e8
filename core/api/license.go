package api

import (
	"time"

	"github.com/segue-fm/segue/core/model"
)

// StatementDomain is the signing domain of the relay's signed statements
// (crypto.Sign / crypto.Verify with the catalog key).
const StatementDomain = "segue-statement-v1"

// StatementHeader is the response header carrying a signed statement,
// base64url without padding, on every license response, refusals
// included, and on stream-key answers.
const StatementHeader = "Segue-Statement"

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

// Statement is the CBOR payload of a signed statement: the relay's clock,
// the device it speaks to, the outcome, and the nonce of the request it
// answers (empty when the request had none). Devices feed Time to their
// crypto.TrustedClock only after verifying the signature with the catalog
// key and checking Device and Nonce.
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
	// PerTrack asks for an IssueAnswer (content type IssueAnswerType):
	// a listed track the relay cannot license (unknown, withdrawn, not
	// at Tier, not released yet) is reported in it with its reason and
	// the license covers the others. Without it, as clients before it
	// send, one such track fails the whole request (404, or 403 for an
	// embargo) and the answer is the bare license envelope. An unknown
	// album fails the request either way.
	PerTrack bool `json:"per_track,omitempty"`
}

// IssueAnswerType is the content type of an IssueAnswer; the bare
// license envelope is application/cbor.
const IssueAnswerType = "application/vnd.segue.license-answer+cbor"

// IssueAnswer is the CBOR answer of POST /v1/licenses to a PerTrack
// request: the license envelope of the tracks granted (absent when none
// could be) and the tracks refused, each once, in request order. The
// list is not signed (the envelope is): tampering with it can only make
// a device leave tracks out, as blocking the answer could.
type IssueAnswer struct {
	License     []byte        `cbor:"1,keyasint,omitempty"`
	Unavailable []Unavailable `cbor:"2,keyasint,omitempty"`
}

// Unavailable is a track a license request could not cover, and why
// (one of the Unavailable* reasons).
type Unavailable struct {
	Track  model.TrackID `cbor:"1,keyasint"`
	Reason string        `cbor:"2,keyasint"`
}

// Reasons of an Unavailable track.
const (
	// UnavailableNotFound: the catalog has no such track at the tier
	// (unknown id, taken down, or never published at that tier).
	UnavailableNotFound = "not_found"
	// UnavailableEmbargoed: the track's album is not released yet.
	UnavailableEmbargoed = "embargoed"
)

// RenewRequest is the JSON body of POST /v1/licenses/renew. It is
// authenticated by Sig, the device's Ed25519 signature over
// crypto.RenewMessage(Device, Nonce, LicenseIDs, Drop), not by a token,
// so a deregistered device can still learn (authentically) that it was
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

// OfflineDevicesResponse is the answer of GET /v1/licenses/devices: the
// devices of the caller's account that hold an offline slot (taken at a
// device's first license, freed by DELETE /v1/devices/{id}), oldest
// first, and how many slots the account has.
type OfflineDevicesResponse struct {
	Limit   int             `json:"limit"`
	Devices []OfflineDevice `json:"devices"`
}

// OfflineDevice is a device holding one of its account's offline slots.
type OfflineDevice struct {
	DeviceID model.DeviceID `json:"device_id"`
	// Name is the name the device registered with ("" when its record
	// cannot be read).
	Name string `json:"name"`
	// Since is when it took the slot (its first license), Unix ms.
	Since int64 `json:"since"`
}

// SubscriptionRequest is the JSON body of the admin route
// PUT /v1/admin/subscriptions/{user}. State is "active", "expired" or
// "cancelled".
type SubscriptionRequest struct {
	State string `json:"state"`
}

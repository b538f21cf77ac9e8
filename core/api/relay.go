package api

import (
	"time"

	"github.com/segue-fm/segue/core/model"
)

// ErrorBody is the JSON body of every relay error response. Error is a
// message a client may show; it never carries internal causes.
type ErrorBody struct {
	Error string `json:"error"`
}

// AccountRequest is the JSON body of POST /v1/accounts (signup).
type AccountRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	// Country is optional: the account's ISO 3166-1 alpha-2 country code
	// ("DE"); a code that is not assigned is refused with 400.
	Country string `json:"country,omitempty"`
}

// RegisterRequest is the JSON body of POST /v1/devices. Sig is the
// device's Ed25519 signature over crypto.DeviceProofMessage(Username,
// Name, SignPub, HPKEPub, time.Unix(Issued, 0)); SignPub (Ed25519) and
// HPKEPub (X25519) are 32 bytes each.
type RegisterRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Name     string `json:"name"`
	SignPub  []byte `json:"sign_pub"`
	HPKEPub  []byte `json:"hpke_pub"`
	Issued   int64  `json:"issued"` // Unix seconds
	Sig      []byte `json:"sig"`
}

// RegisterResponse is the JSON body of a successful POST /v1/devices:
// the device id (derived from SignPub), the bearer token, the catalog's
// Ed25519 public key, the device certificate (crypto.IssueDeviceCert)
// and the account's library document id (bs58check, assigned by the
// relay; absent from relays older than the assignment).
type RegisterResponse struct {
	DeviceID   model.DeviceID `json:"device_id"`
	Token      string         `json:"token"`
	CatalogKey []byte         `json:"catalog_key"`
	Cert       []byte         `json:"cert"`
	Library    string         `json:"library,omitempty"`
}

// MeResponse is the part of the JSON body of GET /v1/me the engine
// reads: the account's library document id (bs58check).
type MeResponse struct {
	Library string `json:"library"`
}

// CertResponse is the JSON body of GET /v1/devices/cert: a freshly
// signed device certificate (crypto.IssueDeviceCert).
type CertResponse struct {
	Cert []byte `json:"cert"`
}

// MaxLANKeyUsers bounds the users of one POST /v1/devices/lan-keys
// request (as p2p.MaxLANKeys, two keys per user with the own account,
// bounds the keys a device holds).
const MaxLANKeyUsers = 1023

// LANKeysRequest is the JSON body of POST /v1/devices/lan-keys: the
// other accounts the device may sync with over the LAN (the owners and
// collaborators of the playlists it holds), at most MaxLANKeyUsers.
type LANKeysRequest struct {
	With []model.UserID `json:"with"`
}

// LANKey is one LAN key (docs/ARCHITECTURE.md §6): the 32-byte secret
// the relay gives the devices of the calling account and of User alike
// (User is the caller for its own devices' key) in one epoch (the
// relay's WithLANKeyEpoch; keys rotate every epoch).
type LANKey struct {
	User  model.UserID `json:"user"`
	Key   []byte       `json:"key"`
	Epoch int64        `json:"epoch"`
}

// LANKeysResponse is the JSON body answering POST /v1/devices/lan-keys:
// the keys of the caller's own account first, then those of each
// distinct user asked for; two per user, of the current epoch and of the
// previous one.
type LANKeysResponse struct {
	Keys []LANKey `json:"keys"`
}

// CatalogKeyResponse is the JSON body of GET /v1/catalog/key: the
// catalog's Ed25519 public key.
type CatalogKeyResponse struct {
	Key []byte `json:"key"`
}

// AlbumResponse is the JSON body of GET /v1/albums/{id}: the album and
// its tracks in album order.
type AlbumResponse struct {
	Album  model.Album   `json:"album"`
	Tracks []model.Track `json:"tracks"`
}

// MaxTracksBatch is the most track ids one POST /v1/tracks/batch names.
const MaxTracksBatch = 500

// TracksRequest is the JSON body of POST /v1/tracks/batch: 1 to
// MaxTracksBatch track ids (repeats allowed), each answered as GET
// /v1/tracks/{id} answers it.
type TracksRequest struct {
	IDs []model.TrackID `json:"ids"`
}

// TracksResponse is the answer to POST /v1/tracks/batch: Tracks[i]
// describes the request's IDs[i], or is nil (JSON null) when the catalog
// holds no such track (where GET /v1/tracks/{id} answers 404).
type TracksResponse struct {
	Tracks []*model.Track `json:"tracks"`
}

// StreamKeyRequest is the JSON body of POST /v1/keys/stream. The relay
// validates Tier (model.ParseTier).
type StreamKeyRequest struct {
	Track model.TrackID `json:"track"`
	Tier  model.Tier    `json:"tier"`
}

// StreamKeyResponse is the JSON body of a successful POST
// /v1/keys/stream. Wrapped is the (track, tier) content key sealed with
// HPKE to the calling device's registered X25519 key
// (crypto.WrapContentKey; the HPKE info binds track and tier). ServerTime
// is the relay's clock; devices trust only the signed statement header
// (StatementHeader), not this field.
type StreamKeyResponse struct {
	Track      model.TrackID `json:"track"`
	Tier       model.Tier    `json:"tier"`
	Wrapped    []byte        `json:"wrapped"`
	ServerTime time.Time     `json:"server_time"`
}

// ReleaseSchedule is the answer of GET /v1/releases: the albums with an
// embargo (model.Album.ReleaseAt) that ends after ServerTime minus the
// relay's look-back (a day), ordered by release time, so edges can
// pre-position their encrypted blobs before the release. ServerTime is
// the relay's clock, the one the embargo is enforced by.
type ReleaseSchedule struct {
	ServerTime time.Time          `json:"server_time"`
	Releases   []ScheduledRelease `json:"releases"`
}

// ScheduledRelease is one album of a ReleaseSchedule: no stream key or
// license is issued for Tracks before ReleaseAt.
type ScheduledRelease struct {
	Album     model.AlbumID   `json:"album"`
	ReleaseAt time.Time       `json:"release_at"`
	Tracks    []model.TrackID `json:"tracks"`
}

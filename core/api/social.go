package api

import (
	"time"

	"github.com/segue-fm/segue/core/model"
)

// Share kinds: what a share link (POST /v1/shares) points at.
const (
	ShareTrack    = "track"
	SharePlaylist = "playlist"
	ShareAlbum    = "album"
)

// UserList is the answer of GET /v1/follows, /v1/followers, /v1/friends
// and /v1/blocks: one page of user names in ascending order, at most the
// request's limit query parameter (1 to MaxUserListLimit, default
// DefaultUserListLimit). Next, when set, is the opaque cursor of the
// following page (the request's cursor query parameter); the last page
// has none.
type UserList struct {
	Users []model.UserID `json:"users"`
	Next  string         `json:"next,omitempty"`
}

// Page sizes of the user lists (UserList).
const (
	// DefaultUserListLimit is a page's size when the request sets no
	// limit.
	DefaultUserListLimit = 1000
	// MaxUserListLimit is the largest limit a request may set: the
	// most users one may follow (5,000 by default), so that list is
	// one page.
	MaxUserListLimit = 5000
)

// ProfileSettings is the body of PUT /v1/profile: the caller's public
// display name and privacy settings. A nil field is left unchanged.
type ProfileSettings struct {
	// DisplayName is shown instead of the user name (at most 64 bytes of
	// printable UTF-8; "" clears it).
	DisplayName *string `json:"display_name,omitempty"`
	// HideActivity, when true, makes the relay drop every activity the
	// user publishes and forget the last one: no friend sees what they
	// play.
	HideActivity *bool `json:"hide_activity,omitempty"`
	// ShowTopArtists, when true, lists the user's most played artists on
	// their profile (default false).
	ShowTopArtists *bool `json:"show_top_artists,omitempty"`
}

// PlaylistRef names a playlist document.
type PlaylistRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// ArtistPlays is one of a profile's top artists: counted streams of the
// artist's tracks this month and last.
type ArtistPlays struct {
	ID    model.ArtistID `json:"id"`
	Name  string         `json:"name"`
	Plays uint64         `json:"plays"`
}

// Profile is the answer of GET /v1/users/{user}. TopArtists is present
// only when the user allows it; HideActivity and ShowTopArtists only on
// the caller's own profile.
type Profile struct {
	User            model.UserID  `json:"user"`
	DisplayName     string        `json:"display_name"`
	Followers       int           `json:"followers"`
	Following       int           `json:"following"`
	YouFollow       bool          `json:"you_follow"`
	FollowsYou      bool          `json:"follows_you"`
	Friends         bool          `json:"friends"`
	PublicPlaylists []PlaylistRef `json:"public_playlists"`
	TopArtists      []ArtistPlays `json:"top_artists,omitempty"`
	HideActivity    *bool         `json:"hide_activity,omitempty"`
	ShowTopArtists  *bool         `json:"show_top_artists,omitempty"`
}

// ActivityPost is the body of POST /v1/activity: what the calling device
// plays now (Playing) or played last. The relay stamps the time.
type ActivityPost struct {
	Track   model.TrackID     `json:"track"`
	Context model.PlayContext `json:"context"`
	Playing bool              `json:"playing"`
}

// Activity is one friend's latest activity, as GET /v1/activity lists
// and GET /v1/activity/stream pushes it (SSE event "activity").
// Context is empty when it named something the friends may not see (a
// playlist that is not public).
type Activity struct {
	User        model.UserID      `json:"user"`
	DisplayName string            `json:"display_name"`
	Track       model.TrackID     `json:"track"`
	Title       string            `json:"title"`
	Artists     []string          `json:"artists"`
	Context     model.PlayContext `json:"context"`
	At          time.Time         `json:"at"`
	Playing     bool              `json:"playing"`
}

// ActivityItem is an Activity as the sync connection carries it: an
// item of a segue-activity message's batch (sync/wire.ActivityBatch), a
// CBOR map with integer keys; At is in Unix milliseconds.
type ActivityItem struct {
	User        model.UserID  `cbor:"1,keyasint"`
	DisplayName string        `cbor:"2,keyasint,omitempty"`
	Track       model.TrackID `cbor:"3,keyasint"`
	Title       string        `cbor:"4,keyasint,omitempty"`
	Artists     []string      `cbor:"5,keyasint,omitempty"`
	ContextKind string        `cbor:"6,keyasint,omitempty"`
	ContextID   string        `cbor:"7,keyasint,omitempty"`
	AtMs        int64         `cbor:"8,keyasint"`
	Playing     bool          `cbor:"9,keyasint,omitempty"`
}

// Item returns a as an ActivityItem (At to the millisecond).
func (a Activity) Item() ActivityItem {
	return ActivityItem{User: a.User, DisplayName: a.DisplayName, Track: a.Track, Title: a.Title,
		Artists: a.Artists, ContextKind: a.Context.Kind, ContextID: a.Context.ID, AtMs: a.At.UnixMilli(), Playing: a.Playing}
}

// Activity returns the Activity i carries (At in UTC).
func (i ActivityItem) Activity() Activity {
	return Activity{User: i.User, DisplayName: i.DisplayName, Track: i.Track, Title: i.Title, Artists: i.Artists,
		Context: model.PlayContext{Kind: i.ContextKind, ID: i.ContextID}, At: time.UnixMilli(i.AtMs).UTC(), Playing: i.Playing}
}

// ActivityFeed is the answer of GET /v1/activity: the latest activity of
// each friend who has one, most recent first.
type ActivityFeed struct {
	Activities []Activity `json:"activities"`
}

// ShareRequest is the body of POST /v1/shares. Invite (playlists only,
// owner only) makes a collaborator invite link that expires after TTL
// seconds (default and maximum 7 days).
type ShareRequest struct {
	Kind   string `json:"kind"`
	ID     string `json:"id"`
	Invite bool   `json:"invite,omitempty"`
	TTL    int64  `json:"ttl,omitempty"`
}

// Share is the answer of POST /v1/shares. Token is the secret part of
// the link; URL is the public page, URL + ".png" its card image.
type Share struct {
	Token   string     `json:"token"`
	URL     string     `json:"url"`
	Kind    string     `json:"kind"`
	ID      string     `json:"id"`
	Invite  bool       `json:"invite,omitempty"`
	Expires *time.Time `json:"expires,omitempty"`
}

// ShareAccepted is the answer of POST /v1/shares/{token}/accept: the
// playlist was added to the caller's library (Followed) and, for an
// invite, the caller was made a collaborator.
type ShareAccepted struct {
	Kind         string `json:"kind"`
	ID           string `json:"id"`
	Followed     bool   `json:"followed"`
	Collaborator bool   `json:"collaborator"`
}

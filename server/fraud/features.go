package fraud

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
)

// Feature indexes a Features vector. The order is part of the model
// format (Model.Features names them, and DefaultModel checks it).
type Feature int

// The features, per account, computed from its plays in the scanned span
// (and, for the last ones, from AccountInfo).
const (
	// PlaysPerDay: log(1 + plays per active day).
	PlaysPerDay Feature = iota
	// HoursPerDay: mean number of distinct UTC hours with a play start per
	// active day.
	HoursPerDay
	// QuietHours: the longest run of hours of the day (UTC, circular)
	// each holding under 2% of the plays — a human's night; 0 for plays
	// around the clock.
	QuietHours
	// SkipRate: share of plays ended by a skip.
	SkipRate
	// DistinctTracks: distinct tracks / plays.
	DistinctTracks
	// TopTracks: share of plays on the account's 10 most played tracks.
	TopTracks
	// JustOver30: share of plays stopped or skipped 30–40 s in, just over
	// the stream threshold.
	JustOver30
	// Rotation: share of plays on tracks the account played at least 8
	// times in the span (a narrow catalogue in heavy rotation).
	Rotation
	// Loops: share of plays that repeat a track-to-track transition the
	// account made at least 3 times (the same tracks in the same order).
	Loops
	// Muted: share of plays with the volume muted.
	Muted
	// AccountsPerDevice: log2 of the most accounts seen on one of the
	// account's devices (0 on a relay, which registers a device key to
	// one account only, unless a deregistered key was registered again
	// to another).
	AccountsPerDevice
	// AccountsPerIP: log2 of the accounts sharing the account's IP
	// (AccountInfo.IP; unknown without it).
	AccountsPerIP
	// NoFriends: 1 when the account has no friends (AccountInfo.Social).
	NoFriends
	// Friends: log(1 + friends) (AccountInfo.Social).
	Friends
	// LibraryEdits: log(1 + library edits in the span)
	// (AccountInfo.Social).
	LibraryEdits
	// NumFeatures is the length of a Features vector.
	NumFeatures
)

var featureNames = [NumFeatures]string{"plays_per_day", "hours_per_day", "quiet_hours", "skip_rate", "distinct_tracks", "top_tracks",
	"just_over_30s", "rotation", "loops", "muted", "accounts_per_device", "accounts_per_ip", "no_friends", "friends", "library_edits"}

var featureText = [NumFeatures]string{"plays per active day (log)", "active hours per day", "quiet hours a day", "skip rate", "distinct-track ratio",
	"share on top 10 tracks", "plays cut just over 30 s", "tracks in heavy rotation", "repeated loops", "muted plays",
	"accounts per device (log2)", "accounts per IP (log2)", "no friends", "friends (log)", "library edits (log)"}

// String returns the feature's name in the model format.
func (f Feature) String() string {
	if f < 0 || f >= NumFeatures {
		return "unknown"
	}
	return featureNames[f]
}

// The play context and the offline flag are not features: in the
// simulation they told bots from humans only because the simulated bots
// never set them, and a bot sets them as easily as a human.

// Features is one account's feature vector; NaN marks a feature whose
// input is unknown (it then contributes nothing to the score).
type Features [NumFeatures]float64

// AccountInfo is what the relay does not learn from play events and a
// caller may supply: the account's usual IP (the relay keeps no IP log
// today) and its social graph and library activity (friends are not a
// relay concept yet; library edits are sync traffic the counting path
// does not see). Zero value: all unknown.
type AccountInfo struct {
	IP string `json:"ip,omitempty"`
	// Social: Friends and LibraryEdits are known.
	Social       bool `json:"social,omitempty"`
	Friends      int  `json:"friends,omitempty"`
	LibraryEdits int  `json:"library_edits,omitempty"`
}

// ErrBadAccountInfo is account information that cannot be what its giver
// meant (AccountInfo.Check).
var ErrBadAccountInfo = errors.New("fraud: bad account info")

// Check refuses, with ErrBadAccountInfo, a negative count and friends or
// library edits given without Social: Social says they are known, and
// without it the scan treats them as unknown and ignores them.
func (a AccountInfo) Check() error {
	if a.Friends < 0 || a.LibraryEdits < 0 {
		return fmt.Errorf("%w: negative count", ErrBadAccountInfo)
	}
	if !a.Social && (a.Friends != 0 || a.LibraryEdits != 0) {
		return fmt.Errorf("%w: friends or library_edits without social: true (which says they are known)", ErrBadAccountInfo)
	}
	return nil
}

// Play is one logged play as the extractor reads it.
type Play struct {
	Device model.DeviceID
	User   model.UserID
	Event  api.PlayRecord
}

type transition struct{ from, to model.TrackID }

// acc accumulates one account's (or device's) plays.
type acc struct {
	plays, skips, just30, muted int
	hours                       [24]int
	days                        map[int64]uint32 // day → bitmask of UTC hours
	tracks                      map[model.TrackID]int
	prev                        map[model.DeviceID]model.TrackID
	trans                       map[transition]int
	devices                     map[model.DeviceID]struct{}
	users                       map[model.UserID]struct{}
}

func newAcc() *acc {
	return &acc{days: map[int64]uint32{}, tracks: map[model.TrackID]int{}, prev: map[model.DeviceID]model.TrackID{},
		trans: map[transition]int{}, devices: map[model.DeviceID]struct{}{}, users: map[model.UserID]struct{}{}}
}

const msPerHour = int64(time.Hour / time.Millisecond)

func (a *acc) add(p Play) {
	e := p.Event
	a.plays++
	if e.EndReason == model.EndSkipped {
		a.skips++
	}
	if e.EndReason != model.EndCompleted && e.PlayedMs >= 30_000 && e.PlayedMs < 40_000 {
		a.just30++
	}
	if e.VolumeMuted {
		a.muted++
	}
	h := e.StartedAt / msPerHour
	if e.StartedAt < 0 {
		h = (e.StartedAt - msPerHour + 1) / msPerHour
	}
	hod := int(((h % 24) + 24) % 24)
	a.hours[hod]++
	day := (h - int64(hod)) / 24
	a.days[day] |= 1 << hod
	a.tracks[e.Track]++
	if prev, ok := a.prev[p.Device]; ok {
		a.trans[transition{prev, e.Track}]++
	}
	a.prev[p.Device] = e.Track
	a.devices[p.Device] = struct{}{}
	a.users[p.User] = struct{}{}
}

func share(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

// behaviour fills the features computed from plays alone.
func (a *acc) behaviour(f *Features) {
	f[PlaysPerDay] = math.Log1p(share(a.plays, len(a.days)))
	hours := 0
	for _, m := range a.days {
		for ; m != 0; m &= m - 1 {
			hours++
		}
	}
	f[HoursPerDay] = share(hours, len(a.days))
	run, best := 0, 0
	for i := range 48 { // circular: twice round the clock
		if float64(a.hours[i%24]) < 0.02*float64(a.plays) {
			run++
			best = max(best, min(run, 24))
		} else {
			run = 0
		}
	}
	f[QuietHours] = float64(best)
	f[SkipRate] = share(a.skips, a.plays)
	f[DistinctTracks] = share(len(a.tracks), a.plays)
	counts := make([]int, 0, len(a.tracks))
	rot := 0
	for _, n := range a.tracks {
		counts = append(counts, n)
		if n >= 8 {
			rot += n
		}
	}
	f[Rotation] = share(rot, a.plays)
	slices.Sort(counts)
	top := 0
	for i := len(counts) - 1; i >= 0 && i >= len(counts)-10; i-- {
		top += counts[i]
	}
	f[TopTracks] = share(top, a.plays)
	f[JustOver30] = share(a.just30, a.plays)
	loops := 0
	for _, n := range a.trans {
		if n >= 3 {
			loops += n
		}
	}
	f[Loops] = share(loops, a.plays)
	f[Muted] = share(a.muted, a.plays)
}

// Extractor accumulates plays and computes per-account and per-device
// features. It is a pure in-memory core (no I/O, no clock): feed it with
// Add in any order of accounts, each device's plays in log order. Not
// safe for concurrent use. Memory grows with distinct (account, track)
// pairs and track transitions.
type Extractor struct {
	accts map[model.UserID]*acc
	devs  map[model.DeviceID]*acc
}

// NewExtractor returns an empty extractor.
func NewExtractor() *Extractor {
	return &Extractor{accts: map[model.UserID]*acc{}, devs: map[model.DeviceID]*acc{}}
}

// MinPlayedMs is the shortest play the extractor reads: the stream
// threshold (model.StreamThreshold). Shorter plays are not paid, not
// checked for overlaps at upload and so cost a device nothing: a bot
// could add any number of them to dilute every share feature (3 filler
// plays of 2 s per real play took every simulated bot under the
// threshold). Features are therefore over the streams only.
const MinPlayedMs = int64(model.StreamThreshold / time.Millisecond)

// Add accumulates one play; a play shorter than MinPlayedMs is ignored.
func (x *Extractor) Add(p Play) {
	if p.Event.PlayedMs < MinPlayedMs {
		return
	}
	a := x.accts[p.User]
	if a == nil {
		a = newAcc()
		x.accts[p.User] = a
	}
	a.add(p)
	d := x.devs[p.Device]
	if d == nil {
		d = newAcc()
		x.devs[p.Device] = d
	}
	d.add(p)
}

// Plays returns the number of plays accumulated for user (its streams:
// plays of at least MinPlayedMs).
func (x *Extractor) Plays(user model.UserID) int {
	if a := x.accts[user]; a != nil {
		return a.plays
	}
	return 0
}

// Users returns the accounts seen, sorted.
func (x *Extractor) Users() []model.UserID {
	out := make([]model.UserID, 0, len(x.accts))
	for u := range x.accts {
		out = append(out, u)
	}
	slices.Sort(out)
	return out
}

// Inputs are the accounts' AccountInfo prepared for feature extraction.
type Inputs struct {
	info  map[model.UserID]AccountInfo
	perIP map[string]int
}

// NewInputs indexes info (accounts missing from it have every input
// unknown). It keeps info; the caller must not change it afterwards.
func NewInputs(info map[model.UserID]AccountInfo) Inputs {
	in := Inputs{info: info, perIP: map[string]int{}}
	for _, a := range info {
		if a.IP != "" {
			in.perIP[a.IP]++
		}
	}
	return in
}

// Account returns user's features, with in for the inputs plays do not
// carry. ok is false when user has no plays.
func (x *Extractor) Account(user model.UserID, inputs Inputs) (f Features, ok bool) {
	a := x.accts[user]
	if a == nil {
		return f, false
	}
	a.behaviour(&f)
	most := 0
	for d := range a.devices {
		most = max(most, len(x.devs[d].users))
	}
	f[AccountsPerDevice] = math.Log2(float64(max(most, 1)))
	f[AccountsPerIP], f[NoFriends], f[Friends], f[LibraryEdits] = math.NaN(), math.NaN(), math.NaN(), math.NaN()
	in, known := inputs.info[user]
	if known && in.IP != "" {
		f[AccountsPerIP] = math.Log2(float64(inputs.perIP[in.IP]))
	}
	if known && in.Social {
		f[NoFriends] = 0
		if in.Friends <= 0 {
			f[NoFriends] = 1
		}
		f[Friends] = math.Log1p(float64(max(in.Friends, 0)))
		f[LibraryEdits] = math.Log1p(float64(max(in.LibraryEdits, 0)))
	}
	return f, true
}

// Device returns a device's features from its plays (all its accounts
// together); AccountsPerDevice is the number of accounts seen on it and
// the account-level inputs are NaN. ok is false for an unseen device.
func (x *Extractor) Device(dev model.DeviceID) (f Features, ok bool) {
	d := x.devs[dev]
	if d == nil {
		return f, false
	}
	d.behaviour(&f)
	f[AccountsPerDevice] = math.Log2(float64(len(d.users)))
	f[AccountsPerIP], f[NoFriends], f[Friends], f[LibraryEdits] = math.NaN(), math.NaN(), math.NaN(), math.NaN()
	return f, true
}

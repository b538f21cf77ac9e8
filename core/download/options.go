package download

import (
	"context"
	"log/slog"
	"time"

	"github.com/segue-fm/segue/core/model"
)

// NetworkState is what the embedding app knows about connectivity.
type NetworkState struct {
	// Online is false when the platform reports no network at all; the
	// manager then pauses without trying.
	Online bool
	// Metered is true on a cellular or otherwise costly link; downloads
	// pause there unless metered downloads are allowed.
	Metered bool
}

// PlaylistFunc returns the current track ids of a playlist (a document id
// of package sync/docs), in order. The engine wires it to its playlist
// documents; it must work offline from the local replica.
type PlaylistFunc func(ctx context.Context, id string) ([]model.TrackID, error)

// Options configure a Manager. Start from DefaultOptions; each WithX
// returns a modified copy.
type Options struct {
	workers      int
	allowMetered bool
	network      func() NetworkState
	backoffMin   time.Duration
	backoffMax   time.Duration
	renewAhead   time.Duration
	playlists    PlaylistFunc
	wall         func() time.Time
	mono         func() time.Duration
	bootID       string
	logger       *slog.Logger
	events       func(Event)
	minFree      int64
	markFile     string
}

// DefaultOptions returns: 4 workers (4 tracks queued, 16 blob transfers
// at once), metered networks not used (until SetAllowMetered or
// WithAllowMetered), the network always reported online and unmetered,
// retry backoff from 1 s doubling to 30 s, licenses renewed when they
// expire within 7 days, no playlist resolver
// (Add of a playlist fails with ErrNoPlaylists; recorded playlist
// downloads wait for SetPlaylists), the system wall clock
// with the boot-time monotonic clock, slog.Default(), no event sink and
// DefaultMinFreeSpace left free on the blob directory's file system.
func DefaultOptions() Options {
	return Options{
		workers:    4,
		network:    func() NetworkState { return NetworkState{Online: true} },
		backoffMin: time.Second,
		backoffMax: 30 * time.Second,
		renewAhead: 7 * 24 * time.Hour,
		wall:       time.Now,
		mono:       bootTime,
		bootID:     bootID(),
		logger:     slog.Default(),
		minFree:    DefaultMinFreeSpace,
	}
}

// DefaultMinFreeSpace is the free space downloads leave on the file
// system of Deps.BlobDir by default (64 MiB): the device's store needs
// room to open and write (badgerstore refuses to open with less than
// 32 MiB free), so downloads filling the disk would leave a device on
// which not even removing them works.
const DefaultMinFreeSpace = 64 << 20

// WithMinFreeSpace sets the free space, in bytes, that downloads leave
// on the blob directory's file system (default DefaultMinFreeSpace; 0:
// none, negative values become 0): a blob that would leave less fails
// its track with ErrNoSpace before it is fetched. It does not apply with
// Deps.BlobStore, nor where the free space cannot be told (not unix).
func (o Options) WithMinFreeSpace(n int64) Options { o.minFree = max(n, 0); return o }

// MaxWorkers is the most download workers a Manager runs (WithWorkers):
// 64 tracks at a time, 256 blob transfers. Each worker's blob transfers
// are goroutines and queue slots made at the start of a pass, so an
// unbounded count exhausted memory before a byte was fetched.
const MaxWorkers = 64

// WithWorkers sets the download concurrency (default 4; values below 1
// become 1, above MaxWorkers become MaxWorkers): n tracks at a time read
// their manifests and queue their blobs, and 4·n blob transfers run at
// once, shared by those tracks.
func (o Options) WithWorkers(n int) Options { o.workers = min(max(n, 1), MaxWorkers); return o }

// WithAllowMetered sets the initial metered-network setting (default
// false: pause on metered networks). The persisted setting, once changed
// with SetAllowMetered, wins.
func (o Options) WithAllowMetered(ok bool) Options { o.allowMetered = ok; return o }

// WithNetworkState sets the app's connectivity probe (default: always
// online, unmetered). It is called before every blob and must be cheap
// and non-blocking.
func (o Options) WithNetworkState(fn func() NetworkState) Options {
	if fn != nil {
		o.network = fn
	}
	return o
}

// WithBackoff sets the retry delay after the relay was unreachable: from
// lo doubling up to hi (default 1 s to 30 s). Nudge retries at once.
func (o Options) WithBackoff(lo, hi time.Duration) Options {
	if lo > 0 && hi >= lo {
		o.backoffMin, o.backoffMax = lo, hi
	}
	return o
}

// WithRenewAhead sets how long before expiry the manager renews licenses
// on its own when online (default 7 days).
func (o Options) WithRenewAhead(d time.Duration) Options { o.renewAhead = max(d, 0); return o }

// WithPlaylists sets the playlist resolver (default none).
func (o Options) WithPlaylists(fn PlaylistFunc) Options { o.playlists = fn; return o }

// WithClockMarkFile keeps a copy of the trusted-time mark (dl/clockmark)
// in the file at path, which should be outside the device's data
// directory (the segue CLI: under $XDG_STATE_HOME): copying an old data
// directory back then does not carry the mark back, and at load the
// file raises trusted time as the stored mark does. It is written (no
// fsync, replaced by a rename) when the mark moves back or by a minute
// or more; one missing is skipped, one unreadable or not 8 bytes is
// logged and skipped. Default "": none.
func (o Options) WithClockMarkFile(path string) Options { o.markFile = path; return o }

// WithClock sets the device wall clock and the monotonic clock fed to the
// trusted clock (default time.Now and time since boot). bootID names the
// monotonic clock's epoch: a persisted anchor from another epoch (a
// reboot) is not trusted. Tests pass fake clocks.
func (o Options) WithClock(wall func() time.Time, mono func() time.Duration, bootID string) Options {
	if wall != nil && mono != nil {
		o.wall, o.mono, o.bootID = wall, mono, bootID
	}
	return o
}

// WithLogger sets the logger (default slog.Default(); nil keeps it).
func (o Options) WithLogger(l *slog.Logger) Options {
	if l != nil {
		o.logger = l
	}
	return o
}

// WithEvents sets the progress sink (default none). It is called from the
// manager's goroutines and must not block: the progress of blobs
// (EventProgress, EventTrackDone) comes from the group committer, in
// commit order, so a track's progress never goes backwards.
func (o Options) WithEvents(fn func(Event)) Options { o.events = fn; return o }

// Events returns the progress sink set by WithEvents (nil for none).
func (o Options) Events() func(Event) { return o.events }

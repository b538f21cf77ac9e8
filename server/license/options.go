package license

import (
	"crypto/rand"
	"io"
	"log/slog"
	"time"

	"github.com/segue-fm/segue/server/access"
)

// Options configures a Server. Start from DefaultOptions and refine with
// the WithX methods; each returns a modified copy.
type Options struct {
	validity    time.Duration
	grace       time.Duration
	deviceLimit int
	adminToken  string
	maxBody     int64
	now         func() time.Time
	rand        io.Reader
	logger      *slog.Logger
	accessW     access.Writer
	entries     int // per device per day; 0: no limit
}

// License lifetime defaults (DESIGN §4).
const (
	// DefaultValidity is how long a license is valid after it is issued
	// or renewed.
	DefaultValidity = 30 * 24 * time.Hour
	// DefaultGrace is how long after expiry a license still plays while
	// the device tries to renew.
	DefaultGrace = 48 * time.Hour
	// DefaultDeviceEntriesPerDay is how many (track, tier) entries one
	// device may be licensed per day, issued or renewed: a bucket that
	// size refilled over the day. Twenty renewals of the 10,000 tracks a
	// device is built to hold (DESIGN §7) fit; at about 130 bytes of
	// access record an entry, one device adds at most ≈ 26 MB a day.
	DefaultDeviceEntriesPerDay = 200_000
	// MaxDeviceEntriesPerDay is the largest per-device entry budget
	// segue relay accepts (--license-entries-per-day).
	MaxDeviceEntriesPerDay = 1_000_000_000
)

// DefaultOptions returns the defaults of DESIGN §4: licenses valid 30
// days (DefaultValidity) with a 48-hour grace (DefaultGrace), at most 5
// offline devices per account, no
// admin token (admin routes refused), request bodies up to 1 MiB (enough
// for 10,000 track ids), DefaultDeviceEntriesPerDay, time.Now,
// crypto/rand and slog.Default().
func DefaultOptions() Options {
	return Options{
		entries:     DefaultDeviceEntriesPerDay,
		validity:    DefaultValidity,
		grace:       DefaultGrace,
		deviceLimit: 5,
		maxBody:     1 << 20,
		now:         time.Now,
		rand:        rand.Reader,
		logger:      slog.Default(),
	}
}

// WithValidity sets how long a license is valid after it is issued or
// renewed (default 30 days). Non-positive values keep the current one.
func (o Options) WithValidity(d time.Duration) Options {
	if d > 0 {
		o.validity = d
	}
	return o
}

// WithGrace sets how long after expiry a license still plays while the
// device tries to renew (default 48 hours). Negative values become 0.
func (o Options) WithGrace(d time.Duration) Options { o.grace = max(d, 0); return o }

// OfflineWindow returns how long a device can keep playing offline on
// one license: its validity plus grace. A device offline that long holds
// plays at most that old when it uploads them (server/counting refuses
// older ones).
func (o Options) OfflineWindow() time.Duration { return o.validity + o.grace }

// WithDeviceLimit sets how many devices of one account may hold offline
// licenses (default 5). A device counts from its first license until it
// is deregistered. Values below 1 become 1.
func (o Options) WithDeviceLimit(n int) Options { o.deviceLimit = max(n, 1); return o }

// WithDeviceEntriesPerDay sets how many (track, tier) entries one
// device may be licensed per day, issues and renewals together: a bucket
// of n refilled over the day (default DefaultDeviceEntriesPerDay). A
// request past it is 429 with Retry-After, one naming more tracks than
// the bucket holds 413. 0 or less: no limit. The buckets live in memory
// (a restart fills them).
func (o Options) WithDeviceEntriesPerDay(n int) Options { o.entries = max(n, 0); return o }

// WithAdminToken sets the bearer token of the admin routes (default
// empty: they refuse every request). One relay.CheckAdminToken refuses
// is logged and refuses every request too (relay.Server.AdminGate).
func (o Options) WithAdminToken(tok string) Options { o.adminToken = tok; return o }

// WithMaxBody sets the largest JSON request body accepted (default 1 MiB).
func (o Options) WithMaxBody(n int64) Options {
	if n > 0 {
		o.maxBody = n
	}
	return o
}

// WithClock sets the time source for issue, expiry and signed time
// (default time.Now; nil keeps it). Tests pass a fake clock.
func (o Options) WithClock(now func() time.Time) Options {
	if now != nil {
		o.now = now
	}
	return o
}

// WithRand sets the source of license ids and license keys (default
// crypto/rand; nil keeps it).
func (o Options) WithRand(r io.Reader) Options {
	if r != nil {
		o.rand = r
	}
	return o
}

// WithLogger sets the logger (default slog.Default(); nil discards).
func (o Options) WithLogger(l *slog.Logger) Options {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	o.logger = l
	return o
}

// WithAccessWriter makes the server record every (track, tier) of every
// license it issues or renews as an access.KindLicense record of the
// device (default nil: nothing recorded). Reconciliation backs offline
// streams with them. The Server does not own w.
func (o Options) WithAccessWriter(w access.Writer) Options { o.accessW = w; return o }

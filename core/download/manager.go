package download

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/store"
)

// Sentinel errors, checked with errors.Is.
var (
	// ErrLicenseExpired: the track's license is past its expiry and grace
	// period by trusted time. It also matches crypto.ErrLicenseExpired.
	ErrLicenseExpired = errors.New("download: license expired: connect to verify your subscription")
	// ErrRevoked: this device was deregistered; its licenses are void.
	ErrRevoked = errors.New("download: device deregistered: offline licenses revoked")
	// ErrNotDownloaded: the (track, tier) is not (completely) downloaded.
	ErrNotDownloaded = errors.New("download: not downloaded")
	// ErrNotLicensed: the track is downloaded but no license covers it.
	ErrNotLicensed = errors.New("download: no license for track")
	// ErrRenewalRefused: the relay refused renewal (subscription expired
	// or cancelled); licenses run out at expiry plus grace.
	ErrRenewalRefused = errors.New("download: license renewal refused")
	// ErrDeviceLimit: the relay refused a first license because the
	// account's offline devices are at their limit (api.StatusDeviceLimit).
	ErrDeviceLimit = errors.New("download: offline device limit reached")
	// ErrNotRegistered: the device has no relay token.
	ErrNotRegistered = errors.New("download: device not registered")
	// ErrBadResponse: the relay's answer is malformed or not signed.
	ErrBadResponse = errors.New("download: bad relay response")
	// ErrNoPlaylists: Add of a playlist download without a playlist
	// resolver.
	ErrNoPlaylists = errors.New("download: no playlist resolver configured")
	// ErrBadRef: an invalid kind, id or tier.
	ErrBadRef = errors.New("download: bad download reference")
	// ErrOptions is returned by New for Options not made by
	// DefaultOptions (the zero value has no clocks, network probe or
	// workers).
	ErrOptions = errors.New("download: options not initialised: start from DefaultOptions")
	// ErrClosed: the manager was closed.
	ErrClosed = errors.New("download: manager closed")
	// ErrWriteBlob: a blob could not be written to the device's disk
	// (full, read-only, failing). The track fails with it at once; it is
	// never taken for a network failure, which pauses downloads instead.
	ErrWriteBlob = errors.New("download: write blob to disk")
	// ErrNoSpace: a blob would leave less free space on the disk than
	// Options.WithMinFreeSpace; its track fails with it (wrapped in
	// ErrWriteBlob) before the blob is fetched.
	ErrNoSpace = errors.New("download: not enough free disk space")
)

// Kind is what a download request names.
type Kind string

// Kinds of download requests.
const (
	KindTrack    Kind = "track"
	KindAlbum    Kind = "album"
	KindPlaylist Kind = "playlist"
)

// Ref names one download request: a track, album or playlist at a tier.
type Ref struct {
	Kind Kind
	ID   string
	Tier model.Tier
}

// String describes the request for logs and errors: "album a1 (low)".
func (r Ref) String() string { return fmt.Sprintf("%s %s (%s)", r.Kind, r.ID, r.Tier) }

func (r Ref) valid() error {
	switch {
	case r.Kind != KindTrack && r.Kind != KindAlbum && r.Kind != KindPlaylist:
		return fmt.Errorf("%w: kind %q", ErrBadRef, r.Kind)
	case !model.ValidID(r.ID):
		return fmt.Errorf("%w: id %q", ErrBadRef, r.ID)
	case !r.Tier.Valid():
		return fmt.Errorf("%w: tier %q", ErrBadRef, r.Tier)
	}
	return nil
}

// Deps are the engine parts a Manager works with; the Manager owns none
// of them.
type Deps struct {
	Store      store.Store
	Identity   *crypto.Identity
	CatalogKey fetch.KeyFunc
	// Fetcher gets verified manifests (cached in the store) and serves
	// blobs already in the streaming cache.
	Fetcher *fetch.Fetcher
	// Origins serve blobs for download (bypassing the streaming cache).
	Origins []fetch.Origin
	// Relays are the relay base URLs for license and catalog requests.
	Relays []string
	// HTTP sends the license and catalog requests (an *http.Client, or
	// any fetch.Doer); nil means fetch.DefaultDoer().
	HTTP fetch.Doer
	// Token returns the relay device token ("" before registration).
	Token func() string
	// BlobDir is the directory of downloaded blob files (the engine
	// passes <data dir>/blobs). The Manager owns its contents.
	BlobDir string
	// BlobStore, instead of BlobDir where there is no file system (the
	// web player's IndexedDB), keeps each downloaded blob as a value
	// under dl/blob/ with its size under dl/bsz/ (it may be Store). Set
	// exactly one of BlobDir and BlobStore.
	BlobStore store.Store
}

// Store keys (docs/ARCHITECTURE.md §5).
const (
	pItem  = "dl/item/"
	pJob   = "dl/job/"
	pDone  = "dl/done/"
	pLic   = "dl/lic/"
	pMeta  = "dl/meta/"
	pFail  = "dl/fail/"
	pRef   = "off/ref/"
	kClock = "dl/clock"
	// kClockMark holds the trusted time (u64 BE Unix milliseconds) as of
	// the last persisted clock, written with dl/clock: a floor for a
	// dl/clock restored from a backup (loadClockMark).
	kClockMark = "dl/clockmark"
	kCfg       = "dl/cfg"
	kState     = "dl/state"
)

type trackTier struct {
	track model.TrackID
	tier  model.Tier
}

func itemKey(r Ref) []byte { return []byte(pItem + string(r.Kind) + "/" + string(r.Tier) + "/" + r.ID) }

// refOfItemKey parses a dl/item key; ok is false for a key no valid Ref
// has.
func refOfItemKey(k []byte) (Ref, bool) {
	parts := strings.SplitN(string(k[len(pItem):]), "/", 3)
	if len(parts) != 3 {
		return Ref{}, false
	}
	r := Ref{Kind(parts[0]), parts[2], model.Tier(parts[1])}
	return r, r.valid() == nil
}
func jobKey(t trackTier) []byte {
	return []byte(pJob + string(t.tier) + "/" + string(t.track))
}
func donePrefix(t trackTier) []byte {
	return []byte(pDone + string(t.tier) + "/" + string(t.track) + "/")
}
func doneKey(t trackTier, idx int) []byte {
	return binary.BigEndian.AppendUint32(donePrefix(t), uint32(idx))
}
func refKey(h [32]byte) []byte { return []byte(pRef + hex.EncodeToString(h[:])) }

// metaKey is the key of a job's catalog metadata (JSON model.Track), which
// lives and goes with the job.
func metaKey(t trackTier) []byte {
	return []byte(pMeta + string(t.tier) + "/" + string(t.track))
}

// failKey is the key of the cause of a job's last failed download
// (failRec), which goes with the job.
func failKey(t trackTier) []byte {
	return []byte(pFail + string(t.tier) + "/" + string(t.track))
}

// itemRec is a download request as persisted (dl/item/<kind>/<tier>/<id>).
type itemRec struct {
	Kind     string   `cbor:"1,keyasint"`
	ID       string   `cbor:"2,keyasint"`
	Tier     string   `cbor:"3,keyasint"`
	Tracks   []string `cbor:"4,keyasint"`
	Resolved bool     `cbor:"5,keyasint"`
	Err      string   `cbor:"6,keyasint"`
	Added    int64    `cbor:"7,keyasint"`
	// Album is an album request's catalog metadata (JSON model.Album)
	// as its last resolve found it; empty for other kinds.
	Album []byte `cbor:"8,keyasint,omitempty"`
	// Unavailable are the tracks its last resolve left out because the
	// relay would not license them, in request order.
	Unavailable []Unavailable `cbor:"9,keyasint,omitempty"`
}

// Unavailable is a track of a request that the relay reported it cannot
// license (Reason: api.UnavailableNotFound for an unknown or withdrawn
// track or tier, api.UnavailableEmbargoed before release, or a reason
// newer than this device): the request leaves it out and downloads its
// other tracks. It is asked for again whenever the request is resolved
// again (Refresh, an edit of a followed playlist, Add of the same
// request).
type Unavailable struct {
	Track  model.TrackID `cbor:"1,keyasint"`
	Reason string        `cbor:"2,keyasint"`
}

func (r *itemRec) ref() Ref { return Ref{Kind(r.Kind), r.ID, model.Tier(r.Tier)} }

// jobRec is one (track, tier) download (dl/job/<tier>/<track>): how many
// requests reference it and its progress.
type jobRec struct {
	Refs      int   `cbor:"1,keyasint"`
	Blobs     int   `cbor:"2,keyasint"` // header + chunks; 0 until the manifest is known
	Bytes     int64 `cbor:"3,keyasint"`
	Done      int   `cbor:"4,keyasint"`
	DoneBytes int64 `cbor:"5,keyasint"`
}

func (j *jobRec) complete() bool { return j.Blobs > 0 && j.Done >= j.Blobs }

// failRec is why a job's last download failed (dl/fail/<tier>/<track>),
// so that a later process can say why a track is not downloaded. It is
// written when the download fails (EventFailed) and deleted when the job
// completes, when the failed tracks are retried (Add of a request holding
// one, Refresh) and with the job.
type failRec struct {
	Cause string `cbor:"1,keyasint"` // at most MaxFailureCause bytes
	At    int64  `cbor:"2,keyasint"` // wall clock, Unix ms
}

// MaxFailureCause bounds the bytes of a track's failure cause kept in the
// store (TrackFailure.Cause); a longer one is cut at a rune boundary.
const MaxFailureCause = 512

// MaxStoredFailures bounds the failure causes kept in the store: past
// it, the causes of further failed tracks are reported by this Manager
// only (Status), not by one opened later.
const MaxStoredFailures = 1000

// stateRec is the persisted license state (dl/state).
type stateRec struct {
	Revoked bool   `cbor:"1,keyasint"`
	Refused string `cbor:"2,keyasint"`
	// At is the trusted time of the refusal (Unix ms; 0 before it was
	// recorded): renewal is tried again RefusedRetry after it.
	At int64 `cbor:"3,keyasint,omitempty"`
	// Reg identifies the registration (registrationOf its token) the
	// licenses were last issued or renewed under: another one (a
	// registration again, possibly after a deregistration that voided
	// them) makes renewal due at once, so the relay can say so.
	Reg string `cbor:"4,keyasint,omitempty"`
}

// cfgRec is the persisted settings (dl/cfg).
type cfgRec struct {
	AllowMetered bool `cbor:"1,keyasint"`
}

// clockRec is the persisted trusted clock with its monotonic epoch: the
// clock's monotonic readings are opts.mono() − EpochStart, and a new
// epoch (another boot id) starts again from zero, below any persisted
// anchor, so crypto.TrustedClock falls back to max(wall, last trusted).
type clockRec struct {
	BootID     string `cbor:"1,keyasint"`
	Clock      []byte `cbor:"2,keyasint"`
	EpochStart int64  `cbor:"3,keyasint"`
}

// Manager downloads tracks, albums and playlists for offline playback and
// enforces their licenses. Downloads are a durable job table in the store
// plus content-addressed blob files in Deps.BlobDir: every blob is
// streamed from the relay into a temp file while it is hashed, verified
// against its signed manifest, fsynced and renamed into place, and only
// then its done bit is committed — so a crash or kill -9 loses at most the
// blobs in flight and never refetches a completed one. Safe for
// concurrent use.
type Manager struct {
	d     Deps
	opts  Options
	log   *slog.Logger
	rc    *relayClient
	files *blobFiles

	// itemMu serialises the durable state transitions of requests: Add
	// creating one, resolve recording its tracks and job references,
	// Remove releasing them. Network work (album lookup, licensing)
	// happens outside it, so a Remove never waits for the relay, and a
	// resolve that finds its request removed records nothing.
	itemMu sync.Mutex
	// resolved, when set (tests only), is called by resolve after its
	// network work and before it records the result.
	resolved func(Ref)
	// listed, when set (tests only, before the first renewal), is
	// called by renew after it listed the licenses and before it reads
	// which of them are still downloaded.
	listed func()

	mu    sync.Mutex
	items map[Ref]*itemRec
	// damaged are the requests whose dl/item record does not decode,
	// with the decode error: left out of items (their tracks are
	// unknown), listed by Status, removed by Remove.
	damaged   map[Ref]string
	jobs      map[trackTier]*jobRec
	active    map[trackTier]bool
	allowMet  bool
	state     stateRec
	paused    string
	hold      string // pause requested by the app (SetPaused), or ""
	playlists PlaylistFunc
	stopPass  context.CancelFunc
	gen       map[Ref]uint64 // bumped by Refresh and Remove: a resolve in flight is stale
	corrupt   map[[32]byte]bool
	errs      map[Ref]error
	failed    map[trackTier]error
	// lastFail holds the causes of the jobs' last failed downloads: the
	// stored ones (dl/fail/, at most MaxStoredFailures) and this
	// Manager's. failMu serialises their store writes.
	lastFail map[trackTier]failure
	nStored  int // entries of lastFail stored
	failMu   sync.Mutex
	idle     chan struct{} // closed while there is nothing to do
	closed   bool

	commits chan commitReq // to the committer (unbuffered)
	pending chan struct{}  // blobs transferred, not yet committed (maxPendingCommits)
	// coming counts blobs being transferred or waiting to reach the
	// committer: while it is non-zero the committer gathers a larger
	// batch (up to commitWindow) instead of committing at once.
	coming atomic.Int64
	wake   chan struct{}
	// timer, when set (tests: SetTimer), stands for the scheduler's
	// timers: it returns the channel that fires after d.
	timer  atomic.Pointer[func(d time.Duration) <-chan time.Time]
	cancel context.CancelFunc
	done   chan struct{}
	// reconciled is closed once the scheduler's start-up reconcile of
	// the blob files with the store has ended (Status waits for it).
	reconciled chan struct{}

	licMu sync.Mutex
	lics  map[string]*crypto.License // nil until loaded
	byTT  map[trackTier]*crypto.License
	clkMu sync.Mutex
	clock crypto.TrustedClock
	// clockSaved is set, under clkMu, once Close saved the clock: the
	// closed manager writes it no more.
	clockSaved bool
	epoch      time.Duration // opts.mono() reading where this boot's epoch starts
	// markMu serialises writes of opts.markFile; fileMark is the mark
	// (Unix ms) last written or read, -1 when none; nothing is written
	// before markRead (set by loadMarkFile), so a clock persisted while
	// loading does not replace the file before it is read.
	markMu   sync.Mutex
	fileMark int64
	markRead bool
}

// New loads the download state from d.Store (no network I/O) and starts
// the background scheduler, which resumes unfinished downloads as soon as
// the network allows. Close stops it.
func New(ctx context.Context, d Deps, opts Options) (*Manager, error) {
	if d.Store == nil || d.Identity == nil || d.CatalogKey == nil || d.Fetcher == nil {
		return nil, errors.New("download: store, identity, catalog key and fetcher are required")
	}
	if opts.workers == 0 || opts.network == nil || opts.wall == nil || opts.mono == nil || opts.logger == nil {
		return nil, ErrOptions
	}
	d.HTTP = fetch.OrDefault(d.HTTP)
	if d.Token == nil {
		d.Token = func() string { return "" }
	}
	files, err := newBlobFiles(d.BlobDir, d.BlobStore)
	if err != nil {
		return nil, err
	}
	m := &Manager{
		d: d, opts: opts, log: opts.logger, files: files,
		playlists:  opts.playlists,
		gen:        map[Ref]uint64{},
		corrupt:    map[[32]byte]bool{},
		rc:         &relayClient{json: fetch.JSONClient{Origins: d.Relays, Client: d.HTTP, Token: d.Token, MaxBody: maxLicenseResponse}},
		items:      map[Ref]*itemRec{},
		damaged:    map[Ref]string{},
		jobs:       map[trackTier]*jobRec{},
		active:     map[trackTier]bool{},
		errs:       map[Ref]error{},
		failed:     map[trackTier]error{},
		lastFail:   map[trackTier]failure{},
		wake:       make(chan struct{}, 1),
		commits:    make(chan commitReq),
		pending:    make(chan struct{}, maxPendingCommits),
		done:       make(chan struct{}),
		reconciled: make(chan struct{}),
	}
	if err := m.load(ctx); err != nil {
		return nil, err
	}
	m.idle = make(chan struct{})
	if !m.hasWorkLocked() {
		close(m.idle)
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.cancel = cancel
	go m.run(rctx)
	return m, nil
}

// load reads items, jobs, settings, license state and the trusted clock.
func (m *Manager) load(ctx context.Context) error {
	err := m.d.Store.Iterate(ctx, []byte(pItem), false, func(k, v []byte) error {
		var r itemRec
		err := strictDec.Unmarshal(v, &r)
		if err == nil && !bytes.Equal(itemKey(r.ref()), k) {
			err = errors.New("record names another request")
		}
		if err != nil {
			// A damaged record (disk error, hand edit) must not lock
			// the user out of every download: it is listed as damaged
			// and can be removed.
			m.log.Warn("download: download record damaged; skipping it (remove it to release its tracks)", "key", string(k), "err", err)
			if ref, ok := refOfItemKey(k); ok {
				m.damaged[ref] = err.Error()
			}
			return nil
		}
		m.items[r.ref()] = &r
		return nil
	})
	if err != nil {
		return fmt.Errorf("download: load items: %w", err)
	}
	held, spare := m.heldLocked()
	var bad []trackTier
	err = m.d.Store.Iterate(ctx, []byte(pJob), false, func(k, v []byte) error {
		tier, track, ok := splitJobKey(k)
		if !ok {
			m.log.Warn("download: malformed job key; skipping it", "key", string(k))
			return nil
		}
		tt := trackTier{model.TrackID(track), model.Tier(tier)}
		var j jobRec
		err := strictDec.Unmarshal(v, &j)
		if err == nil {
			err = j.check(held[tt], spare[tt.tier])
		}
		if err != nil {
			// A job is work the requests naming its track define: it is
			// rebuilt from them rather than locking the user out of
			// every download.
			m.log.Warn("download: job record damaged; rebuilding it from the requests naming its track", "key", string(k), "err", err)
			bad = append(bad, tt)
			return nil
		}
		m.jobs[tt] = &j
		return nil
	})
	if err != nil {
		return fmt.Errorf("download: load jobs: %w", err)
	}
	for _, tt := range bad {
		if err := m.rebuildJob(ctx, tt, held[tt]+spare[tt.tier]); err != nil {
			return fmt.Errorf("download: rebuild job (store key %s): %w", jobKey(tt), err)
		}
	}
	for tt, j := range m.jobs {
		if !j.complete() {
			if err := m.countDone(ctx, tt, j); err != nil {
				return fmt.Errorf("download: load progress: %w", err)
			}
		}
	}
	if err := m.loadFailures(ctx); err != nil {
		return fmt.Errorf("download: load failures: %w", err)
	}
	m.allowMet = m.opts.allowMetered
	if b, err := m.d.Store.Get(ctx, []byte(kCfg)); err == nil {
		// Settings only: a damaged record falls back to the options,
		// as a missing one does, and the next change overwrites it.
		var c cfgRec
		if err := strictDec.Unmarshal(b, &c); err != nil {
			m.log.Warn("download: settings record damaged; using the defaults", "key", kCfg, "err", err)
		} else {
			m.allowMet = c.AllowMetered
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("download: load settings: %w", err)
	}
	if b, err := m.d.Store.Get(ctx, []byte(kState)); err == nil {
		// Strict: a state reset could revive revoked licenses.
		if err := strictDec.Unmarshal(b, &m.state); err != nil {
			return fmt.Errorf("download: decode license state (store key %s): %w; to recover, move the device's data dir away and register the device again", kState, err)
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("download: load license state: %w", err)
	}
	m.epoch = m.opts.mono()
	b, err := m.d.Store.Get(ctx, []byte(kClock))
	switch {
	case err == nil:
		m.loadClock(b)
	case !errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("download: load trusted clock: %w", err)
	}
	m.loadMarkFile(ctx)
	return m.loadClockMark(ctx)
}

// loadClockMark raises trusted time to the floors other records keep: the
// dl/clockmark written with every persisted clock and the time of the
// last license refusal in dl/state. Both only move forward, so a dl/clock
// copied back from a backup, which restarts trusted time at the backup's
// after a reboot, cannot make an expired license play again. They raise
// the clock and never lower it (RaiseClock); being the device's own
// times, not the relay's, they do not hold off its next signed time. A
// mark that is not 8 bytes is logged and ignored.
func (m *Manager) loadClockMark(ctx context.Context) error {
	if m.state.At > 0 {
		m.RaiseClock(ctx, time.UnixMilli(m.state.At))
	}
	b, err := m.d.Store.Get(ctx, []byte(kClockMark))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("download: load trusted clock mark: %w", err)
	case len(b) != 8:
		m.log.Warn("download: trusted clock mark damaged; ignoring it", "key", kClockMark, "bytes", len(b))
		return nil
	}
	if ms := int64(binary.BigEndian.Uint64(b)); ms > 0 {
		m.RaiseClock(ctx, time.UnixMilli(ms))
	}
	return nil
}

// loadMarkFile raises trusted time to the mark in opts.markFile, the
// copy of dl/clockmark kept outside the data directory
// (WithClockMarkFile). A missing file is skipped; one unreadable or not
// 8 bytes is logged and skipped: it is evidence, never required.
func (m *Manager) loadMarkFile(ctx context.Context) {
	m.markMu.Lock()
	m.fileMark, m.markRead = -1, true
	m.markMu.Unlock()
	if m.opts.markFile == "" {
		return
	}
	b, err := os.ReadFile(m.opts.markFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return
	case err != nil:
		m.log.Warn("download: read the trusted clock mark file; ignoring it", "err", err)
		return
	case len(b) != 8:
		m.log.Warn("download: trusted clock mark file damaged; ignoring it", "path", m.opts.markFile, "bytes", len(b))
		return
	}
	if ms := int64(binary.BigEndian.Uint64(b)); ms > 0 {
		m.markMu.Lock()
		m.fileMark = ms
		m.markMu.Unlock()
		m.RaiseClock(ctx, time.UnixMilli(ms))
	}
}

// writeMarkFile writes mark (Unix ms) to opts.markFile when it moved back
// or by markFileStep or more since the last one written or read:
// a temporary file in the same directory (created 0700 if missing)
// renamed over it. A failure is logged: the file is evidence, never
// required.
func (m *Manager) writeMarkFile(mark int64) {
	if m.opts.markFile == "" {
		return
	}
	m.markMu.Lock()
	defer m.markMu.Unlock()
	if !m.markRead {
		return
	}
	if m.fileMark >= 0 && mark >= m.fileMark && mark-m.fileMark < markFileStep.Milliseconds() {
		return
	}
	if err := writeFileAtomic(m.opts.markFile, binary.BigEndian.AppendUint64(nil, uint64(mark))); err != nil {
		m.log.Warn("download: write the trusted clock mark file", "err", err)
		return
	}
	m.fileMark = mark
}

// markFileStep is how far the mark moves forward before writeMarkFile
// writes it again.
const markFileStep = time.Minute

// writeFileAtomic replaces the file at path with b through a temporary
// file in its directory, creating the directory (0700) if missing.
func writeFileAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return errors.Join(err, os.Remove(f.Name()))
	}
	return nil
}

// loadClock restores the trusted clock from its record (dl/clock). A
// record that does not decode is treated as a missing one, with a
// warning: trusted time then falls back to the larger of the wall clock
// and the newest license's issue time (observeStored), as after a
// deletion of the record (which anyone with the disk can do), so it
// revives nothing.
func (m *Manager) loadClock(b []byte) {
	var c clockRec
	var clk crypto.TrustedClock
	err := strictDec.Unmarshal(b, &c)
	if err == nil {
		err = clk.UnmarshalBinary(c.Clock)
	}
	if err != nil {
		m.log.Warn("download: trusted clock record damaged; ignoring it", "key", kClock, "err", err)
		return
	}
	if c.BootID == m.opts.bootID && time.Duration(c.EpochStart) <= m.epoch {
		m.epoch = time.Duration(c.EpochStart) // same boot: progress continues
	} else {
		// Another boot: its monotonic readings say nothing about this
		// one's.
		clk.Rebooted()
	}
	m.clock = clk
}

// mono is the trusted clock's monotonic reading in this boot's epoch.
func (m *Manager) mono() time.Duration { return m.opts.mono() - m.epoch }

// heldLocked counts, per job, the readable requests naming its track
// (each holds one reference) and, per tier, the damaged requests (each
// may hold one reference to any job of its tier). Caller holds m.mu or
// runs before the scheduler starts.
func (m *Manager) heldLocked() (held map[trackTier]int, spare map[model.Tier]int) {
	held, spare = map[trackTier]int{}, map[model.Tier]int{}
	for r, it := range m.items {
		for _, t := range it.Tracks {
			held[trackTier{model.TrackID(t), r.Tier}]++
		}
	}
	for r := range m.damaged {
		spare[r.Tier]++
	}
	return held, spare
}

// check reports a job record whose references no download can have:
// outside [held, held+spare] (held by the readable requests naming the
// track, spare the damaged requests of its tier), or none. Its progress
// needs no check: an incomplete one is counted from the done bits and
// the totals come from the manifest.
func (j *jobRec) check(held, spare int) error {
	if j.Refs < 1 || j.Refs < held || j.Refs > held+spare {
		return fmt.Errorf("%d references, %d requests name the track (%d damaged ones may)", j.Refs, held, spare)
	}
	return nil
}

// rebuildJob replaces a damaged job record with refs references and no
// progress (counted from its done bits, its totals from the manifest by
// the next pass, which completes it without a transfer when every blob is
// there); with no reference the job is released with its done bits and
// blobs, as removing its last request does. Called by load only.
func (m *Manager) rebuildJob(ctx context.Context, tt trackTier, refs int) error {
	var freed [][32]byte
	err := m.d.Store.Update(ctx, func(tx store.Txn) error {
		freed = freed[:0]
		v, err := detEnc.Marshal(&jobRec{Refs: max(refs, 1)})
		if err != nil {
			return err
		}
		if err := tx.Set(jobKey(tt), v); err != nil {
			return err
		}
		if refs > 0 {
			return nil
		}
		return m.unrefTx(tx, tt, &freed)
	})
	if err != nil {
		return err
	}
	m.unlinkFreed(ctx, freed)
	if refs > 0 {
		m.jobs[tt] = &jobRec{Refs: refs}
	}
	return nil
}

func splitJobKey(k []byte) (tier, track string, ok bool) {
	rest := string(k[len(pJob):])
	for i := 0; i < len(rest); i++ {
		if rest[i] == '/' {
			return rest[:i], rest[i+1:], i > 0 && i+1 < len(rest)
		}
	}
	return "", "", false
}

// resolvableLocked reports whether request r (item it) is to be resolved
// now: unresolved, not failed in this run, and, for a playlist, with a
// resolver to read it (without one it waits for SetPlaylists). Caller
// holds m.mu.
func (m *Manager) resolvableLocked(r Ref, it *itemRec) bool {
	return !it.Resolved && m.errs[r] == nil && (r.Kind != KindPlaylist || m.playlists != nil)
}

// hasWorkLocked reports items to resolve or incomplete jobs. Caller holds m.mu.
func (m *Manager) hasWorkLocked() bool {
	if len(m.corrupt) > 0 {
		return true
	}
	for r, it := range m.items {
		if m.resolvableLocked(r, it) {
			return true
		}
	}
	for tt, j := range m.jobs {
		if !j.complete() && m.failed[tt] == nil {
			return true
		}
	}
	return false
}

// busy marks that there is work and wakes the scheduler.
func (m *Manager) busy() {
	m.mu.Lock()
	select {
	case <-m.idle:
		m.idle = make(chan struct{})
	default:
	}
	m.mu.Unlock()
	m.Nudge()
}

// Nudge makes a paused manager retry at once (call it when the app sees
// connectivity return).
func (m *Manager) Nudge() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *Manager) emit(e Event) {
	if m.opts.events != nil {
		m.opts.events(e)
	}
}

// Add records a download request durably and returns; the scheduler
// resolves it (album tracks from the relay, playlist entries from the
// resolver), obtains one license for its tracks and downloads them;
// tracks the relay reports unavailable are left out (ItemStatus,
// EventUnavailable). Adding a request again is a no-op, unless it failed
// to resolve, left tracks out, holds tracks whose download failed
// (EventFailed: a full disk, a blob failing its check) or holds tracks no
// stored license covers (revoked, then registered again; dropped at a
// renewal): then it is resolved again, which licenses them and retries
// the failed ones.
func (m *Manager) Add(ctx context.Context, r Ref) error {
	if err := r.valid(); err != nil {
		return err
	}
	m.mu.Lock()
	noPlaylists := m.playlists == nil
	m.mu.Unlock()
	if r.Kind == KindPlaylist && noPlaylists {
		return ErrNoPlaylists
	}
	m.itemMu.Lock()
	defer m.itemMu.Unlock()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	it, ok := m.items[r]
	retry := ok && (m.errs[r] != nil || len(it.Unavailable) > 0 || m.trackFailedLocked(r, it))
	_, damaged := m.damaged[r]
	m.mu.Unlock()
	if damaged { // its damaged record goes first, releasing its tracks
		if err := m.removeDamaged(ctx, r); err != nil {
			return fmt.Errorf("download: add %s: %w", r, err)
		}
	}
	if ok && !retry && it.Resolved {
		retry = m.unlicensed(ctx, r, it.Tracks)
	}
	if ok {
		if retry { // adding a failed or incomplete request again retries it
			return m.Refresh(ctx, r)
		}
		return nil
	}
	rec := &itemRec{Kind: string(r.Kind), ID: r.ID, Tier: string(r.Tier), Added: m.opts.wall().UnixMilli()}
	b, err := detEnc.Marshal(rec)
	if err != nil {
		return err
	}
	if err := m.d.Store.Set(ctx, itemKey(r), b); err != nil {
		return fmt.Errorf("download: add %s: %w", r, err)
	}
	m.mu.Lock()
	m.items[r] = rec
	delete(m.errs, r)
	clear(m.failed)
	m.mu.Unlock()
	m.forgetFailures(ctx)
	m.emit(Event{Kind: EventQueued, Ref: r})
	m.busy()
	return nil
}

// trackFailedLocked reports whether one of its tracks at r's tier
// failed to download in this session (a disk or integrity error). Caller
// holds m.mu.
func (m *Manager) trackFailedLocked(r Ref, it *itemRec) bool {
	for _, t := range it.Tracks {
		if m.failed[trackTier{model.TrackID(t), r.Tier}] != nil {
			return true
		}
	}
	return false
}

// unlicensed reports whether a stored license is missing for one of
// tracks at r's tier (all of them after a revocation).
func (m *Manager) unlicensed(ctx context.Context, r Ref, tracks []string) bool {
	for _, t := range tracks {
		if !m.licensed(ctx, trackTier{model.TrackID(t), r.Tier}) {
			return true
		}
	}
	return false
}

// Refresh re-resolves a downloaded playlist (or album): new entries are
// licensed and fetched, removed entries' blobs are released unless
// another download still needs them.
func (m *Manager) Refresh(ctx context.Context, r Ref) error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	it, ok := m.items[r]
	if ok {
		c := *it
		c.Resolved = false
		m.items[r] = &c
		m.gen[r]++
		delete(m.errs, r)
		clear(m.failed)
	}
	m.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotDownloaded, r)
	}
	m.forgetFailures(ctx)
	m.busy()
	return nil
}

// RefreshPlaylist refreshes the downloads of playlist id at every tier
// (see Refresh); it does nothing when the playlist is not downloaded.
// The engine calls it whenever the playlist's document changes.
func (m *Manager) RefreshPlaylist(ctx context.Context, id string) error {
	if err := m.open(); err != nil {
		return err
	}
	m.mu.Lock()
	var refs []Ref
	for r := range m.items {
		if r.Kind == KindPlaylist && r.ID == id {
			refs = append(refs, r)
		}
	}
	m.mu.Unlock()
	for _, r := range refs {
		if err := m.Refresh(ctx, r); err != nil {
			return err
		}
	}
	return nil
}

// Playlists returns the ids of the downloaded playlists (any tier), in
// order.
func (m *Manager) Playlists() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for r := range m.items {
		if r.Kind == KindPlaylist && !slices.Contains(ids, r.ID) {
			ids = append(ids, r.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// SetPlaylists sets (or, with nil, clears) the playlist resolver, which
// replaces the one of WithPlaylists. Playlist downloads that failed to
// resolve are retried with the new resolver. Without a resolver, playlist
// downloads still to be resolved wait (they are not failures; Status
// reports them unresolved, with the cause of their last failure if any).
func (m *Manager) SetPlaylists(fn PlaylistFunc) {
	m.mu.Lock()
	m.playlists = fn
	for r := range m.errs {
		if r.Kind == KindPlaylist {
			delete(m.errs, r)
		}
	}
	m.mu.Unlock()
	m.busy()
}

// SetPaused pauses every download with reason (non-empty; reported as
// Status.Paused and in EventPaused) or, with "", lifts the pause. Pausing
// cancels the blobs in flight (their partial files are removed, their
// done bits never set) and stops license renewals until resumed; playback
// of downloaded tracks is unaffected. The engine's offline mode uses it.
func (m *Manager) SetPaused(reason string) {
	m.mu.Lock()
	m.hold = reason
	stop := m.stopPass
	m.mu.Unlock()
	if reason != "" && stop != nil {
		stop()
	}
	m.Nudge()
}

// Remove deletes a download request. Tracks no other request references
// are deleted with their blobs (shared tracks stay, counted once). A
// resolve of the request in flight records nothing once Remove returns.
func (m *Manager) Remove(ctx context.Context, r Ref) error {
	m.itemMu.Lock()
	defer m.itemMu.Unlock()
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return ErrClosed
	}
	it, ok := m.items[r]
	_, damaged := m.damaged[r]
	m.mu.Unlock()
	if damaged {
		return m.removeDamaged(ctx, r)
	}
	if !ok {
		return fmt.Errorf("%w: %s", ErrNotDownloaded, r)
	}
	tracks := slices.Clone(it.Tracks)
	var freed [][32]byte
	defer func() { m.unlinkFreed(ctx, freed) }()
	for len(tracks) > 0 {
		// One transaction per batch: the item's track list shrinks with
		// the references it releases, so a crash never double-releases.
		n := min(len(tracks), 256)
		batch, rest := tracks[:n], tracks[n:]
		n0 := len(freed)
		err := m.d.Store.Update(ctx, func(tx store.Txn) error {
			freed = freed[:n0]
			for _, t := range batch {
				if err := m.unrefTx(tx, trackTier{model.TrackID(t), r.Tier}, &freed); err != nil {
					return err
				}
			}
			cur := *it
			cur.Tracks = rest
			b, err := detEnc.Marshal(&cur)
			if err != nil {
				return err
			}
			return tx.Set(itemKey(r), b)
		})
		if err != nil {
			return fmt.Errorf("download: remove %s: %w", r, err)
		}
		m.refreshJobs(ctx, r.Tier, batch)
		tracks = rest
	}
	if err := m.d.Store.Delete(ctx, itemKey(r)); err != nil {
		return fmt.Errorf("download: remove %s: %w", r, err)
	}
	m.mu.Lock()
	delete(m.items, r)
	delete(m.errs, r)
	m.gen[r]++ // a resolve begun before is stale, even if r is added again
	m.mu.Unlock()
	m.emit(Event{Kind: EventRemoved, Ref: r})
	return nil
}

// removeDamaged removes request r whose record does not decode (so its
// tracks are unknown). Every job at r's tier holds one reference per
// request listing it, so the references no readable request accounts
// for are those of the damaged ones: once no other damaged request at
// r's tier remains, they are released (batch by batch, each job's
// surplus at once; a crash between batches leaves a surplus that a
// removal again releases), then the record is deleted. Caller holds
// itemMu.
func (m *Manager) removeDamaged(ctx context.Context, r Ref) error {
	m.mu.Lock()
	others := false
	for d := range m.damaged {
		others = others || (d != r && d.Tier == r.Tier)
	}
	held := map[model.TrackID]int{}
	for ir, it := range m.items {
		if ir.Tier == r.Tier {
			for _, t := range it.Tracks {
				held[model.TrackID(t)]++
			}
		}
	}
	var tracks []string
	for tt := range m.jobs {
		if tt.tier == r.Tier {
			tracks = append(tracks, string(tt.track))
		}
	}
	m.mu.Unlock()
	if others {
		tracks = nil // the surplus is theirs too: released with the last
	}
	slices.Sort(tracks)
	var freed [][32]byte
	defer func() { m.unlinkFreed(ctx, freed) }()
	for len(tracks) > 0 {
		batch := tracks[:min(len(tracks), 256)]
		tracks = tracks[len(batch):]
		n0 := len(freed)
		err := m.d.Store.Update(ctx, func(tx store.Txn) error {
			freed = freed[:n0]
			for _, t := range batch {
				tt := trackTier{model.TrackID(t), r.Tier}
				b, err := tx.Get(jobKey(tt))
				if errors.Is(err, store.ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				var j jobRec
				if err := strictDec.Unmarshal(b, &j); err != nil {
					return err
				}
				for range j.Refs - held[tt.track] {
					if err := m.unrefTx(tx, tt, &freed); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("download: remove %s: %w", r, err)
		}
		m.refreshJobs(ctx, r.Tier, batch)
	}
	if err := m.d.Store.Delete(ctx, itemKey(r)); err != nil {
		return fmt.Errorf("download: remove %s: %w", r, err)
	}
	m.mu.Lock()
	delete(m.damaged, r)
	delete(m.errs, r)
	m.gen[r]++
	m.mu.Unlock()
	m.emit(Event{Kind: EventRemoved, Ref: r})
	return nil
}

// unrefTx drops one reference to a job; at zero the job, its done bits
// and its blob references go, and the hashes of blobs nobody references
// any more are appended to freed (their files are unlinked after the
// commit, unlinkFreed).
func (m *Manager) unrefTx(tx store.Txn, tt trackTier, freed *[][32]byte) error {
	b, err := tx.Get(jobKey(tt))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	var j jobRec
	if err := strictDec.Unmarshal(b, &j); err != nil {
		return err
	}
	j.Refs--
	if j.Refs > 0 {
		v, err := detEnc.Marshal(&j)
		if err != nil {
			return err
		}
		return tx.Set(jobKey(tt), v)
	}
	if err := tx.Delete(metaKey(tt)); err != nil {
		return err
	}
	if err := tx.Delete(failKey(tt)); err != nil {
		return err
	}
	var done [][]byte
	var hashes [][32]byte
	if err := tx.Iterate(donePrefix(tt), false, func(k, v []byte) error {
		done = append(done, append([]byte(nil), k...))
		var h [32]byte
		if len(v) == 40 {
			copy(h[:], v)
			hashes = append(hashes, h)
		}
		return nil
	}); err != nil {
		return err
	}
	for _, k := range done {
		if err := tx.Delete(k); err != nil {
			return err
		}
	}
	for _, h := range hashes {
		gone, err := releaseBlobTx(tx, h)
		if err != nil {
			return err
		}
		if gone {
			*freed = append(*freed, h)
		}
	}
	return tx.Delete(jobKey(tt))
}

// releaseBlobTx decrements a pinned blob's reference count; gone is true
// when it reached zero (the reference is deleted; the file goes after the
// commit).
func releaseBlobTx(tx store.Txn, h [32]byte) (gone bool, err error) {
	b, err := tx.Get(refKey(h))
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	n := uint32(0)
	if len(b) == 4 {
		n = binary.BigEndian.Uint32(b)
	}
	if n <= 1 {
		return true, tx.Delete(refKey(h))
	}
	return false, tx.Set(refKey(h), binary.BigEndian.AppendUint32(nil, n-1))
}

// unlinkFreed removes the files of blobs whose last reference a committed
// transaction released, unless a reference came back meanwhile (checked
// under the hash's lock, which installs also hold). A failure leaves an
// orphan file that the next start removes.
func (m *Manager) unlinkFreed(ctx context.Context, freed [][32]byte) {
	for _, h := range freed {
		mu := m.files.lock(h)
		mu.Lock()
		_, err := m.d.Store.Get(context.WithoutCancel(ctx), refKey(h))
		if errors.Is(err, store.ErrNotFound) {
			err = m.files.remove(h)
		}
		mu.Unlock()
		if err != nil {
			m.log.Warn("download: release blob file", "hash", hex.EncodeToString(h[:]), "err", err)
		}
	}
}

// refreshJobs brings the in-memory jobs of tracks in line with the
// store after a reference change: new jobs are loaded, removed ones
// dropped, live ones get their reference count (their progress counters
// are the truth in memory).
func (m *Manager) refreshJobs(ctx context.Context, tier model.Tier, tracks []string) {
	for _, t := range tracks {
		tt := trackTier{model.TrackID(t), tier}
		j, err := m.loadJob(ctx, tt)
		m.mu.Lock()
		switch cur, ok := m.jobs[tt]; {
		case err != nil:
			delete(m.jobs, tt)
		case ok:
			cur.Refs = j.Refs
		default:
			m.jobs[tt] = &j
		}
		m.mu.Unlock()
	}
}

// loadJob reads a job record; an incomplete job's progress is counted
// from its done bits (hash ‖ u64 size each).
func (m *Manager) loadJob(ctx context.Context, tt trackTier) (jobRec, error) {
	var j jobRec
	b, err := m.d.Store.Get(ctx, jobKey(tt))
	if err != nil {
		return j, err
	}
	if err := strictDec.Unmarshal(b, &j); err != nil {
		return j, fmt.Errorf("decode job %s/%s: %w", tt.track, tt.tier, err)
	}
	if j.complete() {
		return j, nil
	}
	return j, m.countDone(ctx, tt, &j)
}

// countDone sets j's progress from the done bits in the store.
func (m *Manager) countDone(ctx context.Context, tt trackTier, j *jobRec) error {
	j.Done, j.DoneBytes = 0, 0
	return m.d.Store.Iterate(ctx, donePrefix(tt), false, func(_, v []byte) error {
		if len(v) == 40 {
			j.Done++
			j.DoneBytes += int64(binary.BigEndian.Uint64(v[32:]))
		}
		return nil
	})
}

// SetAllowMetered changes and persists the metered-network setting.
func (m *Manager) SetAllowMetered(ctx context.Context, ok bool) error {
	if err := m.open(); err != nil {
		return err
	}
	b, err := detEnc.Marshal(cfgRec{AllowMetered: ok})
	if err != nil {
		return err
	}
	if err := m.d.Store.Set(ctx, []byte(kCfg), b); err != nil {
		return fmt.Errorf("download: save settings: %w", err)
	}
	m.mu.Lock()
	m.allowMet = ok
	m.mu.Unlock()
	m.Nudge()
	return nil
}

// Wait blocks until nothing is left to resolve or download (or ctx ends)
// and returns the failures of requests that could not be resolved: of
// refs only when refs are given (a caller that added them is not failed
// by an older request's error), else of every request. While the manager
// is paused (offline, metered) it keeps waiting.
func (m *Manager) Wait(ctx context.Context, refs ...Ref) error {
	for {
		m.mu.Lock()
		ch := m.idle
		m.mu.Unlock()
		select {
		case <-ch:
			m.mu.Lock()
			if !m.hasWorkLocked() {
				var errs []error
				for r, err := range m.errs {
					if len(refs) == 0 || slices.Contains(refs, r) {
						errs = append(errs, fmt.Errorf("%s: %w", r, err))
					}
				}
				m.mu.Unlock()
				return errors.Join(errs...)
			}
			m.mu.Unlock()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// open returns ErrClosed once Close began: a closed manager changes
// neither the store nor the blob files, which a manager opened after it
// on the same store now owns.
func (m *Manager) open() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	return nil
}

// Close stops the scheduler and waits for in-flight blobs to finish or
// be abandoned (their done bits are not set), and saves the trusted
// clock for the last time. Safe to call twice. Later calls of Add,
// Remove, Refresh, RefreshPlaylist, Renew, Verify, SetAllowMetered,
// Status, ContentKey, Blob, TrackInfo, AlbumInfo and ObserveStatement
// return ErrClosed, and no call writes the trusted clock again.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	m.mu.Unlock()
	m.cancel()
	<-m.done
	m.licMu.Lock()
	m.lics, m.byTT = nil, nil
	m.licMu.Unlock()
	m.clkMu.Lock()
	defer m.clkMu.Unlock()
	err := m.persistClockLocked(context.Background())
	m.clockSaved = true
	return err
}

// Blob returns a pinned downloaded blob by its SHA-256 (the encrypted
// bytes read from its file, caller-owned), for the fetcher's pinned
// lookup. ok is false when the blob is not downloaded. A file whose bytes
// no longer hash to h (disk corruption, tampering) is not returned: it
// is scheduled for repair (its done bits dropped, the blob downloaded
// again) and ok is false, so playback falls back to the network. A
// closed manager returns ErrClosed: the files belong to the manager
// opened after it.
func (m *Manager) Blob(ctx context.Context, h [32]byte) ([]byte, bool, error) {
	if err := m.open(); err != nil {
		return nil, false, err
	}
	b, ok, err := m.files.read(h)
	if err != nil {
		return nil, false, fmt.Errorf("download: read blob: %w", err)
	}
	if !ok {
		return nil, false, nil
	}
	if sha256.Sum256(b) != h {
		m.log.Warn("download: blob file corrupt; downloading it again", "hash", hex.EncodeToString(h[:]))
		m.mu.Lock()
		m.corrupt[h] = true
		m.mu.Unlock()
		m.busy()
		return nil, false, nil
	}
	return b, true, nil
}

// Downloaded reports whether (track, tier) is completely downloaded.
func (m *Manager) Downloaded(track model.TrackID, tier model.Tier) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[trackTier{track, tier}]
	return ok && j.complete()
}

// Holds reports whether a download of (track, tier) is requested,
// complete or not: only then can its blobs be in the blob store. A
// player reading blobs of a track it does not hold can skip the store
// (a web player's IndexedDB read costs a transaction on the page).
func (m *Manager) Holds(track model.TrackID, tier model.Tier) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.jobs[trackTier{track, tier}]
	return ok
}

func newNonce() []byte {
	n := make([]byte, api.NonceSize)
	_, _ = rand.Read(n) // crypto/rand.Read never fails (Go ≥ 1.24)
	return n
}

// backoff doubles d within the configured bounds.
func (m *Manager) backoff(d time.Duration) time.Duration {
	if d == 0 {
		return m.opts.backoffMin
	}
	return min(2*d, m.opts.backoffMax)
}

package fraud

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/cborx"
	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/store"
)

// Errors of the scan.
var (
	// ErrCorrupt: a stored flag does not decode.
	ErrCorrupt = errors.New("fraud: corrupt record")
	// ErrIncomplete: event retention may have removed plays of the
	// scanned month (the log's first kept event arrived later than
	// PruneMargin before the month began); nothing was written, the
	// month keeps its earlier flags.
	ErrIncomplete = errors.New("fraud: the month's play events are partly removed by retention")
)

// PruneMargin: a play of a month reaches the event log at the earliest its
// start less the relay's allowed clock skew (minutes), so a log whose
// first kept event arrived at least this long before the month began
// still holds every play of the month.
const PruneMargin = 24 * time.Hour

// ScanOptions configures Scan. DefaultScanOptions: DefaultModel,
// DefaultMinPlays, DefaultGroupOptions, the system clock, no AccountInfo,
// at most 10,000 flags per month, slog.Default().
type ScanOptions struct {
	model    *Model
	minPlays int
	groups   GroupOptions
	maxFlags int
	now      func() time.Time
	info     map[model.UserID]AccountInfo
	lg       *slog.Logger
}

// MaxFlagsLimit bounds WithMaxFlags: the flags of one scan are written in
// one store transaction, which may hold fewer (about 6,500 group flags on
// Badger's default 16 MiB memtable); Scan then leaves the weakest out.
const MaxFlagsLimit = 20_000

// DefaultScanOptions returns the defaults above (the shipped model is
// embedded and checked by the package's tests, so it always parses).
func DefaultScanOptions() ScanOptions {
	m, err := DefaultModel()
	if err != nil {
		panic(err) // the embedded model is checked by TestDefaultModel
	}
	return ScanOptions{model: m, minPlays: DefaultMinPlays, groups: DefaultGroupOptions(), maxFlags: 10_000, now: time.Now, lg: slog.Default()}
}

// WithModel sets the model.
func (o ScanOptions) WithModel(m *Model) ScanOptions { o.model = m; return o }

// WithMinPlays sets the fewest plays an account needs to be scored (≥ 1).
func (o ScanOptions) WithMinPlays(n int) ScanOptions { o.minPlays = n; return o }

// WithGroups sets the group check of the light accounts
// (Extractor.Groups; MaxStreams at least the minimum of plays).
func (o ScanOptions) WithGroups(g GroupOptions) ScanOptions { o.groups = g; return o }

// WithMaxFlags sets the most accounts one scan may flag (1–MaxFlagsLimit).
func (o ScanOptions) WithMaxFlags(n int) ScanOptions { o.maxFlags = n; return o }

// WithClock sets the clock the flags' time comes from.
func (o ScanOptions) WithClock(now func() time.Time) ScanOptions { o.now = now; return o }

// WithInfo supplies the accounts' IP and social facts (AccountInfo); the
// map is kept, not copied.
func (o ScanOptions) WithInfo(info map[model.UserID]AccountInfo) ScanOptions { o.info = info; return o }

// WithLogger sets the logger (nil: discard).
func (o ScanOptions) WithLogger(l *slog.Logger) ScanOptions {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	o.lg = l
	return o
}

// Flag is a flagged account of a month as stored under fraud/<month>/a/.
type Flag struct {
	User        model.UserID `cbor:"1,keyasint" json:"user"`
	Score       float64      `cbor:"2,keyasint" json:"score"`
	Threshold   float64      `cbor:"3,keyasint" json:"threshold"`
	Explanation string       `cbor:"4,keyasint" json:"explanation"`
	Plays       int          `cbor:"5,keyasint" json:"plays"` // streams (plays of at least MinPlayedMs)
	Time        int64        `cbor:"6,keyasint" json:"time"`  // Unix ms of the scan
	// Group is, for a light account flagged with its group
	// (Extractor.Groups), the number of accounts in the group, and the
	// Explanation gives the group's evidence; Score is then the model's
	// score of the account's own streams, which did not flag it (under the
	// threshold, or too few streams to be scored). 0 for an account
	// flagged by its own score.
	Group int `cbor:"7,keyasint,omitempty" json:"group,omitempty"`
}

// ScanRecord summarises a month's last scan (fraud/<month>/scan).
type ScanRecord struct {
	Month    string `cbor:"1,keyasint" json:"month"`
	Time     int64  `cbor:"2,keyasint" json:"time"` // Unix ms
	Events   int    `cbor:"3,keyasint" json:"events"`
	Accounts int    `cbor:"4,keyasint" json:"accounts"`
	Scored   int    `cbor:"5,keyasint" json:"scored"`
	Flagged  int    `cbor:"6,keyasint" json:"flagged"`
	Model    string `cbor:"7,keyasint" json:"model"`
	// Groups is the number of groups of light accounts flagged (their
	// accounts are among Flagged).
	Groups int `cbor:"8,keyasint,omitempty" json:"groups,omitempty"`
	// GroupsSkipped: Heavy was under three quarters, so no group was
	// looked for (Extractor.Groups). Key 9 held the light accounts' share
	// of all the streams, a farm's own included, which turned the check off
	// over a quarter until 2026-12-07.
	GroupsSkipped bool `cbor:"10,keyasint,omitempty" json:"groups_skipped,omitempty"`
	// LeftOut is the number of accounts the scan found but did not flag
	// because it reached its limit of flags (MaxFlags) or what one store
	// transaction holds: the weakest evidence (Scan). 0 when every
	// account found was flagged.
	LeftOut int `cbor:"11,keyasint,omitempty" json:"left_out,omitempty"`
	// MaxFlags is the scan's limit of flags (ScanOptions.WithMaxFlags).
	MaxFlags int `cbor:"12,keyasint,omitempty" json:"max_flags,omitempty"`
	// Heavy is the share of the month's streams made by the accounts of
	// GroupOptions.MaxStreams or more, the light accounts' streams on
	// group tracks left out, against which the group check judges a
	// track (Extractor.Groups).
	Heavy float64 `cbor:"13,keyasint,omitempty" json:"heavy,omitempty"`
}

var (
	enc = cborx.EncMode()
	dec = cborx.Limits{MaxNestedLevels: 4, MaxArrayElements: 16, MaxMapPairs: 16}.DecMode()
)

// Store keys (docs/ARCHITECTURE.md §5).
func flagPrefix(month string) []byte { return []byte("fraud/" + month + "/a/") }
func scanKey(month string) []byte    { return []byte("fraud/" + month + "/scan") }

// readPage is how many log entries Scan reads at a time.
const readPage = 10_000

// Scan scores every account with plays started in month (YYYY-MM, UTC)
// in the event log and records the month's flags in st: one Flag per
// account scoring at or over the model's threshold (with at least the
// minimum plays), one per other account of a group of light accounts
// streaming the same few tracks (Extractor.Groups), and the
// ScanRecord. The flags replace the month's previous ones in one
// transaction, so a scan is idempotent (the same log gives the same
// flags; only the time changes) and a failed scan leaves the previous
// flags whole. It reads the whole log (memory grows with the month's
// accounts and their distinct tracks; the group check adds a few words
// per light account and per distinct track of the month); when retention may have removed some of the
// month's events it fails with ErrIncomplete, since flags from part of a
// month would replace those of all of it.
func Scan(ctx context.Context, st store.Store, log events.Log, month string, opts ScanOptions) (ScanRecord, []Flag, error) {
	switch {
	case !counting.ValidMonth(month):
		return ScanRecord{}, nil, counting.ErrBadMonth
	case opts.model == nil || opts.minPlays < 1 || opts.groups.minAccounts < 2 || opts.groups.maxStreams < max(opts.minPlays, 2) || opts.maxFlags < 1 || opts.maxFlags > MaxFlagsLimit || opts.now == nil:
		return ScanRecord{}, nil, fmt.Errorf("fraud: scan: bad options")
	}
	first, err := events.FirstKept(ctx, log)
	if err != nil {
		return ScanRecord{}, nil, fmt.Errorf("fraud: scan: %w", err)
	}
	if first > 0 {
		es, err := log.Read(ctx, first, 1)
		if err != nil {
			return ScanRecord{}, nil, fmt.Errorf("fraud: scan: read log: %w", err)
		}
		start, _ := time.Parse("2006-01", month) // month is valid
		if len(es) == 0 || es[0].Received > start.Add(-PruneMargin).UnixMilli() {
			return ScanRecord{}, nil, fmt.Errorf("%w: %s: events before offset %d removed", ErrIncomplete, month, first)
		}
	}
	x := NewExtractor()
	rec := ScanRecord{Month: month, Model: opts.model.Trained}
	for from := first; ; {
		es, err := log.Read(ctx, from, readPage)
		if err != nil {
			return ScanRecord{}, nil, fmt.Errorf("fraud: scan: read log: %w", err)
		}
		if len(es) == 0 {
			break
		}
		for _, e := range es {
			if counting.Month(e.Event.StartedAt) == month {
				x.Add(Play{Device: e.Device, User: e.User, Event: e.Event})
				rec.Events++
			}
		}
		from = es[len(es)-1].Offset + 1
	}
	in := NewInputs(opts.info)
	now := opts.now().UnixMilli()
	var flags []Flag
	for _, u := range x.Users() {
		rec.Accounts++
		n := x.Plays(u)
		if n < opts.minPlays {
			continue
		}
		rec.Scored++
		f, _ := x.Account(u, in)
		s := opts.model.Score(f)
		if s.Flagged {
			flags = append(flags, Flag{User: u, Score: s.Value, Threshold: opts.model.Threshold, Explanation: s.Explain(opts.model.Threshold), Plays: n, Time: now})
		}
	}
	groups, heavy, checked := x.Groups(opts.groups)
	rec.Heavy, rec.GroupsSkipped = heavy, !checked
	byScore := make(map[model.UserID]bool, len(flags))
	for _, f := range flags {
		byScore[f.User] = true
	}
	onTracks := map[model.UserID]int{} // a group account's streams on its group's tracks
	for _, g := range groups {
		rec.Groups++
		for _, u := range g.Accounts {
			if byScore[u] {
				continue // flagged by its score, which says more
			}
			f, _ := x.Account(u, in)
			flags = append(flags, Flag{User: u, Score: opts.model.Score(f).Value, Threshold: opts.model.Threshold, Explanation: g.Explain(x, u),
				Plays: x.Plays(u), Time: now, Group: len(g.Accounts)})
			onTracks[u] = g.onTracks(x, u)
		}
	}
	// The strongest flags first, as many as the limit and one store
	// transaction hold.
	rec.MaxFlags, rec.Time = opts.maxFlags, now
	slices.SortFunc(flags, func(a, b Flag) int { return strongerFirst(a, b, onTracks) })
	found := len(flags)
	flags = flags[:min(found, opts.maxFlags)]
	txnFull := false
	for {
		rec.Flagged, rec.LeftOut = len(flags), found-len(flags)
		fit, err := storeFlags(ctx, st, month, rec, flags)
		if err == nil {
			break
		}
		if !errors.Is(err, store.ErrTxnTooBig) || len(flags) == 0 {
			return ScanRecord{}, nil, fmt.Errorf("fraud: scan: store flags: %w", err)
		}
		txnFull = true
		flags = flags[:min(fit, len(flags)-1)*9/10] // a tenth spare for the commit's own entries
	}
	if rec.LeftOut > 0 {
		opts.lg.Warn("fraud: scan over its flag limit, the weakest flags left out", "month", month, "flagged", rec.Flagged, "left_out", rec.LeftOut, "limit", opts.maxFlags, "transaction_full", txnFull)
	}
	slices.SortFunc(flags, func(a, b Flag) int { return strings.Compare(string(a.User), string(b.User)) })
	opts.lg.Info("fraud scan", "month", month, "left_out", rec.LeftOut, "events", rec.Events, "accounts", rec.Accounts, "scored", rec.Scored, "flagged", rec.Flagged, "groups", rec.Groups, "heavy", rec.Heavy, "groups_skipped", rec.GroupsSkipped)
	return rec, flags, nil
}

// storeFlags replaces the month's flags with flags and its scan record
// with rec, in one transaction; flags set again are not deleted first, so
// a rescan with the same flags needs no more room than the first scan.
// When the transaction cannot hold them it fails with store.ErrTxnTooBig,
// nothing written, and fit is how many of flags, in order, it held.
func storeFlags(ctx context.Context, st store.Store, month string, rec ScanRecord, flags []Flag) (fit int, err error) {
	keep := make(map[string]bool, len(flags))
	for _, f := range flags {
		keep[string(append(flagPrefix(month), f.User...))] = true
	}
	err = st.Update(ctx, func(tx store.Txn) error {
		var old [][]byte // the month's flags not set again
		if err := tx.Iterate(flagPrefix(month), false, func(k, _ []byte) error {
			if !keep[string(k)] {
				old = append(old, slices.Clone(k))
			}
			return nil
		}); err != nil {
			return err
		}
		for _, k := range old {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		b, err := enc.Marshal(rec)
		if err != nil {
			return err
		}
		if err := tx.Set(scanKey(month), b); err != nil {
			return err
		}
		for i, f := range flags {
			b, err := enc.Marshal(f)
			if err != nil {
				return err
			}
			if err := tx.Set(append(flagPrefix(month), f.User...), b); err != nil {
				return err
			}
			fit = i + 1
		}
		return nil
	})
	return fit, err
}

// strongerFirst orders flags by the strength of their evidence, for the
// limit of flags: the accounts flagged by their own score first, highest
// score first; then the group accounts, most streams on their group's
// tracks first (onTracks), then most streams; ties by user id. A farm
// cannot push other bots' flags out with many accounts of a few streams
// each: its own weakest accounts are the ones left out.
func strongerFirst(a, b Flag, onTracks map[model.UserID]int) int {
	if (a.Group == 0) != (b.Group == 0) {
		if a.Group == 0 {
			return -1
		}
		return 1
	}
	if a.Group == 0 {
		return cmp.Or(cmp.Compare(b.Score, a.Score), strings.Compare(string(a.User), string(b.User)))
	}
	return cmp.Or(cmp.Compare(onTracks[b.User], onTracks[a.User]), cmp.Compare(b.Plays, a.Plays), strings.Compare(string(a.User), string(b.User)))
}

// Flags returns the month's stored flags, by user id.
func Flags(ctx context.Context, st store.Store, month string) ([]Flag, error) {
	if !counting.ValidMonth(month) {
		return nil, counting.ErrBadMonth
	}
	var out []Flag
	err := st.Iterate(ctx, flagPrefix(month), false, func(k, v []byte) error {
		var f Flag
		if err := dec.Unmarshal(v, &f); err != nil {
			return fmt.Errorf("%w: %s: %v", ErrCorrupt, k, err)
		}
		if string(f.User) != strings.TrimPrefix(string(k), string(flagPrefix(month))) {
			return fmt.Errorf("%w: %s holds user %q", ErrCorrupt, k, f.User)
		}
		out = append(out, f)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("fraud: flags: %w", err)
	}
	return out, nil
}

// LastScan returns the month's scan record, or store.ErrNotFound when the
// month was never scanned.
func LastScan(ctx context.Context, st store.Store, month string) (ScanRecord, error) {
	if !counting.ValidMonth(month) {
		return ScanRecord{}, counting.ErrBadMonth
	}
	b, err := st.Get(ctx, scanKey(month))
	if err != nil {
		return ScanRecord{}, fmt.Errorf("fraud: last scan: %w", err)
	}
	var r ScanRecord
	if err := dec.Unmarshal(b, &r); err != nil {
		return ScanRecord{}, fmt.Errorf("%w: scan record: %v", ErrCorrupt, err)
	}
	return r, nil
}

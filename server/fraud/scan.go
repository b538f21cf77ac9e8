package fraud

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
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
	// ErrNotScanned: the month has no scan record (Covers).
	ErrNotScanned = errors.New("fraud: month not scanned")
	// ErrStale: streams of the month were counted after its last scan
	// read the log (Covers).
	ErrStale = errors.New("fraud: streams counted after the month's last scan")
	// ErrConcurrentScan: another scan of the month committed while this
	// one wrote its flags; this one's flags are not made visible.
	ErrConcurrentScan = errors.New("fraud: another scan of the month committed first")
)

// PruneMargin: a play of a month reaches the event log at the earliest its
// start less the relay's allowed clock skew (minutes), so a log whose
// first kept event arrived at least this long before the month began
// still holds every play of the month.
const PruneMargin = 24 * time.Hour

// FlagsPerTxn is the most flags (or stale flag keys deleted) one store
// transaction of Scan holds; a batch the store cannot commit whole
// (store.ErrTxnTooBig) is halved until it fits.
const FlagsPerTxn = 1_000

// ScanOptions configures Scan. DefaultScanOptions: DefaultModel,
// DefaultMinPlays, DefaultGroupOptions, the system clock, no AccountInfo,
// slog.Default().
type ScanOptions struct {
	model    *Model
	minPlays int
	groups   GroupOptions
	now      func() time.Time
	info     map[model.UserID]AccountInfo
	lg       *slog.Logger
}

// DefaultScanOptions returns the defaults above (the shipped model is
// embedded and checked by the package's tests, so it always parses).
func DefaultScanOptions() ScanOptions {
	m, err := DefaultModel()
	if err != nil {
		panic(err) // the embedded model is checked by TestDefaultModel
	}
	return ScanOptions{model: m, minPlays: DefaultMinPlays, groups: DefaultGroupOptions(), now: time.Now, lg: slog.Default()}
}

// WithModel sets the model.
func (o ScanOptions) WithModel(m *Model) ScanOptions { o.model = m; return o }

// WithMinPlays sets the fewest plays an account needs to be scored (≥ 1).
func (o ScanOptions) WithMinPlays(n int) ScanOptions { o.minPlays = n; return o }

// WithGroups sets the group check of the light accounts
// (Extractor.Groups; MaxStreams at least the minimum of plays).
func (o ScanOptions) WithGroups(g GroupOptions) ScanOptions { o.groups = g; return o }

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

// Flag is a flagged account of a month as stored under
// fraud/<month>/g/<generation>/.
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
	// Keys 11 and 12 held the accounts found and not flagged over the
	// scan's limit of flags and that limit, until 2026-12-08: their
	// streams were paid. A scan now writes every flag it finds.

	// Heavy is the share of the month's streams made by the accounts of
	// GroupOptions.MaxStreams or more, the light accounts' streams on
	// group tracks left out, against which the group check judges a
	// track (Extractor.Groups).
	Heavy float64 `cbor:"13,keyasint,omitempty" json:"heavy,omitempty"`
	// Through is the log offset after the last entry the scan read: the
	// plays it checked are those before it (Covers). 0 in a scan before
	// 2026-12-08.
	Through uint64 `cbor:"15,keyasint,omitempty" json:"through,omitempty"`
	// Gen is the generation of the month's flags: Flags reads
	// fraud/<month>/g/<Gen>/. 0 (a scan before 2026-12-08): the flags
	// are under fraud/<month>/a/.
	Gen uint64 `cbor:"14,keyasint,omitempty" json:"gen,omitempty"`
}

var (
	enc = cborx.EncMode()
	dec = cborx.Limits{MaxNestedLevels: 4, MaxArrayElements: 16, MaxMapPairs: 16}.DecMode()
)

// Store keys (docs/ARCHITECTURE.md §5): a generation's flags under
// fraud/<month>/g/<gen, 16 hex digits>/<user>; generation 0 is the
// layout before generations, fraud/<month>/a/<user>.
func scanKey(month string) []byte    { return []byte("fraud/" + month + "/scan") }
func gensPrefix(month string) []byte { return []byte("fraud/" + month + "/g/") }
func genPrefix(month string, gen uint64) []byte {
	if gen == 0 {
		return []byte("fraud/" + month + "/a/")
	}
	return fmt.Appendf(gensPrefix(month), "%016x/", gen)
}

// keyGen returns the generation of a key under gensPrefix(month).
func keyGen(month string, k []byte) (uint64, error) {
	rest := k[len(gensPrefix(month)):]
	if len(rest) < 17 || rest[16] != '/' {
		return 0, fmt.Errorf("%w: flag key %q", ErrCorrupt, k)
	}
	g, err := strconv.ParseUint(string(rest[:16]), 16, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: flag key %q", ErrCorrupt, k)
	}
	return g, nil
}

// txnGen returns the generation of the month's flags in tx (0 when the
// month was never scanned or scanned before generations).
func txnGen(tx store.Txn, month string) (uint64, error) {
	b, err := tx.Get(scanKey(month))
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	var r ScanRecord
	if err := dec.Unmarshal(b, &r); err != nil {
		return 0, fmt.Errorf("%w: scan record: %v", ErrCorrupt, err)
	}
	return r.Gen, nil
}

// readPage is how many log entries Scan reads at a time.
const readPage = 10_000

// Scan scores every account with plays started in month (YYYY-MM, UTC)
// in the event log and records the month's flags in st: one Flag per
// account scoring at or over the model's threshold (with at least the
// minimum plays), one per other account of a group of light accounts
// streaming the same few tracks (Extractor.Groups), and the
// ScanRecord. Every account found is flagged, however many: the flags
// are written as a new generation in transactions of at most
// FlagsPerTxn, and the scan record naming that generation is written
// last, in a transaction of its own, so Flags sees the previous scan's
// flags until the whole new set is written and then only the new set. A
// failed or killed scan leaves the previous flags whole; what it wrote is
// removed by the next scan, which, once committed, also removes the
// previous generation. Rescanning the same log gives the same flags
// (only the time changes). One scan of a month at a time: a scan that
// finds another committed meanwhile fails with ErrConcurrentScan.
//
// It reads the whole log (memory grows with the month's accounts and
// their distinct tracks; the group check adds a few words per light
// account and per distinct track of the month, the flags one Flag per
// account flagged); when retention may have removed some of the month's
// events it fails with ErrIncomplete, since flags from part of a month
// would replace those of all of it.
func Scan(ctx context.Context, st store.Store, log events.Log, month string, opts ScanOptions) (ScanRecord, []Flag, error) {
	switch {
	case !counting.ValidMonth(month):
		return ScanRecord{}, nil, counting.ErrBadMonth
	case opts.model == nil || opts.minPlays < 1 || opts.groups.minAccounts < 2 || opts.groups.maxStreams < max(opts.minPlays, 2) || opts.now == nil:
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
	from := first
	for {
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
	rec.Through = from
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
	for _, g := range groups {
		rec.Groups++
		for _, u := range g.Accounts {
			if byScore[u] {
				continue // flagged by its score, which says more
			}
			f, _ := x.Account(u, in)
			flags = append(flags, Flag{User: u, Score: opts.model.Score(f).Value, Threshold: opts.model.Threshold, Explanation: g.Explain(x, u),
				Plays: x.Plays(u), Time: now, Group: len(g.Accounts)})
		}
	}
	slices.SortFunc(flags, func(a, b Flag) int { return strings.Compare(string(a.User), string(b.User)) })
	rec.Flagged, rec.Time = len(flags), now
	if err := storeFlags(ctx, st, month, &rec, flags, opts.lg); err != nil {
		return ScanRecord{}, nil, fmt.Errorf("fraud: scan: store flags: %w", err)
	}
	opts.lg.Info("fraud scan", "month", month, "gen", rec.Gen, "events", rec.Events, "accounts", rec.Accounts, "scored", rec.Scored, "flagged", rec.Flagged, "groups", rec.Groups, "heavy", rec.Heavy, "groups_skipped", rec.GroupsSkipped)
	return rec, flags, nil
}

// storeFlags writes flags as the month's next generation and then rec,
// naming it (rec.Gen is set), which makes them the month's flags; then
// it removes the previous generation. Before writing, it removes what a
// failed scan left of generations after the current one. A failure after
// the commit is logged: the stale keys are invisible and the next scan
// removes them.
func storeFlags(ctx context.Context, st store.Store, month string, rec *ScanRecord, flags []Flag, lg *slog.Logger) error {
	var cur uint64
	if err := st.Update(ctx, func(tx store.Txn) (err error) { cur, err = txnGen(tx, month); return err }); err != nil {
		return err
	}
	if err := deleteGens(ctx, st, month, cur, true); err != nil {
		return fmt.Errorf("remove a failed scan's flags: %w", err)
	}
	rec.Gen = cur + 1
	prefix := genPrefix(month, rec.Gen)
	if err := inBatches(ctx, st, func(tx store.Txn, from, n int) (int, bool, error) {
		to := min(from+n, len(flags))
		for _, f := range flags[from:to] {
			b, err := enc.Marshal(f)
			if err != nil {
				return 0, false, err
			}
			if err := tx.Set(append(slices.Clip(prefix), f.User...), b); err != nil {
				return 0, false, err
			}
		}
		return to, to == len(flags), nil
	}); err != nil {
		return err
	}
	b, err := enc.Marshal(rec)
	if err != nil {
		return err
	}
	if err := st.Update(ctx, func(tx store.Txn) error {
		g, err := txnGen(tx, month)
		if err != nil {
			return err
		}
		if g != cur {
			return fmt.Errorf("%w: generation %d, this scan started from %d", ErrConcurrentScan, g, cur)
		}
		return tx.Set(scanKey(month), b)
	}); err != nil {
		return err
	}
	err = deleteGens(ctx, st, month, rec.Gen, false)
	if err == nil {
		err = deleteBatches(ctx, st, genPrefix(month, 0), false, func([]byte) (bool, error) { return true, nil })
	}
	if err != nil {
		lg.Warn("fraud: scan committed, its previous flags not all removed (the next scan removes them)", "month", month, "gen", rec.Gen, "err", err)
	}
	return nil
}

// deleteGens removes the flags of the month's generations after keep
// (after: what failed scans left; they sort after it, so they are found
// from the end) or before it (from the start).
func deleteGens(ctx context.Context, st store.Store, month string, keep uint64, after bool) error {
	return deleteBatches(ctx, st, gensPrefix(month), after, func(k []byte) (bool, error) {
		g, err := keyGen(month, k)
		if err != nil {
			return false, err
		}
		if after {
			return g > keep, nil
		}
		return g < keep, nil
	})
}

// deleteBatches deletes the keys under prefix, in transactions of at
// most FlagsPerTxn keys, walking from the start (or the end when
// reverse) while match is true; it stops at the first key that does not
// match.
func deleteBatches(ctx context.Context, st store.Store, prefix []byte, reverse bool, match func(k []byte) (bool, error)) error {
	return inBatches(ctx, st, func(tx store.Txn, _, n int) (int, bool, error) {
		var ks [][]byte
		done := true
		if err := tx.Iterate(prefix, reverse, func(k, _ []byte) error {
			if len(ks) == n {
				done = false
				return store.ErrStop
			}
			ok, err := match(k)
			if err != nil || !ok {
				return cmp.Or(err, store.ErrStop)
			}
			ks = append(ks, slices.Clone(k))
			return nil
		}); err != nil {
			return 0, false, err
		}
		for _, k := range ks {
			if err := tx.Delete(k); err != nil {
				return 0, false, err
			}
		}
		return 0, done, nil
	})
}

// inBatches runs step in store transactions until it reports done: step
// handles at most n items from position from and returns the position
// after them, which the next call gets once the transaction committed.
// n starts at FlagsPerTxn and is halved, the same items tried again,
// while the store refuses a transaction as too big.
func inBatches(ctx context.Context, st store.Store, step func(tx store.Txn, from, n int) (next int, done bool, err error)) error {
	for from, n := 0, FlagsPerTxn; ; {
		var next int
		var done bool
		err := st.Update(ctx, func(tx store.Txn) (err error) {
			next, done, err = step(tx, from, n)
			return err
		})
		switch {
		case errors.Is(err, store.ErrTxnTooBig) && n > 1:
			n /= 2
		case err != nil:
			return err
		case done:
			return nil
		default:
			from = next
		}
	}
}

// Flags returns the month's stored flags, by user id: those of the
// generation the month's scan record names (flags written before
// generations, under fraud/<month>/a/, when the record names none). The
// record and the flags are read in one transaction, so a scan committing
// meanwhile is seen whole or not at all.
func Flags(ctx context.Context, st store.Store, month string) ([]Flag, error) {
	if !counting.ValidMonth(month) {
		return nil, counting.ErrBadMonth
	}
	var out []Flag
	err := st.Update(ctx, func(tx store.Txn) error {
		out = nil
		gen, err := txnGen(tx, month)
		if err != nil {
			return err
		}
		prefix := genPrefix(month, gen)
		return tx.Iterate(prefix, false, func(k, v []byte) error {
			var f Flag
			if err := dec.Unmarshal(v, &f); err != nil {
				return fmt.Errorf("%w: %s: %v", ErrCorrupt, k, err)
			}
			if string(f.User) != strings.TrimPrefix(string(k), string(prefix)) {
				return fmt.Errorf("%w: %s holds user %q", ErrCorrupt, k, f.User)
			}
			out = append(out, f)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("fraud: flags: %w", err)
	}
	return out, nil
}

// Covers checks that the month's last scan read every stream of the
// month counted from the log before offset counted (the counting
// consumer's position), so that a royalty run paying the counted
// streams pays none the scan has not checked: ErrNotScanned when the
// month has no scan, ErrStale when a stream of the month (a play of at
// least MinPlayedMs started in it) lies between the scan's Through and
// counted, or when the log does not hold every entry there (removed by
// retention, or kept elsewhere), so that it cannot tell. It reads the log
// from Through to counted.
func Covers(ctx context.Context, st store.Store, log events.Log, month string, counted uint64) error {
	rec, err := LastScan(ctx, st, month)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrNotScanned, month)
	}
	if err != nil || counted <= rec.Through {
		return err
	}
	first, err := events.FirstKept(ctx, log)
	if err != nil {
		return fmt.Errorf("fraud: covers: %w", err)
	}
	if first > rec.Through {
		return fmt.Errorf("%w: %s: the log after the scan (offset %d) is removed up to %d", ErrStale, month, rec.Through, first)
	}
	n := 0
	for from := rec.Through; from < counted; {
		es, err := log.Read(ctx, from, int(min(counted-from, readPage)))
		if err != nil {
			return fmt.Errorf("fraud: covers: read log: %w", err)
		}
		if len(es) == 0 {
			return fmt.Errorf("%w: %s: the log ends at offset %d, before the counted %d", ErrStale, month, from, counted)
		}
		for _, e := range es {
			if e.Offset < counted && e.Event.PlayedMs >= MinPlayedMs && counting.Month(e.Event.StartedAt) == month {
				n++
			}
		}
		from = es[len(es)-1].Offset + 1
	}
	if n > 0 {
		return fmt.Errorf("%w: %s: %d streams after offset %d", ErrStale, month, n, rec.Through)
	}
	return nil
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

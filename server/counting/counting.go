// Package counting turns uploaded play events into counted streams. It
// mounts the device upload route (POST /v1/plays: signature check,
// per-event validation — impossible times, unreleased tracks, a device's
// overlapping streams — durable append to an events.Log before the
// answer) and the admin read route, and runs the consumer that reads the
// log and counts every play of at least the threshold (30 s) as one
// stream per track and month and per user, track and month. The
// consumer's position and the counts it adds are committed in one store
// transaction, so after a crash at any point every logged event is
// counted exactly once. Keys are in docs/ARCHITECTURE.md §5.
package counting

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/maypok86/otter/v2"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/audit"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/store"
)

// Errors of the counting service.
var (
	// ErrBadMonth: a month that is not YYYY-MM.
	ErrBadMonth = errors.New("counting: month must be YYYY-MM")
	// ErrCorrupt: a stored count or position does not decode.
	ErrCorrupt = errors.New("counting: corrupt record")
)

// Service is the relay's counting service over its store, event log and
// catalog; it owns none of them. Safe for concurrent use, with one
// consumer (Run or Step) at a time.
type Service struct {
	st     store.Store
	log    events.Log
	cat    *catalog.Catalog
	chain  *audit.Chain
	opts   Options
	lg     *slog.Logger
	met    *metrics
	tracks *trackCache
	// devLocks serialises one device's overlap checks (overlap.go).
	devLocks *deviceLocks
	// quotas holds the devices' upload quotas (nil: none; quota.go).
	quotas *quotas
	// horizon: plays that started more than this before the relay clock
	// are too old (0: no limit); set for logs that expire events.
	horizon time.Duration
	// kick wakes Run when an upload appended events (capacity 1).
	kick chan struct{}
	// countCache caches count values (by key) as of the consumer's last
	// commit, which left the position at countsAt; valid only while the
	// stored position is still countsAt (no other consumer committed).
	countCache *otter.Cache[string, uint64]
	countsAt   uint64
	// thresholdSaved: a commit of this service recorded its threshold
	// (thresholdKey).
	thresholdSaved bool
	cmu            sync.Mutex // guards countsAt, thresholdSaved and the use of countCache
}

// maxCachedCounts bounds the count cache (entries).
const maxCachedCounts = 1 << 18

// New returns the counting service. When log expires events by age
// (events.Expirer) uploads refuse plays that started more than that age
// minus a margin (a tenth of it, at most an hour, for clock differences
// between relay and log server) before the relay clock, as too_old: an
// event accepted again after its de-duplication record expired would be
// counted twice. With a non-nil chain (over st) every
// counted stream is appended to the audit log in the transaction that
// counts it, and every rejected upload event after its answer is decided.
func New(st store.Store, log events.Log, cat *catalog.Catalog, chain *audit.Chain, opts Options) *Service {
	s := &Service{st: st, log: log, cat: cat, chain: chain, opts: opts, lg: opts.logger, tracks: newTrackCache(cat),
		devLocks: newDeviceLocks(), quotas: newQuotas(opts), kick: make(chan struct{}, 1), countCache: otter.Must(&otter.Options[string, uint64]{MaximumSize: maxCachedCounts})}
	s.met = newMetrics(s)
	if x, ok := log.(events.Expirer); ok && x.MaxAge() > 0 {
		s.horizon = x.MaxAge() - min(x.MaxAge()/10, time.Hour)
	}
	return s
}

// update runs fn in one transaction of st, through the audit chain when
// there is one (add is then non-nil).
func (s *Service) update(ctx context.Context, fn func(tx store.Txn, add func(audit.Record) error) error) error {
	if s.chain == nil {
		return s.st.Update(ctx, func(tx store.Txn) error { return fn(tx, nil) })
	}
	return s.chain.Update(ctx, fn)
}

// Store keys (docs/ARCHITECTURE.md §5).
var (
	posKey = []byte("cnt/pos")
	// thresholdKey holds the threshold (u64 BE milliseconds) of the
	// latest service to count: reconciliation checks the served audio
	// against it (RecordedThreshold).
	thresholdKey = []byte("cnt/threshold")
	// thresholdsPrefix + u64 BE log offset holds the threshold (u64 BE
	// ms) the entries from that offset on were counted with, until the
	// next such key: written by a service's first commit when its
	// threshold differs from the one before (RecordedThresholds).
	thresholdsPrefix = []byte("cnt/thr/")
)

func thresholdsKey(offset uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), thresholdsPrefix...), offset)
}

func trackKey(track model.TrackID, month string) []byte {
	return []byte("cnt/t/" + string(track) + "/" + month)
}
func countryKey(track model.TrackID, month, country string) []byte {
	return []byte("cnt/c/" + string(track) + "/" + month + "/" + country)
}
func userKey(user model.UserID, month string, track model.TrackID) []byte {
	return []byte("cnt/u/" + string(user) + "/" + month + "/" + string(track))
}

// monthCountryKey holds the country (two letters) user's first stream
// counted in month was counted under: the user's streams of the month are
// in that country but for those under cnt/uc (UserMonthCountryStreams).
func monthCountryKey(user model.UserID, month string) []byte {
	return []byte("cnt/um/" + string(user) + "/" + month)
}

// userCountryKey counts user's streams of track in month counted under a
// country other than the month's first (monthCountryKey): the account's
// country changed during the month.
func userCountryKey(user model.UserID, month, country string, track model.TrackID) []byte {
	return []byte("cnt/uc/" + string(user) + "/" + month + "/" + country + "/" + string(track))
}

var monthRE = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])$`)

// Month returns the UTC month (YYYY-MM) a play started at (Unix ms)
// is counted in.
func Month(startedMs int64) string { return time.UnixMilli(startedMs).UTC().Format("2006-01") }

func readU64(b []byte, err error) (uint64, error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	case len(b) != 8:
		return 0, fmt.Errorf("%w: %d-byte counter", ErrCorrupt, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// Position returns the offset of the next log entry the consumer counts.
func (s *Service) Position(ctx context.Context) (uint64, error) {
	p, err := readU64(s.st.Get(ctx, posKey))
	if err != nil {
		return 0, fmt.Errorf("counting: read position: %w", err)
	}
	return p, nil
}

// TrackStreams returns the counted streams of track in month (YYYY-MM).
func (s *Service) TrackStreams(ctx context.Context, track model.TrackID, month string) (uint64, error) {
	if !monthRE.MatchString(month) {
		return 0, ErrBadMonth
	}
	n, err := readU64(s.st.Get(ctx, trackKey(track, month)))
	if err != nil {
		return 0, fmt.Errorf("counting: read count: %w", err)
	}
	return n, nil
}

// UserStreams returns the counted streams of user for track in month.
func (s *Service) UserStreams(ctx context.Context, user model.UserID, month string, track model.TrackID) (uint64, error) {
	if !monthRE.MatchString(month) {
		return 0, ErrBadMonth
	}
	n, err := readU64(s.st.Get(ctx, userKey(user, month, track)))
	if err != nil {
		return 0, fmt.Errorf("counting: read count: %w", err)
	}
	return n, nil
}

// RecordedThreshold returns the threshold the relay whose store is st
// last counted with (recorded by the consumer's first commit after each
// start; ok is false when nothing was ever counted).
func RecordedThreshold(ctx context.Context, st store.Store) (d time.Duration, ok bool, err error) {
	b, err := st.Get(ctx, thresholdKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("counting: read threshold: %w", err)
	case len(b) != 8:
		return 0, false, fmt.Errorf("%w: %d-byte threshold", ErrCorrupt, len(b))
	}
	ms := binary.BigEndian.Uint64(b)
	if ms == 0 || ms > uint64(math.MaxInt64/time.Millisecond) {
		return 0, false, fmt.Errorf("%w: threshold of %d ms", ErrCorrupt, ms)
	}
	return time.Duration(ms) * time.Millisecond, true, nil
}

// saveThreshold records in tx that the entries from offset pos on are
// counted with a threshold of ms: as the latest (thresholdKey) and, when
// it differs from the one before, in the history (thresholdsPrefix). A
// store whose history is empty but holds a latest threshold (written
// before the history was kept) first gets that one from offset 0.
func saveThreshold(tx store.Txn, pos, ms uint64) error {
	val := binary.BigEndian.AppendUint64(nil, ms)
	prev, err := tx.Get(thresholdKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		prev = nil
	case err != nil:
		return err
	}
	var last []byte
	if err := tx.Iterate(thresholdsPrefix, true, func(_, v []byte) error {
		last = append([]byte(nil), v...)
		return store.ErrStop
	}); err != nil && !errors.Is(err, store.ErrStop) {
		return err
	}
	if last == nil && prev != nil && pos > 0 {
		if err := tx.Set(thresholdsKey(0), prev); err != nil {
			return err
		}
		last = prev
	}
	if string(last) != string(val) {
		if err := tx.Set(thresholdsKey(pos), val); err != nil {
			return err
		}
	}
	return tx.Set(thresholdKey, val)
}

// Thresholds are the stream thresholds a relay counted its log's entries
// with, by offset (RecordedThresholds).
type Thresholds struct {
	from []uint64        // ascending first offsets
	d    []time.Duration // the threshold from from[i] on
}

// At returns the threshold the entry at offset was counted with; ok is
// false when none was recorded for it.
func (t Thresholds) At(offset uint64) (d time.Duration, ok bool) {
	i, found := slices.BinarySearch(t.from, offset)
	if !found {
		i--
	}
	if i < 0 {
		return 0, false
	}
	return t.d[i], true
}

// RecordedThresholds returns the thresholds the relay whose store is st
// counted with, by log offset: a relay restarted with another threshold
// counts the entries after its restart with it, and those before keep
// the one they were counted with. Empty when the relay never counted
// since the history has been kept (RecordedThreshold then gives the
// latest).
func RecordedThresholds(ctx context.Context, st store.Store) (Thresholds, error) {
	var t Thresholds
	err := st.Iterate(ctx, thresholdsPrefix, false, func(k, v []byte) error {
		ms := uint64(0)
		if len(v) == 8 {
			ms = binary.BigEndian.Uint64(v)
		}
		if len(k) != len(thresholdsPrefix)+8 || ms == 0 || ms > uint64(math.MaxInt64/time.Millisecond) {
			return fmt.Errorf("%w: threshold record %q", ErrCorrupt, k)
		}
		t.from = append(t.from, binary.BigEndian.Uint64(k[len(thresholdsPrefix):]))
		t.d = append(t.d, time.Duration(ms)*time.Millisecond)
		return nil
	})
	if err != nil {
		return Thresholds{}, fmt.Errorf("counting: read thresholds: %w", err)
	}
	return t, nil
}

// IsStream reports whether a play of playedMs milliseconds counts as a
// stream under the threshold.
func IsStream(playedMs int64, threshold time.Duration) bool {
	return playedMs >= threshold.Milliseconds()
}

// Step counts the next log entries (at most the consumer batch) and
// returns how many it consumed; 0 means it has caught up. The counts and
// the new position are one transaction: a crash before it commits counts
// none of these entries, after it all of them, and the next Step resumes
// from the committed position.
func (s *Service) Step(ctx context.Context) (int, error) {
	pos, err := s.Position(ctx)
	if err != nil {
		return 0, err
	}
	es, err := s.log.Read(ctx, pos, s.opts.batch)
	if err != nil {
		return 0, fmt.Errorf("counting: read log: %w", err)
	}
	if len(es) == 0 {
		return 0, nil
	}
	for {
		err := s.count(ctx, pos, es)
		if errors.Is(err, store.ErrTxnTooBig) && len(es) > 1 {
			es = es[:len(es)/2]
			continue
		}
		if err != nil {
			return 0, err
		}
		return len(es), nil
	}
}

// count commits the counts of es, the entries from offset pos on, and
// the position after them in one transaction.
func (s *Service) count(ctx context.Context, pos uint64, es []events.Entry) error {
	add := map[string]uint64{}
	var streams []events.Entry
	for i, e := range es {
		if e.Offset != pos+uint64(i) {
			return fmt.Errorf("%w: log offset %d where %d was expected", ErrCorrupt, e.Offset, pos+uint64(i))
		}
		if !IsStream(e.Event.PlayedMs, s.opts.threshold) {
			continue
		}
		streams = append(streams, e)
		m := Month(e.Event.StartedAt)
		add[string(trackKey(e.Event.Track, m))]++
		add[string(userKey(e.User, m, e.Event.Track))]++
	}
	next := pos + uint64(len(es))
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if s.countsAt != pos {
		s.countCache.InvalidateAll()
	}
	var vals map[string]uint64
	var firsts map[string]string
	err := s.update(ctx, func(tx store.Txn, record func(audit.Record) error) error {
		vals = make(map[string]uint64, len(add))
		firsts = map[string]string{}
		cur, err := readU64(tx.Get(posKey))
		if err != nil {
			return err
		}
		if cur != pos {
			return fmt.Errorf("counting: position moved from %d to %d: two consumers", pos, cur)
		}
		if err := s.addCountries(tx, streams, add, firsts); err != nil {
			return err
		}
		if !s.thresholdSaved {
			if err := saveThreshold(tx, pos, uint64(s.opts.threshold.Milliseconds())); err != nil {
				return err
			}
		}
		for k, n := range add {
			old, ok := s.countCache.GetIfPresent(k)
			if !ok {
				var err error
				if old, err = readU64(tx.Get([]byte(k))); err != nil {
					return err
				}
			}
			vals[k] = old + n
			if err := tx.Set([]byte(k), binary.BigEndian.AppendUint64(nil, old+n)); err != nil {
				return err
			}
		}
		for _, e := range streams {
			if record == nil {
				break
			}
			r := audit.Record{Kind: audit.KindStream, Device: string(e.Device), User: string(e.User), Seq: e.Event.Seq,
				Track: string(e.Event.Track), Started: e.Event.StartedAt, Played: e.Event.PlayedMs, Offset: e.Offset}
			if err := record(r); err != nil {
				return err
			}
		}
		return tx.Set(posKey, binary.BigEndian.AppendUint64(nil, next))
	})
	if err != nil {
		return fmt.Errorf("counting: commit counts: %w", err)
	}
	for k, v := range vals {
		s.countCache.Set(k, v)
	}
	for k, c := range firsts {
		s.countCache.Set(k, uint64(c[0])<<8|uint64(c[1]))
	}
	s.countsAt = next
	s.thresholdSaved = true
	s.met.consumed.Add(float64(len(es)))
	s.met.counted.Add(float64(len(streams)))
	return nil
}

// UnknownCountry is the country under which streams of accounts without
// a country are counted (CLDR's "unknown region"; never a valid account
// country).
const UnknownCountry = "ZZ"

// addCountries adds to add one count per stream under the country its
// account has in tx now (UnknownCountry without one, or without an
// account record), reading each account once; and under cnt/uc a stream
// whose country is not the one its user's first stream of the month was
// counted under (cnt/um, written by that first stream). firsts gets the
// month countries used (cnt/um key → country), for the count cache.
func (s *Service) addCountries(tx store.Txn, streams []events.Entry, add map[string]uint64, firsts map[string]string) error {
	countries := map[model.UserID]string{}
	for _, e := range streams {
		c, ok := countries[e.User]
		if !ok {
			var err error
			if c, err = accountCountry(tx.Get, e.User); err != nil {
				return err
			}
			countries[e.User] = c
		}
		m := Month(e.Event.StartedAt)
		add[string(countryKey(e.Event.Track, m, c))]++
		k := monthCountryKey(e.User, m)
		first, ok := firsts[string(k)]
		if !ok {
			var err error
			if first, err = s.monthCountry(tx, k, c); err != nil {
				return err
			}
			firsts[string(k)] = first
		}
		if c != first {
			add[string(userCountryKey(e.User, m, c, e.Event.Track))]++
		}
	}
	return nil
}

// monthCountry returns the month country under key k (monthCountryKey),
// from the count cache (two letters packed in a uint64) or tx; a month
// without one gets c, written in tx.
func (s *Service) monthCountry(tx store.Txn, k []byte, c string) (string, error) {
	if v, ok := s.countCache.GetIfPresent(string(k)); ok {
		return string([]byte{byte(v >> 8), byte(v)}), nil
	}
	b, err := tx.Get(k)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return c, tx.Set(k, []byte(c))
	case err != nil:
		return "", err
	case len(b) != 2:
		return "", fmt.Errorf("%w: %s holds %d bytes, want a country code", ErrCorrupt, k, len(b))
	}
	return string(b), nil
}

// accountCountry returns user's account country read with get
// (UnknownCountry without one, or without an account record).
func accountCountry(get func([]byte) ([]byte, error), user model.UserID) (string, error) {
	b, err := get(relay.AccountKey(user))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return UnknownCountry, nil
	case err != nil:
		return "", err
	}
	var a relay.Account
	if err := relay.DecodeRecord(b, &a); err != nil {
		return "", fmt.Errorf("%w: account %s: %v", ErrCorrupt, user, err)
	}
	if a.Country == "" {
		return UnknownCountry, nil
	}
	return a.Country, nil
}

// CountryStreams returns the counted streams of track in month (YYYY-MM)
// per country (ISO 3166-1 alpha-2, UnknownCountry for accounts without
// one); countries without streams are absent. The map is the caller's.
func (s *Service) CountryStreams(ctx context.Context, track model.TrackID, month string) (map[string]uint64, error) {
	if !monthRE.MatchString(month) {
		return nil, ErrBadMonth
	}
	pfx := []byte("cnt/c/" + string(track) + "/" + month + "/")
	out := map[string]uint64{}
	err := s.st.Iterate(ctx, pfx, false, func(k, v []byte) error {
		c := string(k[len(pfx):])
		if len(c) != 2 { // a longer track id sharing the prefix
			return nil
		}
		n, err := readU64(v, nil)
		if err != nil {
			return err
		}
		out[c] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("counting: country streams: %w", err)
	}
	return out, nil
}

// wake tells Run that the log has new events (never blocks).
func (s *Service) wake() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run consumes the log until ctx is done. When caught up it waits for
// the next upload this service appends (woken at once) or the poll
// interval (events appended by other writers of a shared log, such as
// another relay on the same NATS JetStream). Every hour it also applies
// the retention (Prune) and expires the overlap state (PruneOverlaps).
// A Step that finds the disk full (ENOSPC, EDQUOT) stored nothing: Run
// logs it once and retries at the poll interval until there is room. It
// returns ctx's error, or the first other error of Step.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.poll)
	defer t.Stop()
	var pruned time.Time
	full := false
	for {
		if now := s.opts.now(); now.Sub(pruned) >= pruneEvery {
			pruned = now
			s.prune(ctx)
		}
		n, err := s.Step(ctx)
		switch {
		case err != nil && ctx.Err() != nil:
			return ctx.Err()
		case err != nil && (errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)):
			if !full {
				s.lg.Error("counting: disk full, counting paused until there is room", "err", err)
			}
			full = true
		case err != nil:
			return err
		case full:
			s.lg.Info("counting: room again, counting resumed")
			full = false
		}
		if n > 0 {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		case <-s.kick:
		}
	}
}

// pruneEvery is how often Run applies the retention and expires the
// overlap state.
const pruneEvery = time.Hour

// prune applies the retention (when set) and expires the overlap state,
// logging what it did; a failure is logged and retried at the next
// round.
func (s *Service) prune(ctx context.Context) {
	if s.opts.retention > 0 {
		if n, err := s.Prune(ctx); err != nil {
			s.lg.Error("counting: prune raw events", "err", err)
		} else if n > 0 {
			s.lg.Info("counting: pruned raw events", "entries", n, "retention", s.opts.retention)
		}
	}
	if n, err := s.PruneOverlaps(ctx); err != nil {
		s.lg.Error("counting: prune overlap state", "err", err)
	} else if n > 0 {
		s.lg.Info("counting: pruned overlap state", "devices", n)
	}
}

// Prune applies the retention now (Options.WithRetention): it deletes raw
// events received before now − retention that the consumer has counted.
// It does nothing without a retention or when the log cannot prune.
func (s *Service) Prune(ctx context.Context) (int, error) {
	p, ok := s.log.(events.Pruner)
	if !ok || s.opts.retention <= 0 {
		return 0, nil
	}
	pos, err := s.Position(ctx)
	if err != nil {
		return 0, err
	}
	return p.Prune(ctx, s.opts.now().Add(-s.opts.retention), pos)
}

// MonthStreams returns the counted streams of every track in month
// (YYYY-MM) from st (the keys cnt/t/…). The map is the caller's.
func MonthStreams(ctx context.Context, st store.Store, month string) (map[model.TrackID]uint64, error) {
	if !monthRE.MatchString(month) {
		return nil, ErrBadMonth
	}
	out := map[model.TrackID]uint64{}
	suffix := "/" + month
	err := st.Iterate(ctx, []byte("cnt/t/"), false, func(k, v []byte) error {
		rest, ok := strings.CutSuffix(string(k[len("cnt/t/"):]), suffix)
		if !ok {
			return nil
		}
		n, err := readU64(v, nil)
		if err != nil {
			return err
		}
		out[model.TrackID(rest)] = n
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("counting: month streams: %w", err)
	}
	return out, nil
}

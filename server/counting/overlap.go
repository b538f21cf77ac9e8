package counting

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/store"
)

// OverlapAllowance is how much two streams of one device may overlap: the
// player's longest crossfade (player.MaxCrossfade), during which the
// outgoing and the incoming track both play.
const OverlapAllowance = player.MaxCrossfade

// MaxRecentStreams bounds the streams the overlap state keeps per device
// and clock: twice the default upload limit, so a retried batch finds its
// own streams and gets duplicate, not overlapping. Beyond it the streams
// that started first are dropped and their latest end becomes the
// state's floor, which no later stream may overlap by more than
// OverlapAllowance (a device uploads its plays in the order it played
// them, so only a retry of a batch older than that is affected: it gets
// overlapping instead of duplicate, and is counted once either way).
const MaxRecentStreams = 2048

// dayMs is one UTC day in milliseconds.
const dayMs = 24 * 60 * 60 * 1000

// span is one accepted stream's time: from start for its played time
// (Unix ms, end excluded), with its seq.
type span struct {
	seq        uint64
	start, end int64
}

// spanSet is the overlap state of one device and clock: its recent
// accepted streams sorted by start (then seq), the floor left by dropped
// ones (Unix ms; 0: none) and the UTC day of the last write.
type spanSet struct {
	day    int64
	floor  int64
	spans  []span
	seqs   map[uint64]struct{}
	maxLen int64 // longest span, an upper bound
}

// spanVersion is the first byte of an encoded spanSet.
const spanVersion = 1

// decodeSpans decodes a spanSet written by encode: version ‖ uvarint day
// ‖ varint floor ‖ uvarint n ‖ n × (uvarint seq ‖ uvarint start − the
// previous start (the first from 0) ‖ uvarint length). A nil b is the
// empty set.
func decodeSpans(b []byte) (spanSet, error) {
	s := spanSet{seqs: map[uint64]struct{}{}}
	if b == nil {
		return s, nil
	}
	if len(b) == 0 || b[0] != spanVersion {
		return spanSet{}, fmt.Errorf("%w: overlap state version", ErrCorrupt)
	}
	b = b[1:]
	next := func() (uint64, bool) {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return 0, false
		}
		b = b[n:]
		return v, true
	}
	day, ok1 := next()
	floor, n := binary.Varint(b)
	if !ok1 || n <= 0 {
		return spanSet{}, fmt.Errorf("%w: overlap state header", ErrCorrupt)
	}
	b = b[n:]
	count, ok := next()
	if !ok || count > MaxRecentStreams {
		return spanSet{}, fmt.Errorf("%w: overlap state of %d streams", ErrCorrupt, count)
	}
	s.day, s.floor, s.spans = int64(day), floor, make([]span, 0, count)
	var start uint64
	for range count {
		seq, ok1 := next()
		delta, ok2 := next()
		length, ok3 := next()
		if !ok1 || !ok2 || !ok3 || length > api.MaxPlayMs || start+delta > 1<<62 {
			return spanSet{}, fmt.Errorf("%w: overlap state stream", ErrCorrupt)
		}
		start += delta
		s.spans = append(s.spans, span{seq: seq, start: int64(start), end: int64(start + length)})
		s.seqs[seq] = struct{}{}
		s.maxLen = max(s.maxLen, int64(length))
	}
	if len(b) != 0 {
		return spanSet{}, fmt.Errorf("%w: overlap state trailing bytes", ErrCorrupt)
	}
	return s, nil
}

// encode returns s in the form decodeSpans reads.
func (s *spanSet) encode() []byte {
	b := binary.AppendUvarint([]byte{spanVersion}, uint64(s.day))
	b = binary.AppendVarint(b, s.floor)
	b = binary.AppendUvarint(b, uint64(len(s.spans)))
	var prev int64
	for _, sp := range s.spans {
		b = binary.AppendUvarint(b, sp.seq)
		b = binary.AppendUvarint(b, uint64(sp.start-prev))
		b = binary.AppendUvarint(b, uint64(sp.end-sp.start))
		prev = sp.start
	}
	return b
}

// overlaps reports whether a stream with seq from start to end overlaps
// the floor, or a kept stream with another seq, by more than allow (ms).
// A stream no longer than allow overlaps nothing by more.
func (s *spanSet) overlaps(seq uint64, start, end, allow int64) bool {
	if end-start <= allow {
		return false
	}
	if min(end, s.floor)-start > allow {
		return true
	}
	// Kept streams starting at or after end − allow overlap by at most
	// allow; those ending by start + allow too.
	i, _ := slices.BinarySearchFunc(s.spans, end-allow, func(sp span, t int64) int { return cmp.Compare(sp.start, t) })
	for i--; i >= 0 && s.spans[i].start+s.maxLen > start+allow; i-- {
		sp := s.spans[i]
		if sp.seq != seq && min(end, sp.end)-max(start, sp.start) > allow {
			return true
		}
	}
	return false
}

// add keeps a stream with seq from start to end, unless a stream with
// that seq is kept already (a retry: the event log decides whether it is
// a duplicate or a conflict).
func (s *spanSet) add(seq uint64, start, end int64) bool {
	if _, ok := s.seqs[seq]; ok {
		return false
	}
	i, _ := slices.BinarySearchFunc(s.spans, span{seq: seq, start: start}, func(a, b span) int {
		return cmp.Or(cmp.Compare(a.start, b.start), cmp.Compare(a.seq, b.seq))
	})
	s.spans = slices.Insert(s.spans, i, span{seq: seq, start: start, end: end})
	s.seqs[seq] = struct{}{}
	s.maxLen = max(s.maxLen, end-start)
	return true
}

// trim drops what no acceptable stream can overlap any more, the streams
// ending at or before oldest and a floor at or before it, then the
// streams that started first beyond MaxRecentStreams, raising the floor
// to their latest end. It reports whether s changed.
func (s *spanSet) trim(oldest int64) bool {
	changed := false
	if s.floor != 0 && s.floor <= oldest {
		s.floor, changed = 0, true
	}
	kept := s.spans[:0]
	for _, sp := range s.spans {
		if sp.end > oldest {
			kept = append(kept, sp)
			continue
		}
		delete(s.seqs, sp.seq)
		changed = true
	}
	s.spans = kept
	if over := len(s.spans) - MaxRecentStreams; over > 0 {
		for _, sp := range s.spans[:over] {
			s.floor = max(s.floor, sp.end)
			delete(s.seqs, sp.seq)
		}
		s.spans = slices.Delete(s.spans, 0, over)
		changed = true
	}
	return changed
}

// Clocks of the overlap state: a device's plays on its own clock and on
// the trusted license clock (api.PlayRecord.TrustedTime) are compared only
// with plays on the same clock, since the two can differ by more than a
// crossfade on a device whose clock is wrong.
const (
	clockDevice  byte = 'd'
	clockTrusted byte = 't'
)

func clockOf(e api.PlayRecord) byte {
	if e.TrustedTime {
		return clockTrusted
	}
	return clockDevice
}

// Store keys of the overlap state (docs/ARCHITECTURE.md §5).
const (
	spanPrefix  = "cnt/ov/"
	spanIdxPfx  = "cnt/ovd/"
	spanKeyHead = len(spanIdxPfx) + 4 + 1 // prefix, u32 day, clock
)

func spanKey(clock byte, dev model.DeviceID) []byte {
	return append([]byte(spanPrefix+string(clock)+"/"), dev...)
}

func spanIndexKey(day int64, clock byte, dev model.DeviceID) []byte {
	k := binary.BigEndian.AppendUint32([]byte(spanIdxPfx), uint32(day))
	return append(append(k, clock), dev...)
}

// deviceLocks serialises the overlap checks of one device within a relay
// (64 stripes: bounded, whatever the number of devices); the store's
// serializable transactions keep them right across relays.
type deviceLocks struct {
	seed  maphash.Seed
	locks [64]chan struct{}
}

func newDeviceLocks() *deviceLocks {
	l := &deviceLocks{seed: maphash.MakeSeed()}
	for i := range l.locks {
		l.locks[i] = make(chan struct{}, 1)
	}
	return l
}

// lock takes dev's stripe, or returns ctx's error; call the returned
// function to release it.
func (l *deviceLocks) lock(ctx context.Context, dev model.DeviceID) (func(), error) {
	c := l.locks[maphash.String(l.seed, string(dev))%uint64(len(l.locks))]
	select {
	case c <- struct{}{}:
		return func() { <-c }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// oldestStart returns the earliest start (Unix ms) an upload at nowMs
// accepts: the offline window and the skew before it, or the log's
// horizon when that is later.
func (s *Service) oldestStart(nowMs int64) int64 {
	oldest := nowMs - s.opts.offline.Milliseconds() - s.opts.skew.Milliseconds()
	if s.horizon > 0 {
		oldest = max(oldest, nowMs-s.horizon.Milliseconds())
	}
	return oldest
}

// checkOverlaps sets res[i].Status to api.PlayOverlapping for every
// stream of evs still valid (empty status) that overlaps, by more than
// OverlapAllowance, a stream of dev on the same clock accepted before or
// earlier in evs, and stores the others' times (docs/ARCHITECTURE.md
// "Overlapping plays"). The times are durable before the caller appends
// the events, so a crash in between leaves times without events, never
// events without times; such a time only refuses the same device's plays
// overlapping it, and the retry of its batch matches it by seq.
func (s *Service) checkOverlaps(ctx context.Context, dev model.DeviceID, evs []api.PlayRecord, res []api.PlayResult, nowMs int64) error {
	var cand []int
	clocks := map[byte]bool{}
	for i, e := range evs {
		if res[i].Status == "" && IsStream(e.PlayedMs, s.opts.threshold) && e.PlayedMs > OverlapAllowance.Milliseconds() {
			cand = append(cand, i)
			clocks[clockOf(e)] = true
		}
	}
	if len(cand) == 0 {
		return nil
	}
	unlock, err := s.devLocks.lock(ctx, dev)
	if err != nil {
		return err
	}
	defer unlock()
	oldest, day := s.oldestStart(nowMs), nowMs/dayMs
	allow := OverlapAllowance.Milliseconds()
	var overlapping []int
	err = s.st.Update(ctx, func(tx store.Txn) error {
		overlapping = overlapping[:0]
		sets := map[byte]*spanSet{}
		oldDays := map[byte]int64{}
		changed := map[byte]bool{}
		for c := range clocks {
			b, err := tx.Get(spanKey(c, dev))
			if errors.Is(err, store.ErrNotFound) {
				b, err = nil, nil
			}
			if err != nil {
				return err
			}
			set, err := decodeSpans(b)
			if err != nil {
				return fmt.Errorf("device %s: %w", dev, err)
			}
			if b != nil {
				oldDays[c] = set.day
			}
			changed[c] = set.trim(oldest)
			sets[c] = &set
		}
		for _, i := range cand {
			e := evs[i]
			c := clockOf(e)
			set := sets[c]
			if set.overlaps(e.Seq, e.StartedAt, e.StartedAt+e.PlayedMs, allow) {
				overlapping = append(overlapping, i)
				continue
			}
			if set.add(e.Seq, e.StartedAt, e.StartedAt+e.PlayedMs) {
				changed[c] = true
			}
		}
		for c, set := range sets {
			if !changed[c] {
				continue
			}
			old, existed := oldDays[c]
			set.trim(oldest)
			if len(set.spans) == 0 && set.floor == 0 {
				if existed {
					if err := tx.Delete(spanIndexKey(old, c, dev)); err != nil {
						return err
					}
					if err := tx.Delete(spanKey(c, dev)); err != nil {
						return err
					}
				}
				continue
			}
			set.day = day
			if existed && old != day {
				if err := tx.Delete(spanIndexKey(old, c, dev)); err != nil {
					return err
				}
			}
			if !existed || old != day {
				if err := tx.Set(spanIndexKey(day, c, dev), nil); err != nil {
					return err
				}
			}
			if err := tx.Set(spanKey(c, dev), set.encode()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("counting: check overlapping plays: %w", err)
	}
	for _, i := range overlapping {
		res[i].Status = api.PlayOverlapping
	}
	return nil
}

// pruneSpanBatch is how many devices' overlap states PruneOverlaps
// deletes per transaction.
const pruneSpanBatch = 1000

// PruneOverlaps deletes the overlap state of every device and clock
// whose last write was so long ago that no stream it holds can overlap a
// play the relay would still accept (all of them ended more than the
// offline window and twice the skew before now), and returns how many it
// deleted. Run calls it every hour; the state thus holds only devices
// that uploaded streams within about the offline window.
func (s *Service) PruneOverlaps(ctx context.Context) (int, error) {
	nowMs := s.opts.now().UnixMilli()
	oldest, skew := s.oldestStart(nowMs), s.opts.skew.Milliseconds()
	total := 0
	for {
		var keys [][]byte
		err := s.st.Iterate(ctx, []byte(spanIdxPfx), false, func(k, _ []byte) error {
			if len(k) <= spanKeyHead {
				return fmt.Errorf("%w: overlap index key %q", ErrCorrupt, k)
			}
			// Every stream written on that day ended by its end plus the
			// skew (uploads refuse later ends).
			if day := int64(binary.BigEndian.Uint32(k[len(spanIdxPfx):])); (day+1)*dayMs+skew > oldest || len(keys) == pruneSpanBatch {
				return store.ErrStop
			}
			keys = append(keys, bytes.Clone(k))
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("counting: prune overlap state: %w", err)
		}
		if len(keys) == 0 {
			return total, nil
		}
		n := 0
		err = s.st.Update(ctx, func(tx store.Txn) error {
			n = 0
			for _, k := range keys {
				day := int64(binary.BigEndian.Uint32(k[len(spanIdxPfx):]))
				c, dev := k[spanKeyHead-1], model.DeviceID(k[spanKeyHead:])
				if err := tx.Delete(k); err != nil {
					return err
				}
				b, err := tx.Get(spanKey(c, dev))
				if errors.Is(err, store.ErrNotFound) {
					continue
				}
				if err != nil {
					return err
				}
				set, err := decodeSpans(b)
				if err != nil {
					return fmt.Errorf("device %s: %w", dev, err)
				}
				if set.day != day { // written again since: indexed under its new day
					continue
				}
				if err := tx.Delete(spanKey(c, dev)); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return total, fmt.Errorf("counting: prune overlap state: %w", err)
		}
		total += n
	}
}

// accountStart returns the earliest start (Unix ms) user's plays may
// have: the account's creation less the skew, or 0 when the relay has no
// creation time for it.
func (s *Service) accountStart(ctx context.Context, user model.UserID) (int64, error) {
	b, err := s.st.Get(ctx, relay.AccountKey(user))
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("counting: read account: %w", err)
	}
	var a relay.Account
	if err := relay.DecodeRecord(b, &a); err != nil {
		return 0, fmt.Errorf("%w: account %s: %v", ErrCorrupt, user, err)
	}
	if a.Created.IsZero() {
		return 0, nil
	}
	return a.Created.UnixMilli() - s.opts.skew.Milliseconds(), nil
}

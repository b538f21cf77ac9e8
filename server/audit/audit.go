// Package audit is the relay's tamper-evident audit log of counting:
// every counted stream and every rejected play event is a record that
// carries the SHA-256 of the previous record, and every N records the
// relay signs a checkpoint (record count, head hash, time) with the
// catalog key. Verify recomputes the chain from the store and checks
// every checkpoint, naming the first bad record after an edit, a
// deletion, a reorder or a truncation. Keys are in docs/ARCHITECTURE.md §5.
//
// Records are stored in blocks: the key aud/r/<u64 index> holds the
// record with that index and the records after it appended in the same
// transaction (at most MaxBlockRecords), as a CBOR sequence (RFC 8742)
// of their encodings. A record's hash is over its own encoding, so the
// chain is the same however records are grouped into blocks, and a
// block of one record is the layout earlier versions wrote for every
// record.
//
// A truncation after the last checkpoint that also removes the head
// record cannot be seen from the data directory alone: publish or copy
// checkpoints elsewhere to anchor the tail.
package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/cborx"
	"github.com/segue-fm/segue/store"
)

// CheckpointDomain is the signing domain of audit checkpoints.
const CheckpointDomain = "segue-audit-checkpoint-v1"

// Record kinds.
const (
	KindStream    = "stream"
	KindRejection = "rejection"
)

// ErrTampered: the chain or a checkpoint does not verify; the message
// names the first bad record.
var ErrTampered = errors.New("audit: log tampered")

// Record is one audit entry. Index and Prev are set by the Chain.
type Record struct {
	Index   uint64   `cbor:"1,keyasint"`
	Prev    [32]byte `cbor:"2,keyasint"`
	Kind    string   `cbor:"3,keyasint"`
	Time    int64    `cbor:"4,keyasint"` // Unix ms, relay clock
	Device  string   `cbor:"5,keyasint"`
	User    string   `cbor:"6,keyasint,omitempty"`
	Seq     uint64   `cbor:"7,keyasint"`
	Track   string   `cbor:"8,keyasint"`
	Started int64    `cbor:"9,keyasint"` // Unix ms
	Played  int64    `cbor:"10,keyasint"`
	Reason  string   `cbor:"11,keyasint,omitempty"` // rejections
	Offset  uint64   `cbor:"12,keyasint,omitempty"` // event-log offset of a stream
}

// Checkpoint is the signed payload of a checkpoint: the number of
// records so far, the SHA-256 of the last one, and the relay's time.
type Checkpoint struct {
	Count uint64   `cbor:"1,keyasint"`
	Head  [32]byte `cbor:"2,keyasint"`
	Time  int64    `cbor:"3,keyasint"` // Unix ms
	// Month is set on a month-end checkpoint: the UTC month (YYYY-MM)
	// whose records end at Count.
	Month string `cbor:"4,keyasint,omitempty"`
}

var (
	monthKey = []byte("aud/month")
	headKey  = []byte("aud/head")
	recPfx   = []byte("aud/r/")
	cpPfx    = []byte("aud/c/")
	enc      = cborx.EncMode()
	dec      = cborx.Limits{MaxNestedLevels: 4, MaxArrayElements: 64, MaxMapPairs: 32}.StrictDecMode()
)

func recKey(i uint64) []byte { return binary.BigEndian.AppendUint64(bytes.Clone(recPfx), i) }
func cpKey(n uint64) []byte  { return binary.BigEndian.AppendUint64(bytes.Clone(cpPfx), n) }

// MaxBlockRecords bounds the records of one block (one store key): a
// transaction appending more writes several blocks.
const MaxBlockRecords = 1024

// Chain appends records to the audit log in a store. Appends are
// serialised; the chain's head is read and written in the caller's
// transaction, so records commit atomically with what they describe.
type Chain struct {
	st     store.Store
	signer ed25519.PrivateKey
	every  uint64
	now    func() time.Time
	mu     sync.Mutex
}

// DefaultCheckpointEvery is how many records `segue relay` appends
// between signed checkpoints.
const DefaultCheckpointEvery = 1000

// NewChain returns the chain in st, signing a checkpoint with signer
// every `every` records (values below 1 become DefaultCheckpointEvery);
// now is the relay clock (nil: time.Now). It does not own st.
func NewChain(st store.Store, signer ed25519.PrivateKey, every int, now func() time.Time) *Chain {
	if every < 1 {
		every = DefaultCheckpointEvery
	}
	if now == nil {
		now = time.Now
	}
	return &Chain{st: st, signer: signer, every: uint64(every), now: now}
}

// Update runs fn in one store transaction, serialised with every other
// append; fn may call add to append records (Index, Prev and Time are
// set by the chain) and write its own keys with tx. Nothing is appended
// when fn or the commit fails.
func (c *Chain) Update(ctx context.Context, fn func(tx store.Txn, add func(Record) error) error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.Update(ctx, func(tx store.Txn) error {
		count, head, err := readHead(tx.Get)
		if err != nil {
			return err
		}
		now := c.now().UnixMilli()
		month := time.UnixMilli(now).UTC().Format("2006-01")
		prevMonth, err := tx.Get(monthKey)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		closed := false
		// The records added in this transaction are written as blocks
		// of up to MaxBlockRecords, each under its first record's index.
		var block []byte
		blockStart, inBlock := count, 0
		flush := func() error {
			if inBlock == 0 {
				return nil
			}
			err := tx.Set(recKey(blockStart), block)
			block, blockStart, inBlock = nil, count, 0
			return err
		}
		add := func(r Record) error {
			if !closed && string(prevMonth) != month {
				// The first record of a new month closes the previous
				// month's records with a signed month-end checkpoint.
				closed = true
				if err := c.monthEnd(tx, count, head, now, string(prevMonth)); err != nil {
					return err
				}
				if err := tx.Set(monthKey, []byte(month)); err != nil {
					return err
				}
			}
			r.Index, r.Prev, r.Time = count, head, now
			start := len(block)
			block = appendRecord(block, &r)
			count, head = count+1, sha256.Sum256(block[start:])
			if inBlock++; inBlock == MaxBlockRecords {
				if err := flush(); err != nil {
					return err
				}
			}
			if count%c.every != 0 {
				return nil
			}
			p, err := enc.Marshal(Checkpoint{Count: count, Head: head, Time: now})
			if err != nil {
				return err
			}
			env, err := crypto.Sign(c.signer, CheckpointDomain, p)
			if err != nil {
				return err
			}
			return tx.Set(cpKey(count), env)
		}
		if err := fn(tx, add); err != nil {
			return err
		}
		if err := flush(); err != nil {
			return err
		}
		return tx.Set(headKey, binary.BigEndian.AppendUint64(head[:], count))
	})
}

// monthEnd signs the checkpoint closing month at count records (none
// for an empty log or when the first month begins).
func (c *Chain) monthEnd(tx store.Txn, count uint64, head [32]byte, now int64, month string) error {
	if count == 0 || month == "" {
		return nil
	}
	p, err := enc.Marshal(Checkpoint{Count: count, Head: head, Time: now, Month: month})
	if err != nil {
		return err
	}
	env, err := crypto.Sign(c.signer, CheckpointDomain, p)
	if err != nil {
		return err
	}
	return tx.Set(cpKey(count), env)
}

// readHead returns the record count and the last record's hash.
func readHead(get func([]byte) ([]byte, error)) (uint64, [32]byte, error) {
	var h [32]byte
	b, err := get(headKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return 0, h, nil
	case err != nil:
		return 0, h, err
	case len(b) != 40:
		return 0, h, fmt.Errorf("%w: head of %d bytes", ErrTampered, len(b))
	}
	copy(h[:], b)
	return binary.BigEndian.Uint64(b[32:]), h, nil
}

// Report is what Verify checked.
type Report struct {
	Records     uint64
	Checkpoints int
	// MonthEnds are the months closed by a month-end checkpoint, in
	// order.
	MonthEnds []string
}

// Verify recomputes the chain in st and checks every checkpoint's
// signature with pub and its count and head against the chain, and the
// head record. The first problem is ErrTampered naming the first bad
// record: a record whose stored index is not its position (reordered),
// a missing index (deleted), a record whose hash is not its successor's
// Prev (edited), a checkpoint beyond the last record (truncated) or
// whose head differs (edited).
func Verify(ctx context.Context, st store.Store, pub ed25519.PublicKey) (Report, error) {
	var rep Report
	heads := map[uint64][32]byte{} // count → hash of record count-1
	var prev [32]byte
	var n uint64
	// gap is set when record n is not where it should be and a record
	// with a higher index is: the rest of the log is searched for record
	// n to tell a reorder from a deletion.
	var gap struct {
		set, found bool
		held       uint64
	}
	err := st.Iterate(ctx, recPfx, false, func(k, v []byte) error {
		if gap.set {
			rs, _, _ := decodeBlock(v)
			if slices.ContainsFunc(rs, func(x Record) bool { return x.Index == n }) {
				gap.found = true
				return store.ErrStop
			}
			return nil
		}
		if len(k) != len(recPfx)+8 {
			return fmt.Errorf("%w: stray key %q", ErrTampered, k)
		}
		at := binary.BigEndian.Uint64(k[len(recPfx):])
		if at != n {
			return fmt.Errorf("%w: record %d missing (next present is %d): deleted", ErrTampered, n, at)
		}
		rs, raws, derr := decodeBlock(v)
		for i, r := range rs {
			if r.Index != n {
				if r.Index > n && !slices.ContainsFunc(rs[i+1:], func(x Record) bool { return x.Index == n }) {
					gap.set, gap.held = true, r.Index
					return nil
				}
				return fmt.Errorf("%w: record %d holds index %d: reordered", ErrTampered, n, r.Index)
			}
			if r.Prev != prev {
				return fmt.Errorf("%w: record %d does not chain to record %d: record %d edited", ErrTampered, n, n-1, n-1)
			}
			prev = sha256.Sum256(raws[i])
			n++
			heads[n] = prev
		}
		if derr != nil {
			return fmt.Errorf("%w: record %d does not decode: %v", ErrTampered, n, derr)
		}
		return nil
	})
	switch {
	case err != nil:
		return rep, err
	case gap.found:
		return rep, fmt.Errorf("%w: record %d holds index %d: reordered", ErrTampered, n, gap.held)
	case gap.set:
		return rep, fmt.Errorf("%w: record %d missing (next present is %d): deleted", ErrTampered, n, gap.held)
	}
	rep.Records = n
	err = st.Iterate(ctx, cpPfx, false, func(k, v []byte) error {
		if len(k) != len(cpPfx)+8 {
			return fmt.Errorf("%w: stray key %q", ErrTampered, k)
		}
		at := binary.BigEndian.Uint64(k[len(cpPfx):])
		p, err := crypto.Verify(pub, CheckpointDomain, v)
		if err != nil {
			return fmt.Errorf("%w: checkpoint at %d: signature: %v", ErrTampered, at, err)
		}
		var cp Checkpoint
		if err := dec.Unmarshal(p, &cp); err != nil || cp.Count != at {
			return fmt.Errorf("%w: checkpoint at %d: bad payload", ErrTampered, at)
		}
		h, ok := heads[at]
		if !ok {
			return fmt.Errorf("%w: checkpoint covers %d records, the log has %d: truncated from record %d", ErrTampered, at, n, n)
		}
		if h != cp.Head {
			return fmt.Errorf("%w: checkpoint at %d: head differs: record %d edited", ErrTampered, at, at-1)
		}
		rep.Checkpoints++
		if cp.Month != "" {
			rep.MonthEnds = append(rep.MonthEnds, cp.Month)
		}
		return nil
	})
	if err != nil {
		return rep, err
	}
	count, head, err := readHead(func(k []byte) ([]byte, error) { return st.Get(ctx, k) })
	if err != nil {
		return rep, fmt.Errorf("audit: read head: %w", err)
	}
	switch {
	case count > n:
		return rep, fmt.Errorf("%w: head says %d records, the log has %d: truncated from record %d", ErrTampered, count, n, n)
	case count < n:
		return rep, fmt.Errorf("%w: head says %d records, the log has %d: record %d appended outside the chain", ErrTampered, count, n, count)
	case n > 0 && head != prev:
		return rep, fmt.Errorf("%w: head hash differs: record %d edited", ErrTampered, n-1)
	}
	return rep, nil
}

// appendRecord appends r's encoding to block: the bytes enc.Marshal
// gives (core deterministic CBOR: a map with its integer keys ascending,
// the omitempty fields left out when empty, shortest integer and length
// forms), written without reflection (TestAppendRecordMatchesMarshal).
func appendRecord(block []byte, r *Record) []byte {
	n := 9
	for _, set := range []bool{r.User != "", r.Reason != "", r.Offset != 0} {
		if set {
			n++
		}
	}
	block = append(block, 0xa0|byte(n))
	block = cborx.AppendHead(append(block, 1), 0, r.Index)
	block = append(append(block, 2, 0x58, 32), r.Prev[:]...)
	block = cborx.AppendText(append(block, 3), r.Kind)
	block = cborx.AppendInt(append(block, 4), r.Time)
	block = cborx.AppendText(append(block, 5), r.Device)
	if r.User != "" {
		block = cborx.AppendText(append(block, 6), r.User)
	}
	block = cborx.AppendHead(append(block, 7), 0, r.Seq)
	block = cborx.AppendText(append(block, 8), r.Track)
	block = cborx.AppendInt(append(block, 9), r.Started)
	block = cborx.AppendInt(append(block, 10), r.Played)
	if r.Reason != "" {
		block = cborx.AppendText(append(block, 11), r.Reason)
	}
	if r.Offset != 0 {
		block = cborx.AppendHead(append(block, 12), 0, r.Offset)
	}
	return block
}

// decodeBlock decodes a stored block (a CBOR sequence of at least one
// record) into its records and each one's encoding (subslices of v, the
// bytes its hash is over). On an error rs holds the records before the
// one that does not decode.
func decodeBlock(v []byte) (rs []Record, raws [][]byte, err error) {
	if len(v) == 0 {
		return nil, nil, errors.New("empty block")
	}
	for rest := v; len(rest) > 0; {
		var r Record
		tail, err := dec.UnmarshalFirst(rest, &r)
		if err != nil {
			return rs, raws, err
		}
		if len(rs) == MaxBlockRecords {
			return rs, raws, fmt.Errorf("block of more than %d records", MaxBlockRecords)
		}
		rs, raws = append(rs, r), append(raws, rest[:len(rest)-len(tail)])
		rest = tail
	}
	return rs, raws, nil
}

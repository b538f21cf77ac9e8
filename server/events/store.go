package events

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/cborx"
	"github.com/segue-fm/segue/store"
)

// Store keys (docs/ARCHITECTURE.md §5; chunks and de-duplication blocks
// in format.go).
var (
	headKey   = []byte("ev/head")
	batchPfx  = []byte("ev/b/")
	maxReadTx = 10000
)

func batchKey(id uint64) []byte { return binary.BigEndian.AppendUint64(bytes.Clone(batchPfx), id) }

var (
	enc = cborx.EncMode()
	dec = cborx.Limits{MaxNestedLevels: 6, MaxArrayElements: 64, MaxMapPairs: 64}.DecMode()
)

// batchRec is the stored form of a StoredBatch (ev/b/<id>).
type batchRec struct {
	Device   model.DeviceID `cbor:"1,keyasint"`
	User     model.UserID   `cbor:"2,keyasint"`
	Received int64          `cbor:"3,keyasint"`
	Message  []byte         `cbor:"4,keyasint"`
	Sig      []byte         `cbor:"5,keyasint"`
}

// CheckBatch is the validation every backend applies before an append:
// the batch needs a device, a signature and events, and every event a
// signed encoding (crypto.PlaysMessage: strings ≤ 65,535 bytes). It
// returns each event's content hash for the (device, seq)
// de-duplication: SHA-256 of its signed encoding as a one-event batch.
// Errors wrap ErrBadBatch.
func CheckBatch(b Batch) ([][32]byte, error) {
	if b.Device == "" || len(b.Sig) == 0 || len(b.Events) == 0 {
		return nil, ErrBadBatch
	}
	hashes := make([][32]byte, len(b.Events))
	var buf []byte
	for i := range b.Events {
		var err error
		buf, err = crypto.AppendPlaysMessage(buf[:0], b.Device, b.Events[i:i+1])
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadBatch, err)
		}
		hashes[i] = sha256.Sum256(buf)
	}
	return hashes, nil
}

// StoreLog is the embedded Log over a store.Store (the relay's Badger;
// store.Memory for pure tests): a batch's accepted events (as chunks of
// at most 256), its signed claim, the de-duplication blocks it touches
// and the head are written in one store transaction, so a crash leaves
// either the whole batch or none of it. No key is written or read per
// event (format.go).
//
// Group commit: concurrent Appends are committed together. The first
// caller finding no commit in progress becomes the leader and commits
// every batch queued meanwhile (up to MaxGroupEvents events) in one
// transaction, hence one fsync, in arrival order; the others wait for
// that commit and return their own outcomes. No Append returns before
// the transaction holding its batch is durable, and a failed transaction
// fails every batch in it (none of them is added).
type StoreLog struct {
	st store.Store
	mu sync.Mutex // serialises transactions (appends and pruning)

	gmu        sync.Mutex
	pending    []*appendReq
	committing bool

	formatOK atomic.Bool // ev/fmt checked (and a legacy log migrated)

	tail *tail // recent entries (WithTailCache), nil without
}

// MaxGroupEvents bounds the events one group-commit transaction holds; a
// batch larger than it is committed alone.
const MaxGroupEvents = 20000

// appendReq is one queued Append.
type appendReq struct {
	b      Batch
	hashes [][32]byte
	out    []Outcome
	err    error
	done   chan struct{}
}

// NewStoreLog returns the log kept in st under ev/… . It does not own st.
func NewStoreLog(st store.Store) *StoreLog { return &StoreLog{st: st} }

// WithTailCache makes l keep the last n entries it appended in
// memory, as Read decodes them, and answer Read from there: a consumer
// keeping up with the appends (the relay's counting) then costs no store
// read and no decode. The cache holds only committed entries, so Read
// returns the same entries with or without it; what it no longer sees is
// the store's copy of those entries changing under the running process
// (a corruption is found when they are read from the store, after a
// restart or once they left the cache). n < 1 means no cache. Call it
// before l is used; it returns l.
func (l *StoreLog) WithTailCache(n int) *StoreLog {
	if n >= 1 {
		l.tail = &tail{max: n}
	} else {
		l.tail = nil
	}
	return l
}

// DefaultTailCache is the tail cache `segue relay` gives its event log
// (WithTailCache): ≈ 0.9 s of ingest at 150,000 events/s, ≈ 30 MiB
// (≈ 230 bytes an entry).
const DefaultTailCache = 1 << 17

// Append implements Log. A batch is committed in one store transaction,
// possibly shared with concurrent batches (group commit), so callers
// bound its size (the relay takes at most 1,000 events a batch). Once
// queued, an Append waits for its commit even when ctx is cancelled, so
// an error always means nothing of the batch was added.
func (l *StoreLog) Append(ctx context.Context, b Batch) ([]Outcome, error) {
	hashes, err := CheckBatch(b)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := l.ready(ctx); err != nil {
		return nil, err
	}
	r := &appendReq{b: b, hashes: hashes, done: make(chan struct{})}
	l.gmu.Lock()
	l.pending = append(l.pending, r)
	if l.committing {
		l.gmu.Unlock()
		<-r.done
		return r.out, r.err
	}
	l.committing = true
	for len(l.pending) > 0 {
		n, events := 0, 0
		for n < len(l.pending) && (n == 0 || events+len(l.pending[n].b.Events) <= MaxGroupEvents) {
			events += len(l.pending[n].b.Events)
			n++
		}
		group := l.pending[:n:n]
		l.pending = l.pending[n:]
		l.gmu.Unlock()
		l.commitGroup(context.WithoutCancel(ctx), group)
		l.gmu.Lock()
	}
	l.committing = false
	l.pending = nil
	l.gmu.Unlock()
	<-r.done
	return r.out, r.err
}

// commitGroup commits group in one transaction, halving it when the
// store reports the transaction too big, and wakes every request.
func (l *StoreLog) commitGroup(ctx context.Context, group []*appendReq) {
	err := l.commit(ctx, group)
	if errors.Is(err, store.ErrTxnTooBig) && len(group) > 1 {
		l.commitGroup(ctx, group[:len(group)/2])
		l.commitGroup(ctx, group[len(group)/2:])
		return
	}
	for _, r := range group {
		if err != nil {
			r.out, r.err = nil, fmt.Errorf("events: append: %w", err)
		}
		close(r.done)
	}
}

// commit writes group in one transaction and sets each request's
// outcomes (valid only when it returns nil): per batch its chunks and
// claim, per touched (device, 256 seqs) its de-duplication block, and the
// head.
func (l *StoreLog) commit(ctx context.Context, group []*appendReq) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var fresh []Entry // the committed entries, for the tail cache
	if l.tail != nil {
		n := 0
		for _, r := range group {
			n += len(r.b.Events)
		}
		fresh = make([]Entry, 0, n)
	}
	err := l.st.Update(ctx, func(tx store.Txn) error {
		fresh = fresh[:0]
		head, err := readHead(tx.Get)
		if err != nil {
			return err
		}
		start := head
		blocks := map[string]*dedupBlock{}
		var order []string
		for _, r := range group {
			b := r.b
			r.out = make([]Outcome, len(b.Events))
			acc := make([]api.PlayWire, 0, len(b.Events))
			var blk *dedupBlock
			lastBlock := uint64(math.MaxUint64) // seq/BlockEvents of blk
			for i, e := range b.Events {
				if e.Seq/BlockEvents != lastBlock {
					blk, lastBlock = nil, e.Seq/BlockEvents
				}
				if blk == nil {
					blk, err = l.loadBlock(tx, blocks, &order, b.Device, e.Seq)
					if err != nil {
						return err
					}
				}
				h := hash8(r.hashes[i])
				if old, ok := blk.lookup(e.Seq); ok {
					if old == h {
						r.out[i] = Duplicate
					} else {
						r.out[i] = Conflict
					}
					continue
				}
				blk.add(e.Seq, h)
				acc = append(acc, api.WireOf(e))
				r.out[i] = Appended
			}
			if len(acc) == 0 {
				continue
			}
			id := head
			if l.tail != nil {
				for i, w := range acc {
					e, _ := w.Record() // WireOf sets only known flags
					fresh = append(fresh, Entry{Offset: head + uint64(i), Batch: id, Device: b.Device, User: b.User, Received: b.Received, Event: e})
				}
			}
			for len(acc) > 0 {
				n := min(uint64(len(acc)), BlockEvents-head%BlockEvents)
				rec := appendChunk(nil, &chunkRec{Batch: id, Device: b.Device, User: b.User, Received: b.Received, Events: acc[:n]})
				if err := tx.Set(chunkKey(head), rec); err != nil {
					return err
				}
				head += n
				acc = acc[n:]
			}
			br, err := enc.Marshal(batchRec{Device: b.Device, User: b.User, Received: b.Received, Message: b.Message, Sig: b.Sig})
			if err != nil {
				return err
			}
			if err := tx.Set(batchKey(id), br); err != nil {
				return err
			}
		}
		for _, bk := range order {
			if blk := blocks[bk]; blk.dirty {
				if err := tx.Set([]byte(bk), blk.encode()); err != nil {
					return err
				}
			}
		}
		if head == start {
			return nil
		}
		return tx.Set(headKey, binary.BigEndian.AppendUint64(nil, head))
	})
	if err == nil && l.tail != nil {
		l.tail.add(fresh)
	}
	return err
}

// loadBlock returns the de-duplication block of dev's seq from blocks,
// reading it from tx (an empty one when absent) the first time and then
// noting its key in blocks and order.
func (l *StoreLog) loadBlock(tx store.Txn, blocks map[string]*dedupBlock, order *[]string, dev model.DeviceID, seq uint64) (*dedupBlock, error) {
	bk := string(blockKey(dev, seq))
	if blk := blocks[bk]; blk != nil {
		return blk, nil
	}
	blk := &dedupBlock{}
	raw, err := tx.Get([]byte(bk))
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, err
	default:
		if blk, err = decodeBlock(raw); err != nil {
			return nil, fmt.Errorf("device %s seq %d: %w", dev, seq, err)
		}
	}
	blocks[bk] = blk
	*order = append(*order, bk)
	return blk, nil
}

func readHead(get func([]byte) ([]byte, error)) (uint64, error) {
	b, err := get(headKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return 0, nil
	case err != nil:
		return 0, err
	case len(b) != 8:
		return 0, fmt.Errorf("%w: head of %d bytes", ErrCorrupt, len(b))
	}
	return binary.BigEndian.Uint64(b), nil
}

// Head implements Log.
func (l *StoreLog) Head(ctx context.Context) (uint64, error) {
	h, err := readHead(func(k []byte) ([]byte, error) { return l.st.Get(ctx, k) })
	if err != nil {
		return 0, fmt.Errorf("events: head: %w", err)
	}
	return h, nil
}

// Read implements Log; limit is capped at 10,000. It reads the chunks
// covering the range, one 256-offset block at a time.
func (l *StoreLog) Read(ctx context.Context, from uint64, limit int) ([]Entry, error) {
	if err := l.ready(ctx); err != nil {
		return nil, err
	}
	limit = min(max(limit, 1), maxReadTx)
	head, err := l.Head(ctx)
	if err != nil {
		return nil, err
	}
	low, err := l.low(func(k []byte) ([]byte, error) { return l.st.Get(ctx, k) })
	if err != nil {
		return nil, fmt.Errorf("events: read: %w", err)
	}
	if from < low && from < head {
		return nil, fmt.Errorf("%w: offset %d (first kept %d)", ErrPruned, from, low)
	}
	var out []Entry
	if l.tail != nil {
		var ok bool
		if out, ok = l.tail.read(out, from, limit); ok {
			return out, nil
		}
	}
	for off := from; off < head && len(out) < limit; {
		next := off
		err := l.st.Iterate(ctx, chunkBlockPrefix(off), false, func(k, v []byte) error {
			s := binary.BigEndian.Uint64(k[len(chunkPfx):])
			if s > next {
				return fmt.Errorf("%w: no chunk holds offset %d", ErrCorrupt, next)
			}
			c, err := decodeChunk(s, v)
			if err != nil {
				return err
			}
			if end := s + uint64(len(c.Events)); end > next {
				if out, err = c.entries(out, s, next, limit); err != nil {
					return err
				}
				next = end
			}
			if len(out) >= limit || next >= head {
				return store.ErrStop
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("events: read %d: %w", off, err)
		}
		if next == off || (next%BlockEvents != 0 && next < head && len(out) < limit) {
			return nil, fmt.Errorf("%w: no chunk holds offset %d", ErrCorrupt, next)
		}
		off = next
	}
	return out, nil
}

// Batch implements Log.
func (l *StoreLog) Batch(ctx context.Context, id uint64) (StoredBatch, error) {
	b, err := l.st.Get(ctx, batchKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return StoredBatch{}, fmt.Errorf("%w: batch %d", ErrNotFound, id)
	}
	if err != nil {
		return StoredBatch{}, fmt.Errorf("events: batch %d: %w", id, err)
	}
	var r batchRec
	if err := dec.Unmarshal(b, &r); err != nil {
		return StoredBatch{}, fmt.Errorf("%w: batch %d: %v", ErrCorrupt, id, err)
	}
	return StoredBatch(r), nil
}

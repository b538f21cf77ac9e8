// Package natslog is the events.Log backend on NATS JetStream, for
// deployments that outgrow one relay: several relays append to one
// replicated stream and the counting consumer reads it.
//
// Layout (prefix P, default "segue_plays"):
//
//   - stream P_EVENTS, subjects P.ev.<device>.<seq>: one message per
//     appended event (CBOR {batch, device, user, received, event}), so
//     stream sequence n is log offset n-1 and offsets stay dense;
//   - stream P_BATCHES, subjects P.batch.<id>: one message per batch with
//     at least one appended event, its signed message and signature.
//
// De-duplication: every event is published with Nats-Msg-Id =
// "<device>/<seq>" (JetStream drops a repeat inside the duplicate window
// and acknowledges it as a duplicate) and with an expected last sequence
// of 0 for its subject, which the server checks atomically against the
// subject index, so a (device, seq) is appended at most once for the
// stream's whole life, not only inside the window. A refused or duplicate
// publish is then compared with the stored event's content hash (header
// Segue-Hash, SHA-256 of its crypto.PlaysMessage): same content is
// Duplicate, different content Conflict.
//
// Durability: an event counts as appended once JetStream acknowledged
// it, i.e. stored it; the server must sync every write (nats-server
// sync_interval: always, Options.SyncAlways) for that to survive power
// loss, as the Badger backend does. Read pulls through a consumer with
// explicit acknowledgement, acking each message it returns; the reader's
// position is the caller's (counting keeps it in its own transaction), so
// a Read from another offset recreates the consumer there.
//
// Difference from the Badger backend: an Append is one publish per event,
// not one transaction. The events are published asynchronously, all in
// flight at once, and Append waits for every acknowledgement before it
// returns: it reports outcomes only when every event was acknowledged
// (stored, or refused as already taken). When some were not (a stream
// limit, a lost connection, a timeout) it returns events.ErrNotStored and
// no outcome, although the others may be stored: the relay answers 503,
// the device acknowledges nothing and retries the whole batch, and the
// retry finds the stored ones as Duplicate, so each event is still
// appended exactly once and nothing is acknowledged that is not stored
// (TestPartialAckFailure).
//
// Throughput: with sync_interval always the server fsyncs every message,
// so one message per event bounds an Append to about one event per fsync
// (≈ 1,000–1,500 events/s on the benchmark machine's disk), however many
// are in flight; see docs/BENCHMARKS.md.
package natslog

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/cborx"
	"github.com/segue-fm/segue/server/events"
)

// hashHeader carries an event's content hash (hex).
const hashHeader = "Segue-Hash"

// Options configures a Log. Start from DefaultOptions.
type Options struct {
	prefix    string
	replicas  int
	consumer  string
	timeout   time.Duration
	dupWindow time.Duration
	maxAge    time.Duration
}

// DefaultOptions: prefix "segue_plays", 1 replica, consumer "counting",
// 10 s per JetStream request, a 2-minute duplicate window.
func DefaultOptions() Options {
	return Options{prefix: "segue_plays", replicas: 1, consumer: "counting", timeout: 10 * time.Second, dupWindow: 2 * time.Minute}
}

// WithPrefix sets the stream and subject prefix (letters, digits, '_'
// and '-'; default "segue_plays"). Invalid prefixes keep the current one.
func (o Options) WithPrefix(p string) Options {
	if validToken(p) {
		o.prefix = p
	}
	return o
}

// WithReplicas sets the streams' replica count (default 1; values below 1
// keep the current one).
func (o Options) WithReplicas(n int) Options {
	if n > 0 {
		o.replicas = n
	}
	return o
}

// WithConsumer sets the durable consumer name Read uses (default
// "counting"; invalid names keep the current one).
func (o Options) WithConsumer(name string) Options {
	if validToken(name) {
		o.consumer = name
	}
	return o
}

// WithTimeout sets the deadline of each JetStream request (default 10 s).
func (o Options) WithTimeout(d time.Duration) Options {
	if d > 0 {
		o.timeout = d
	}
	return o
}

// WithMaxAge sets the retention of raw events: both streams get this
// JetStream MaxAge, so the server deletes events and batches published
// longer ago (default 0: keep forever; negative values become 0). The
// (device, seq) de-duplication lives in the events stream, so it ends
// with the event: the log reports the age through MaxAge and the counting
// service then rejects plays that started too long ago (api.PlayTooOld),
// so a retry or replay of an expired event is refused, not counted again.
// The consumer must count events before they expire; a Read below the
// stream's first kept event returns events.ErrPruned.
func (o Options) WithMaxAge(d time.Duration) Options {
	o.maxAge = max(d, 0)
	return o
}

func validToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

var (
	enc = cborx.EncMode()
	dec = cborx.Limits{MaxNestedLevels: 6, MaxArrayElements: 64, MaxMapPairs: 64}.DecMode()
)

// entryRec is an event message's body.
type entryRec struct {
	Batch    uint64         `cbor:"1,keyasint"`
	Device   model.DeviceID `cbor:"2,keyasint"`
	User     model.UserID   `cbor:"3,keyasint"`
	Received int64          `cbor:"4,keyasint"`
	Event    api.PlayRecord `cbor:"5,keyasint"`
}

// batchRec is a batch message's body.
type batchRec struct {
	Device   model.DeviceID `cbor:"1,keyasint"`
	User     model.UserID   `cbor:"2,keyasint"`
	Received int64          `cbor:"3,keyasint"`
	Message  []byte         `cbor:"4,keyasint"`
	Sig      []byte         `cbor:"5,keyasint"`
}

// Log is the JetStream events.Log. It is safe for concurrent use; it does
// not own the connection.
type Log struct {
	opts    Options
	js      jetstream.JetStream
	evs     jetstream.Stream
	batches jetstream.Stream

	mu       sync.Mutex // guards the reading consumer
	cons     jetstream.Consumer
	consName string // the consumer's name, "" when none was created
	next     uint64 // offset the consumer delivers next
}

var _ events.Log = (*Log)(nil)

// Open creates (or updates) the two streams on nc's JetStream and returns
// the log over them.
func Open(ctx context.Context, nc *nats.Conn, opts Options) (*Log, error) {
	js, err := jetstream.New(nc, jetstream.WithDefaultTimeout(opts.timeout), jetstream.WithPublishAsyncMaxPending(1<<16))
	if err != nil {
		return nil, fmt.Errorf("natslog: %w", err)
	}
	l := &Log{opts: opts, js: js}
	if opts.maxAge > 0 {
		// JetStream refuses a duplicate window longer than the age.
		opts.dupWindow = min(opts.dupWindow, opts.maxAge)
	}
	l.evs, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: opts.prefix + "_EVENTS", Subjects: []string{opts.prefix + ".ev.>"},
		Storage: jetstream.FileStorage, Replicas: opts.replicas, Retention: jetstream.LimitsPolicy,
		Duplicates: opts.dupWindow, Discard: jetstream.DiscardNew, MaxAge: opts.maxAge,
	})
	if err != nil {
		return nil, fmt.Errorf("natslog: events stream: %w", err)
	}
	l.batches, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name: opts.prefix + "_BATCHES", Subjects: []string{opts.prefix + ".batch.>"},
		Storage: jetstream.FileStorage, Replicas: opts.replicas, Retention: jetstream.LimitsPolicy,
		Discard: jetstream.DiscardNew, MaxAge: opts.maxAge,
	})
	if err != nil {
		return nil, fmt.Errorf("natslog: batches stream: %w", err)
	}
	if err := l.dropReaders(ctx); err != nil {
		return nil, err
	}
	return l, nil
}

// dropReaders deletes the reading consumers an earlier Log with the same
// consumer name left (a relay that crashed, or before this one used fresh
// names: the bare name).
func (l *Log) dropReaders(ctx context.Context) error {
	names := l.evs.ConsumerNames(ctx)
	var stale []string
	for n := range names.Name() {
		if n == l.opts.consumer || strings.HasPrefix(n, l.opts.consumer+"_") {
			stale = append(stale, n)
		}
	}
	if err := names.Err(); err != nil {
		return fmt.Errorf("natslog: list consumers: %w", err)
	}
	for _, n := range stale {
		if err := l.evs.DeleteConsumer(ctx, n); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("natslog: delete consumer %s: %w", n, err)
		}
	}
	return nil
}

func (l *Log) evSubject(dev model.DeviceID, seq uint64) string {
	return l.opts.prefix + ".ev." + string(dev) + "." + strconv.FormatUint(seq, 10)
}

func (l *Log) batchSubject(id uint64) string {
	return l.opts.prefix + ".batch." + strconv.FormatUint(id, 10)
}

// validDevice: a device id must be one subject token.
func validDevice(d model.DeviceID) bool {
	return d != "" && !strings.ContainsAny(string(d), ".*> \t\r\n")
}

// Append implements events.Log (see the package doc for how a failure
// midway differs from the Badger backend).
func (l *Log) Append(ctx context.Context, b events.Batch) ([]events.Outcome, error) {
	if !validDevice(b.Device) {
		return nil, events.ErrBadBatch
	}
	sums, err := events.CheckBatch(b)
	if err != nil {
		return nil, err
	}
	hashes := make([]string, len(sums))
	for i, h := range sums {
		hashes[i] = hex.EncodeToString(h[:])
	}
	var raw [8]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, err
	}
	id := binary.BigEndian.Uint64(raw[:]) >> 1 // positive in every language's int64
	// The batch record goes first, so every entry's batch exists; it is
	// deleted again when no event was appended.
	br, err := enc.Marshal(batchRec{Device: b.Device, User: b.User, Received: b.Received, Message: b.Message, Sig: b.Sig})
	if err != nil {
		return nil, err
	}
	back, err := l.js.Publish(ctx, l.batchSubject(id), br, jetstream.WithExpectLastSequencePerSubject(0))
	if err != nil {
		return nil, fmt.Errorf("natslog: publish batch: %w", err)
	}
	out := make([]events.Outcome, len(b.Events))
	futures := make([]jetstream.PubAckFuture, len(b.Events))
	for i, e := range b.Events {
		body, err := enc.Marshal(entryRec{Batch: id, Device: b.Device, User: b.User, Received: b.Received, Event: e})
		if err != nil {
			return nil, err
		}
		msg := &nats.Msg{Subject: l.evSubject(b.Device, e.Seq), Data: body, Header: nats.Header{}}
		msg.Header.Set(hashHeader, hashes[i])
		futures[i], err = l.js.PublishMsgAsync(msg, jetstream.WithMsgID(string(b.Device)+"/"+strconv.FormatUint(e.Seq, 10)),
			jetstream.WithExpectLastSequencePerSubject(0))
		if err != nil {
			return nil, fmt.Errorf("natslog: publish event: %w: %w", events.ErrNotStored, err)
		}
	}
	appended, failed := 0, 0
	var firstErr error
	taken := make([]bool, len(futures))
	for i, f := range futures {
		var ack *jetstream.PubAck
		var err error
		select {
		case ack = <-f.Ok():
		case err = <-f.Err():
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", events.ErrNotStored, ctx.Err())
		}
		var apiErr *jetstream.APIError
		switch {
		case err == nil && !ack.Duplicate:
			out[i] = events.Appended
			appended++
		case err == nil, errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
			apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant):
			taken[i] = true
		default:
			failed++
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	if failed > 0 {
		// The batch record stays: an event whose acknowledgement was lost
		// may be stored and refer to it.
		return nil, fmt.Errorf("natslog: append: %w: %d of %d events not acknowledged: %w", events.ErrNotStored, failed, len(futures), firstErr)
	}
	for i := range futures {
		if !taken[i] {
			continue
		}
		// The (device, seq) is taken: by this content or another.
		stored, gerr := l.evs.GetLastMsgForSubject(ctx, l.evSubject(b.Device, b.Events[i].Seq))
		if gerr != nil {
			return nil, fmt.Errorf("natslog: read stored event: %w", gerr)
		}
		if stored.Header.Get(hashHeader) == hashes[i] {
			out[i] = events.Duplicate
		} else {
			out[i] = events.Conflict
		}
	}
	if appended == 0 {
		if err := l.batches.DeleteMsg(ctx, back.Sequence); err != nil {
			return nil, fmt.Errorf("natslog: drop empty batch: %w", err)
		}
	}
	return out, nil
}

// MaxAge implements events.Expirer: the streams' retention (0: none).
func (l *Log) MaxAge() time.Duration { return l.opts.maxAge }

// Head implements events.Log: the events stream's last sequence.
func (l *Log) Head(ctx context.Context) (uint64, error) {
	info, err := l.evs.Info(ctx)
	if err != nil {
		return 0, fmt.Errorf("natslog: head: %w", err)
	}
	return info.State.LastSeq, nil
}

// Read implements events.Log; limit is capped at 10,000. Events the
// stream's MaxAge removed before or during the read are reported as
// events.ErrPruned (with the entries read before them, if any), never as
// an empty read or a gap.
func (l *Log) Read(ctx context.Context, from uint64, limit int) ([]events.Entry, error) {
	limit = min(max(limit, 1), 10000)
	head, err := l.Head(ctx)
	if err != nil {
		return nil, err
	}
	if from >= head {
		return nil, nil
	}
	if err := l.checkPruned(ctx, from); err != nil {
		return nil, err
	}
	limit = int(min(uint64(limit), head-from))
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cons == nil || l.next != from {
		if err := l.seek(ctx, from); err != nil {
			return nil, err
		}
	}
	if testHookSeeked != nil {
		testHookSeeked()
	}
	var out []events.Entry
	// expired ends the read where retention removed the next entry.
	expired := func(cause error) ([]events.Entry, error) {
		l.cons = nil
		perr := l.checkPruned(ctx, from+uint64(len(out)))
		switch {
		case perr == nil:
			return nil, cause
		case !errors.Is(perr, events.ErrPruned) || len(out) == 0:
			return nil, perr
		}
		l.next = from + uint64(len(out))
		return out, nil
	}
	for len(out) < limit {
		mb, err := l.cons.Fetch(limit-len(out), jetstream.FetchMaxWait(l.opts.timeout))
		if err != nil {
			l.cons = nil
			return nil, fmt.Errorf("natslog: fetch: %w", err)
		}
		n := 0
		for m := range mb.Messages() {
			n++
			md, err := m.Metadata()
			if err != nil {
				l.cons = nil
				return nil, fmt.Errorf("natslog: %w", err)
			}
			off, want := md.Sequence.Stream-1, from+uint64(len(out))
			if off != want {
				return expired(fmt.Errorf("%w: offset %d where %d was due", events.ErrCorrupt, off, want))
			}
			var r entryRec
			if err := dec.Unmarshal(m.Data(), &r); err != nil {
				l.cons = nil
				return nil, fmt.Errorf("%w: entry %d: %v", events.ErrCorrupt, off, err)
			}
			out = append(out, events.Entry{Offset: off, Batch: r.Batch, Device: r.Device, User: r.User, Received: r.Received, Event: r.Event})
			if err := m.Ack(); err != nil {
				l.cons = nil
				return nil, fmt.Errorf("natslog: ack: %w", err)
			}
		}
		if err := mb.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			l.cons = nil
			return nil, fmt.Errorf("natslog: fetch: %w", err)
		}
		if n == 0 {
			if len(out) == 0 {
				return expired(nil)
			}
			break
		}
	}
	l.next = from + uint64(len(out))
	return out, nil
}

// testHookSeeked, when set by a test, runs in Read between the retention
// check and the first fetch.
var testHookSeeked func()

// checkPruned returns events.ErrPruned when retention (MaxAge) has
// removed the entry at offset off.
func (l *Log) checkPruned(ctx context.Context, off uint64) error {
	if l.opts.maxAge <= 0 {
		return nil
	}
	info, err := l.evs.Info(ctx)
	if err != nil {
		return fmt.Errorf("natslog: read: %w", err)
	}
	if first := info.State.FirstSeq; first > 0 && off+1 < first {
		return fmt.Errorf("%w: offset %d (first kept %d)", events.ErrPruned, off, first-1)
	}
	return nil
}

// seek recreates the reading consumer (the configured name) to deliver
// from offset from. Deleting a durable consumer and at once creating one
// under the same name can fail while the server still removes the old
// one, so the creation is retried for up to 2 s. (Fresh names per seek
// avoid that race but, with nats-server 2.x, stopped MaxAge expiry of the
// stream: TestNATSMaxAge.) Open deletes the readers a crashed Log left.
func (l *Log) seek(ctx context.Context, from uint64) error {
	name := l.opts.consumer
	if l.consName != "" {
		err := l.evs.DeleteConsumer(ctx, l.consName)
		if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("natslog: reset consumer: %w", err)
		}
		l.cons, l.consName = nil, ""
	}
	cfg := jetstream.ConsumerConfig{
		Durable: name, AckPolicy: jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from + 1,
		MaxAckPending: -1,
	}
	var c jetstream.Consumer
	var err error
	for try := 0; ; try++ {
		if c, err = l.evs.CreateConsumer(ctx, cfg); err == nil {
			break
		}
		if try == 40 {
			return fmt.Errorf("natslog: create consumer: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("natslog: create consumer: %w", ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	l.cons, l.consName, l.next = c, name, from
	return nil
}

// Batch implements events.Log.
func (l *Log) Batch(ctx context.Context, id uint64) (events.StoredBatch, error) {
	m, err := l.batches.GetLastMsgForSubject(ctx, l.batchSubject(id))
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return events.StoredBatch{}, fmt.Errorf("%w: batch %d", events.ErrNotFound, id)
	}
	if err != nil {
		return events.StoredBatch{}, fmt.Errorf("natslog: batch %d: %w", id, err)
	}
	var r batchRec
	if err := dec.Unmarshal(m.Data, &r); err != nil {
		return events.StoredBatch{}, fmt.Errorf("%w: batch %d: %v", events.ErrCorrupt, id, err)
	}
	return events.StoredBatch{Device: r.Device, User: r.User, Received: r.Received, Message: bytes.Clone(r.Message), Sig: bytes.Clone(r.Sig)}, nil
}

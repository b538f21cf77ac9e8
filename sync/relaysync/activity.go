package relaysync

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// Friend activity on the sync connection (docs/ARCHITECTURE.md §10): a
// device sends wire.TypeActivitySubscribe; the endpoint asks its
// ActivitySource (server/social) to register the connection's outbox for
// the caller's user — the authenticated one, never anything the device
// sends — and writes a snapshot batch, then everything the source pushes.
// Each subscribed connection has one writer goroutine that takes every
// pending activity at once and writes them as one wire.TypeActivity
// message (one WebSocket frame, one write); a lone activity is written as
// the frame encoded once for all the connections it goes to.

// ActivitySource is what an Endpoint delivers friend activity from
// (server/social.Service implements it). Set it with SetActivitySource.
type ActivitySource interface {
	// SubscribeActivity registers out for the activity of user's friends
	// (the source calls out.Push for each, which never blocks) and
	// returns the current feed as encoded items (wire.ActivityBatch
	// items, oldest first) and the function that removes out. An error
	// refuses the subscription; its text is sent to the device
	// (wire.TypeActivityRefused).
	SubscribeActivity(ctx context.Context, user model.UserID, out *ActivityOutbox) (feed [][]byte, cancel func(), err error)
	// ActivityWritten is called after activities were written to a
	// connection at now (the source's latency accounting). It must not
	// block or keep the slice.
	ActivityWritten(now time.Time, written []*Activity)
	// PublishActivity publishes what a device of user plays (a
	// wire.TypeActivityPublish message, decoded and bounded), as POST
	// /v1/activity does, with the same rules and rate limit; user is the
	// connection's authenticated caller. An error drops the publication
	// (the device is not answered); it must not end the connection.
	PublishActivity(ctx context.Context, user model.UserID, p wire.ActivityPublish) error
}

// Activity is one friend's activity on its way to sync connections,
// shared by every connection it goes to; immutable once made.
type Activity struct {
	item []byte
	at   time.Time

	once     sync.Once
	frame    []byte // the TypeActivity message holding only item
	frameErr error
}

// NewActivity returns an activity whose encoded item (a CBOR map, see
// wire.ActivityBatch) was published at at (the relay's stamp). item is
// not copied: the caller must not modify it.
func NewActivity(item []byte, at time.Time) *Activity { return &Activity{item: item, at: at} }

// At returns the publication stamp.
func (a *Activity) At() time.Time { return a.at }

// single returns the encoded TypeActivity message carrying only a, made
// once (the endpoints of one relay share its peer id).
func (a *Activity) single(sender string) ([]byte, error) {
	a.once.Do(func() {
		data, err := wire.EncodeActivityBatch(wire.ActivityBatch{Items: []cbor.RawMessage{a.item}})
		if err != nil {
			a.frameErr = err
			return
		}
		a.frame, a.frameErr = wire.Encode(&wire.Message{Type: wire.TypeActivity, SenderID: sender, Data: data})
	})
	return a.frame, a.frameErr
}

// ActivityOutbox is one connection's queue of activity not yet written.
// Push never blocks: a queue holding its limit drops its oldest activity
// and counts it; the device learns the count in the next batch
// (wire.ActivityBatch.Dropped). Safe for concurrent use.
type ActivityOutbox struct {
	limit int
	wake  chan struct{} // capacity 1: the writer has something to take

	mu      sync.Mutex
	pending []*Activity
	dropped uint64
}

func newOutbox(limit int) *ActivityOutbox {
	return &ActivityOutbox{limit: max(limit, 1), wake: make(chan struct{}, 1)}
}

// Push queues a for the connection and reports whether an older activity
// was dropped to make room.
func (o *ActivityOutbox) Push(a *Activity) (dropped bool) {
	o.mu.Lock()
	if len(o.pending) >= o.limit {
		o.pending = append(o.pending[:0], o.pending[1:]...)
		o.dropped++
		dropped = true
	}
	o.pending = append(o.pending, a)
	first := len(o.pending) == 1
	o.mu.Unlock()
	if first || dropped {
		select {
		case o.wake <- struct{}{}:
		default:
		}
	}
	return dropped
}

// take returns the pending activities and the drop count since the last
// take, leaving spare (emptied) in their place.
func (o *ActivityOutbox) take(spare []*Activity) ([]*Activity, uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	out, n := o.pending, o.dropped
	o.pending, o.dropped = spare[:0], 0
	return out, n
}

// ErrActivityFromDevice: a device sent a wire.TypeActivity or
// TypeActivityRefused message, which only the relay sends.
var ErrActivityFromDevice = fmt.Errorf("%w: activity messages are sent by the relay only", peer.ErrProtocol)

// ActivityLimits bound each subscribed connection: Queue activities
// waiting to be written (the oldest dropped beyond; at least 1), and
// WriteTimeout, how long one write may stay blocked before the connection
// is closed as a slow consumer (peer.CloseSlowConsumer; at least 10 ms).
type ActivityLimits struct {
	Queue        int
	WriteTimeout time.Duration
}

// SetActivitySource makes the endpoint deliver friend activity from src
// to the connections that subscribe, within lim (nil src: subscriptions
// are refused). It may be called at any time; it applies to later
// subscriptions.
func (e *Endpoint) SetActivitySource(src ActivitySource, lim ActivityLimits) {
	lim.Queue, lim.WriteTimeout = max(lim.Queue, 1), max(lim.WriteTimeout, 10*time.Millisecond)
	e.mu.Lock()
	e.activity, e.activityLim = src, lim
	e.mu.Unlock()
}

// SlowConsumers returns how many connections the endpoint closed because
// an activity write stayed blocked longer than allowed.
func (e *Endpoint) SlowConsumers() uint64 { return e.slow.Load() }

// activitySub is one connection's subscription state; its methods run on
// the session's goroutine (OnActivity) and at the session's end.
type activitySub struct {
	e      *Endpoint
	ctx    context.Context // the session's
	caller Caller
	lc     *liveConn
	ws     *peer.WSConn
	peerID string // the remote's, for refusals

	lim    ActivityLimits
	cancel func()        // the source registration; nil when not subscribed
	stop   chan struct{} // closes the writer
	done   chan struct{} // closed when the writer returned

	// writing is when the write in progress began (Unix ns on the
	// endpoint's clock), 0 between writes: the slow-consumer watchdog
	// reads it (writes carry no context deadline, which would cost a
	// timer and an allocation per write).
	writing atomic.Int64
}

// handle is the session's OnActivity: subscribe, unsubscribe, publish,
// and refuse what only the relay may send.
func (a *activitySub) handle(m *wire.Message) error {
	switch m.Type {
	case wire.TypeActivitySubscribe:
		return a.subscribe()
	case wire.TypeActivityUnsubscribe:
		a.unsubscribe()
		return nil
	case wire.TypeActivityPublish:
		return a.publish(m)
	default:
		return fmt.Errorf("%w (got %s)", ErrActivityFromDevice, m.Type)
	}
}

// publish hands a device's publication to the source: a malformed one
// ends the connection (peer.ErrProtocol), a refused one is dropped and
// counted (Endpoint.ActivityPublications).
func (a *activitySub) publish(m *wire.Message) error {
	p, err := wire.DecodeActivityPublish(m.Data)
	if err != nil {
		return fmt.Errorf("%w: %w", peer.ErrProtocol, err)
	}
	a.e.mu.Lock()
	src := a.e.activity
	a.e.mu.Unlock()
	if src == nil {
		a.e.pubRefused.Add(1)
		return nil
	}
	if err := src.PublishActivity(a.ctx, a.caller.User, p); err != nil {
		a.e.pubRefused.Add(1)
		a.e.opts.log.Debug("relaysync: activity publication refused", "user", a.caller.User, "err", err)
		return nil
	}
	a.e.published.Add(1)
	return nil
}

// ActivityPublications returns how many activity publications devices
// sent on their sync connections were handed to the source and accepted,
// and how many were refused (rate limit, unknown track; or no source).
func (e *Endpoint) ActivityPublications() (accepted, refused uint64) {
	return e.published.Load(), e.pubRefused.Load()
}

func (a *activitySub) refuse(reason string) error {
	if reason == "" {
		reason = "friend activity refused"
	}
	return a.lc.Send(a.ctx, &wire.Message{Type: wire.TypeActivityRefused, SenderID: a.e.opts.peerID, TargetID: a.peerID, Message: reason})
}

func (a *activitySub) subscribe() error {
	if a.cancel != nil {
		return nil
	}
	a.e.mu.Lock()
	src, lim := a.e.activity, a.e.activityLim
	a.e.mu.Unlock()
	if src == nil {
		return a.refuse("this relay does not deliver friend activity on the sync connection")
	}
	out := newOutbox(lim.Queue)
	feed, cancel, err := src.SubscribeActivity(a.ctx, a.caller.User, out)
	if err != nil {
		a.e.opts.log.Info("relaysync: activity subscription refused", "user", a.caller.User, "err", err)
		return a.refuse(err.Error())
	}
	a.cancel, a.lim = cancel, lim
	a.stop, a.done = make(chan struct{}), make(chan struct{})
	a.e.watchSlow(a, true)
	go a.write(a.ctx, src, out, feed, a.stop, a.done)
	return nil
}

// unsubscribe removes the registration and waits for the writer to
// finish its current write (bounded: the watchdog ends a connection
// whose write stays blocked past the limit).
func (a *activitySub) unsubscribe() {
	if a.cancel == nil {
		return
	}
	a.cancel()
	close(a.stop)
	<-a.done
	a.e.watchSlow(a, false)
	a.cancel, a.stop, a.done = nil, nil, nil
}

// write sends the snapshot, then each batch of pending activity, until
// stop, the session's end or a failed write.
func (a *activitySub) write(ctx context.Context, src ActivitySource, out *ActivityOutbox, feed [][]byte, stop, done chan struct{}) {
	defer close(done)
	snap := wire.ActivityBatch{Snapshot: true}
	for len(feed) > wire.MaxActivityBatch { // only the newest fit one batch
		feed = feed[1:]
	}
	for _, it := range feed {
		snap.Items = append(snap.Items, it)
	}
	if !a.send(snap) {
		return
	}
	var spare []*Activity
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-out.wake:
		}
		batch, dropped := out.take(spare)
		if len(batch) == 0 && dropped == 0 {
			spare = batch
			continue
		}
		var ok bool
		if len(batch) == 1 && dropped == 0 {
			ok = a.sendShared(batch[0])
		} else {
			b := wire.ActivityBatch{Dropped: dropped}
			for _, x := range batch {
				b.Items = append(b.Items, x.item)
			}
			ok = a.send(b)
		}
		if !ok {
			return
		}
		src.ActivityWritten(a.e.opts.now(), batch)
		clear(batch)
		spare = batch
	}
}

// sendShared writes x's shared single-activity frame.
func (a *activitySub) sendShared(x *Activity) bool {
	frame, err := x.single(a.e.opts.peerID)
	if err != nil {
		a.e.opts.log.Error("relaysync: encode activity", "err", err)
		return true // this activity is lost; the connection is fine
	}
	return a.written(frame)
}

// send encodes and writes one batch.
func (a *activitySub) send(b wire.ActivityBatch) bool {
	data, err := wire.EncodeActivityBatch(b)
	if err == nil {
		var frame []byte
		frame, err = wire.Encode(&wire.Message{Type: wire.TypeActivity, SenderID: a.e.opts.peerID, TargetID: a.peerID, Data: data})
		if err == nil {
			return a.written(frame)
		}
	}
	a.e.opts.log.Error("relaysync: encode activity batch", "err", err)
	return true
}

// written runs one write. A write that stays blocked longer than the
// limit is ended by the watchdog (watchSlow), which closes the
// connection. It reports whether the connection is still usable.
func (a *activitySub) written(frame []byte) bool {
	if _, _, ended := a.lc.ended(); ended {
		return false
	}
	a.writing.Store(max(a.e.opts.now().UnixNano(), 1))
	err := a.ws.SendEncoded(context.Background(), frame)
	a.writing.Store(0)
	if err != nil {
		a.e.opts.log.Debug("relaysync: write activity", "user", a.caller.User, "err", err)
		return false
	}
	return true
}

// slowWatch is the endpoint's slow-consumer watchdog: the subscribed
// connections, checked every quarter of the shortest write limit while
// there are any.
type slowWatch struct {
	mu      sync.Mutex
	subs    map[*activitySub]struct{}
	running bool
}

// watchSlow adds a subscribed connection to the watchdog (on) or removes
// it, starting the watchdog's goroutine when the first one is added; it
// stops by itself when none is left.
func (e *Endpoint) watchSlow(a *activitySub, on bool) {
	w := &e.slowWatch
	w.mu.Lock()
	defer w.mu.Unlock()
	if !on {
		delete(w.subs, a)
		return
	}
	if w.subs == nil {
		w.subs = map[*activitySub]struct{}{}
	}
	w.subs[a] = struct{}{}
	if !w.running {
		w.running = true
		go e.slowWatchdog()
	}
}

// slowWatchdog closes, as slow consumers, the connections whose current
// activity write began longer ago than their limit allows.
func (e *Endpoint) slowWatchdog() {
	w := &e.slowWatch
	var due []*activitySub
	for {
		w.mu.Lock()
		if len(w.subs) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		period := time.Duration(1<<63 - 1)
		now := e.opts.now().UnixNano()
		for a := range w.subs {
			period = min(period, a.lim.WriteTimeout/4)
			if t := a.writing.Load(); t != 0 && now-t > int64(a.lim.WriteTimeout) {
				due = append(due, a)
			}
		}
		w.mu.Unlock()
		for _, a := range due {
			e.slow.Add(1)
			reason := fmt.Sprintf("slow consumer: friend activity not read for %v", a.lim.WriteTimeout)
			e.opts.log.Info("relaysync: closing slow consumer", "user", a.caller.User, "device", a.caller.Device, "reason", reason)
			a.lc.abort(peer.CloseSlowConsumer, reason)
		}
		clear(due)
		due = due[:0]
		time.Sleep(max(period, 5*time.Millisecond))
	}
}

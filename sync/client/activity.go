package client

import (
	"context"
	"fmt"
	"time"

	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// ActivityEvent is what a WatchActivity callback receives: a batch of
// friend activity from the relay, or the relay's refusal of the
// subscription.
type ActivityEvent struct {
	// Batch is the relay's batch (wire.ActivityBatch: Snapshot on the
	// first of each connection). Empty when Refused is set.
	Batch wire.ActivityBatch
	// Refused is the relay's reason for refusing the subscription
	// (wire.TypeActivityRefused: too many streams, or a relay that does
	// not deliver activity on the sync connection).
	Refused string
}

// subscribeTimeout bounds sending one subscription change.
const subscribeTimeout = 10 * time.Second

// WatchActivity subscribes the client's relay connections to the
// account's friend activity (wire.TypeActivitySubscribe): now when
// connected, and on every reconnection until cancel is called. fn
// receives each batch the relay sends — the current feed first on each
// connection, then activity as friends publish it — and refusals. fn runs
// on the session's goroutine and must not block. Several watchers share
// one subscription; the last cancel unsubscribes.
func (c *Client) WatchActivity(fn func(ActivityEvent)) (cancel func()) {
	c.mu.Lock()
	if c.watchers == nil {
		c.watchers = map[int]func(ActivityEvent){}
	}
	c.nextWatcher++
	id := c.nextWatcher
	c.watchers[id] = fn
	first := len(c.watchers) == 1
	s := c.session
	c.mu.Unlock()
	if first && s != nil {
		c.sendActivity(s, wire.TypeActivitySubscribe)
	}
	return func() {
		c.mu.Lock()
		_, ok := c.watchers[id]
		delete(c.watchers, id)
		last := ok && len(c.watchers) == 0
		s := c.session
		c.mu.Unlock()
		if last && s != nil {
			c.sendActivity(s, wire.TypeActivityUnsubscribe)
		}
	}
}

// sendActivity sends a subscription change on s; a failure is the
// connection's, which the session sees too (and a new connection
// subscribes again).
func (c *Client) sendActivity(s *peer.Session, typ string) {
	ctx, cancel := context.WithTimeout(context.Background(), subscribeTimeout)
	defer cancel()
	if err := s.Send(ctx, &wire.Message{Type: typ, SenderID: c.opts.peerID}); err != nil {
		c.opts.log.Debug("client: activity subscription", "type", typ, "err", err)
	}
}

// onActivity is the session's OnActivity: batches and refusals go to the
// watchers; a malformed batch, or a subscription message (which only
// devices send), breaks the protocol and ends the connection.
func (c *Client) onActivity(m *wire.Message) error {
	var ev ActivityEvent
	switch m.Type {
	case wire.TypeActivity:
		b, err := wire.DecodeActivityBatch(m.Data)
		if err != nil {
			return fmt.Errorf("%w: %w", peer.ErrProtocol, err)
		}
		ev.Batch = b
	case wire.TypeActivityRefused:
		ev.Refused = m.Message
	default:
		return fmt.Errorf("%w: %s from the relay", peer.ErrProtocol, m.Type)
	}
	c.mu.Lock()
	fns := make([]func(ActivityEvent), 0, len(c.watchers))
	for _, fn := range c.watchers {
		fns = append(fns, fn)
	}
	c.mu.Unlock()
	for _, fn := range fns {
		fn(ev)
	}
	return nil
}

// PublishActivity sends what this device plays to the relay on the
// current connection (wire.TypeActivityPublish), for the account's
// friends; the relay takes the user from the connection's login and does
// not answer. ErrDisconnected when there is no connection, ErrUnsupported
// when the relay did not announce wire.FeatureActivityPublish.
func (c *Client) PublishActivity(ctx context.Context, p wire.ActivityPublish) error {
	data, err := wire.EncodeActivityPublish(p)
	if err != nil {
		return err
	}
	c.mu.Lock()
	s, meta := c.session, c.relayMeta
	c.mu.Unlock()
	if s == nil {
		return ErrDisconnected
	}
	if !meta.Has(wire.FeatureActivityPublish) {
		return ErrUnsupported
	}
	return s.Send(ctx, &wire.Message{Type: wire.TypeActivityPublish, SenderID: c.opts.peerID, Data: data})
}

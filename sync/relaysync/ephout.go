package relaysync

import (
	"context"
	"log/slog"
	"sync"

	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// maxEphemeralQueued bounds the ephemeral messages waiting to be written
// to one session (ephOutbox); its bytes are bounded by the ephemeral
// burst (WithEphemeralRate).
const maxEphemeralQueued = 64

// ephOutbox holds the ephemeral messages forwarded to one session until
// a goroutine of its own, started when the first arrives and gone when
// none is left, has written them, in order. The sender's session only
// queues them: written on its goroutine, a follower that stopped
// reading held every sender's session until its write deadline. Past
// maxEphemeralQueued messages or maxBytes of their data, messages are
// dropped (ephemeral messages are lossy: presence is resent).
type ephOutbox struct {
	ctx      context.Context // the follower's session's
	s        *peer.Session
	log      *slog.Logger
	maxBytes int

	mu      sync.Mutex
	queue   []ephItem
	bytes   int
	running bool
}

type ephItem struct {
	m  *wire.Message
	id docs.DocumentID
}

// push queues m, an ephemeral message of document id, and reports
// whether it did (false: the queue is full and m is dropped).
func (o *ephOutbox) push(m *wire.Message, id docs.DocumentID) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.queue) >= maxEphemeralQueued || o.bytes+len(m.Data) > o.maxBytes {
		return false
	}
	o.queue = append(o.queue, ephItem{m: m, id: id})
	o.bytes += len(m.Data)
	if !o.running {
		o.running = true
		go o.drain()
	}
	return true
}

// drain writes the queued messages until none is left or the session
// ends.
func (o *ephOutbox) drain() {
	for {
		o.mu.Lock()
		if len(o.queue) == 0 || o.ctx.Err() != nil {
			o.queue, o.bytes, o.running = nil, 0, false
			o.mu.Unlock()
			return
		}
		it := o.queue[0]
		o.queue[0] = ephItem{}
		o.queue = o.queue[1:]
		o.bytes -= len(it.m.Data)
		o.mu.Unlock()
		if _, err := o.s.SendEphemeral(o.ctx, it.m, it.id); err != nil {
			o.log.Debug("relaysync: forward ephemeral", "err", err)
		}
	}
}

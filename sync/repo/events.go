package repo

import (
	"sync"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/sync/docs"
)

// Event reports that a document changed and the change is persisted.
type Event struct {
	Doc   docs.DocumentID
	Heads []automerge.ChangeHash // the document's heads after the change
	// Remote is true when the change arrived in a sync message from Peer;
	// false for local edits and creation.
	Remote bool
	Peer   PeerID
	// Facts is true when the change may have changed the document's
	// facts record (WithFacts): it wrote a new record, or the document
	// was created or rewritten whole. An event with Facts false left the
	// record as it was, so a reader of the record (the relay's search
	// index) need not read it again. Events coalesced by a subscription
	// keep Facts if any of them had it.
	Facts bool
}

type hub struct {
	mu   sync.Mutex
	subs map[*subscription]struct{}
}

type subscription struct {
	filter docs.DocumentID
	ch     chan Event
	wake   chan struct{}
	done   chan struct{}
	once   sync.Once

	mu      sync.Mutex
	pending map[docs.DocumentID]Event
	order   []docs.DocumentID
}

func newHub() *hub { return &hub{subs: map[*subscription]struct{}{}} }

func (h *hub) subscribe(id docs.DocumentID) (<-chan Event, func()) {
	s := &subscription{
		filter:  id,
		ch:      make(chan Event),
		wake:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		pending: map[docs.DocumentID]Event{},
	}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	go s.run()
	cancel := func() {
		h.mu.Lock()
		delete(h.subs, s)
		h.mu.Unlock()
		s.once.Do(func() { close(s.done) })
	}
	return s.ch, cancel
}

func (h *hub) publish(e Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		if !s.filter.IsZero() && s.filter != e.Doc {
			continue
		}
		s.mu.Lock()
		prev, ok := s.pending[e.Doc]
		if !ok {
			s.order = append(s.order, e.Doc)
		}
		ev := e
		ev.Facts = e.Facts || ok && prev.Facts
		s.pending[e.Doc] = ev
		s.mu.Unlock()
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

func (h *hub) closeAll() {
	h.mu.Lock()
	subs := h.subs
	h.subs = map[*subscription]struct{}{}
	h.mu.Unlock()
	for s := range subs {
		s.once.Do(func() { close(s.done) })
	}
}

// run delivers pending events in arrival order (per document, newest
// state) until cancelled, then closes ch.
func (s *subscription) run() {
	defer close(s.ch)
	for {
		s.mu.Lock()
		if len(s.order) == 0 {
			s.mu.Unlock()
			select {
			case <-s.wake:
				continue
			case <-s.done:
				return
			}
		}
		id := s.order[0]
		s.order = s.order[1:]
		e := s.pending[id]
		delete(s.pending, id)
		s.mu.Unlock()
		select {
		case s.ch <- e:
		case <-s.done:
			return
		}
	}
}

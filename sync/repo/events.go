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
		if _, ok := s.pending[e.Doc]; !ok {
			s.order = append(s.order, e.Doc)
		}
		s.pending[e.Doc] = e
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

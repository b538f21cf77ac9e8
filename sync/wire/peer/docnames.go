package peer

import (
	"sync"

	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/wire"
)

// docNames caches, for one session, the documents' ids parsed from the
// text form messages carry and the text form of the ids it sends: each
// costs a double SHA-256 checksum (and base58), paid once per document
// instead of on every message. Only ids that parse are cached, and the
// text sent is always docs.DocumentID.String's canonical form. Each map
// holds at most maxAuthzCache entries and starts over when full. The
// zero value is ready; it is safe for concurrent use.
type docNames struct {
	mu     sync.Mutex
	byText map[string]docs.DocumentID
	byID   map[docs.DocumentID]string
}

// parse returns m's document id, as m.DocID does (same errors).
func (n *docNames) parse(m *wire.Message) (docs.DocumentID, error) {
	n.mu.Lock()
	id, ok := n.byText[m.DocumentID]
	n.mu.Unlock()
	if ok {
		return id, nil
	}
	id, err := m.DocID()
	if err != nil {
		return id, err
	}
	n.mu.Lock()
	if n.byText == nil || len(n.byText) >= maxAuthzCache {
		n.byText = make(map[string]docs.DocumentID)
	}
	n.byText[m.DocumentID] = id
	n.mu.Unlock()
	return id, nil
}

// text returns id.String().
func (n *docNames) text(id docs.DocumentID) string {
	n.mu.Lock()
	s, ok := n.byID[id]
	n.mu.Unlock()
	if ok {
		return s
	}
	s = id.String()
	n.mu.Lock()
	if n.byID == nil || len(n.byID) >= maxAuthzCache {
		n.byID = make(map[docs.DocumentID]string)
	}
	n.byID[id] = s
	n.mu.Unlock()
	return s
}

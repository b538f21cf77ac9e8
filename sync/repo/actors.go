package repo

import (
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/msync"
)

// Actor binding (WithActorBinding). Automerge changes carry no
// signature: whoever sends a change names its actor. A writer who may
// not manage a document could send a change under the owner's actor id
// with the owner's next sequence number, which automerge would take, and
// the owner's real change with that number would then be refused as a
// reused sequence number: the owner's device could no longer sync the
// document. So each actor id is bound to the user who first delivered a
// change under it, and a change under an actor bound to another user is
// held back (holdback.go) until that user delivers it — a collaborator
// may legitimately carry the owner's changes it got over the LAN; they
// wait for the owner. The document's owner (Incoming.Owner) is taken
// under any actor and binds it: the owner may do anything to the
// document, and an owner whose changes a collaborator delivered first
// must not wait for that collaborator.
//
// A device binds what its LAN peers deliver (Incoming.Guard): the
// changes its relay delivers, and its own, bind nothing (their authors
// are not known there), so an actor the document holds changes of that
// no binding names is taken as another user's too, and a LAN peer of
// another user waits for the relay (or that actor's first LAN deliverer)
// to bring the change (repo.Incoming.Guard, docs/ARCHITECTURE.md §6
// "Actor binding") — unless the actor carries the prefix of the peer's
// own device (WithActorPrefix, Incoming.ActorPrefix).

// writers is what a Handle knows of its document's writers, apart
// from the Handle so that a document nobody writes to costs a pointer.
type writers struct {
	// held are changes from checked peers that wait for dependencies
	// the document lacks, or for their actor's user (holdback.go); kept
	// across unloads, dropped when the peer disconnects.
	held map[PeerID][]heldChange
	// answered are the heads last sent to each peer with changes held
	// (askMissing withholds a message that repeats them).
	answered map[PeerID][][32]byte
	// actors are the document's actor bindings (WithActorBinding):
	// actor id bytes → the user who delivered it first. Read with the
	// document, dropped on unload.
	actors map[string]model.UserID
}

// writers returns h.wr, allocated if nil. Caller holds h.mu.
func (h *Handle) writers() *writers {
	if h.wr == nil {
		h.wr = &writers{}
	}
	return h.wr
}

// heldFor returns the changes held for peer. Caller holds h.mu.
func (h *Handle) heldFor(peer PeerID) []heldChange {
	if h.wr == nil {
		return nil
	}
	return h.wr.held[peer]
}

// setActors installs the bindings read with the document (nil: none).
// Caller holds h.mu or owns h.
func (h *Handle) setActors(actors map[string]model.UserID) {
	if actors != nil || h.wr != nil {
		h.writers().actors = actors
	}
}

// actorPrefix is the prefix of document id's actor bindings; each key
// adds the actor id in hex and holds the user's id.
func actorPrefix(id docs.DocumentID) []byte { return store.Prefix("doc", id.String(), "actor") }

// actorKey is the key of actor's binding in document id; actor is the
// actor id's bytes.
func actorKey(id docs.DocumentID, actor string) []byte {
	return store.Key("doc", id.String(), "actor", hex.EncodeToString([]byte(actor)))
}

// parseActor reads a binding key's actor id (bytes, as a string) after
// prefix p.
func parseActor(p, k []byte) (string, error) {
	a, err := hex.DecodeString(string(k[len(p):]))
	if err != nil || len(a) == 0 {
		return "", fmt.Errorf("%w: actor key %q", ErrCorrupt, k)
	}
	return string(a), nil
}

// writer is the author of one received message for the actor binding:
// nil when binding is off or the caller is trusted (Incoming.Writer
// empty).
type writer struct {
	user  model.UserID
	owner bool
	// known, for a LAN peer (Incoming.Guard), takes an actor the
	// document holds changes of and no binding names as another user's,
	// unless it starts with prefix (Incoming.ActorPrefix).
	known  bool
	prefix string
	// bind collects the actors of the changes the message adds that are
	// not bound to user (unbound, or bound to another user and taken
	// from the owner), to bind to user once they are applied.
	bind []string
}

// newWriter returns the binding writer of in, nil when nothing is
// checked or bound.
func (h *Handle) newWriter(in Incoming) *writer {
	if !h.repo.opts.bindActors || in.Writer == "" {
		return nil
	}
	return &writer{user: in.Writer, owner: in.Owner, known: in.Guard, prefix: string(in.ActorPrefix)}
}

// foreign reports whether a change under actor must wait for another
// user to deliver it; g is the document's change graph. Caller holds
// h.mu.
func (h *Handle) foreign(w *writer, g *msync.Graph, actor string) bool {
	if w.owner {
		return false
	}
	if h.wr != nil {
		if u, ok := h.wr.actors[actor]; ok {
			return u != w.user
		}
	}
	return w.known && g.HasActor(actor) && (w.prefix == "" || !strings.HasPrefix(actor, w.prefix))
}

// admit checks the actors of m's changes that g lacks: it returns
// errNeedsCheck when one is bound to another user (checkWrite then holds
// it back), and otherwise notes in w.bind the actors the changes will
// bind. Caller holds h.mu.
func (h *Handle) admit(w *writer, g *msync.Graph, m *msync.Message) error {
	if w == nil {
		return nil
	}
	w.bind = w.bind[:0]
	for _, c := range m.Changes {
		if g.Has(c.Hash) {
			continue
		}
		if h.foreign(w, g, string(c.Actor)) {
			return errNeedsCheck
		}
		if u, ok := h.writers().actors[string(c.Actor)]; !ok || u != w.user {
			w.bind = append(w.bind, string(c.Actor))
		}
	}
	return nil
}

// bound binds w's collected actors in memory and returns the store
// writes that bind them durably and their size in bytes (all of the
// document's bindings when a write of it failed: the full snapshot that
// repairs it may have lost some), nil when there are none. Caller holds
// h.mu, once the changes are applied.
func (h *Handle) bound(w *writer) (func(tx store.Txn) error, int) {
	if w == nil || len(w.bind) == 0 && !h.broken.Load() {
		return nil, 0
	}
	wr := h.writers()
	if wr.actors == nil {
		wr.actors = map[string]model.UserID{}
	}
	for _, a := range w.bind {
		wr.actors[a] = w.user
	}
	binds := make(map[string]model.UserID, len(w.bind))
	if h.broken.Load() {
		for a, u := range wr.actors {
			binds[a] = u
		}
	} else {
		for _, a := range w.bind {
			binds[a] = w.user
		}
	}
	size := 0
	for a, u := range binds {
		size += len(actorKey(h.id, a)) + len(u)
	}
	id := h.id
	return func(tx store.Txn) error {
		for a, u := range binds {
			if err := tx.Set(actorKey(id, a), []byte(u)); err != nil {
				return err
			}
		}
		return nil
	}, size
}

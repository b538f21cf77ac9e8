package peer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/wire"
)

// Errors of the document repository.
var (
	// ErrUnknownDocument is returned for a document the repository does
	// not hold.
	ErrUnknownDocument = errors.New("peer: unknown document")
	// ErrExists is returned by Create for a document already held.
	ErrExists = errors.New("peer: document exists")
	// ErrForbidden is returned when a peer without write access sends
	// changes the document does not already contain.
	ErrForbidden = errors.New("peer: not allowed to change this document")
)

// Key prefixes of StoreRepo (see docs/ARCHITECTURE.md, key schema).
const (
	docPrefix   = "sync/doc/"
	statePrefix = "sync/state/"
)

// StoreRepo keeps Automerge documents and per-peer sync states in a
// store.Store (Badger on disk in production): the saved document under
// sync/doc/<id> and the sync state with the peer whose storage id is s
// under sync/state/<s>/<id>. Loaded documents stay in memory. It is safe
// for concurrent use; operations on one document are serialised.
type StoreRepo struct {
	st store.Store

	mu       sync.Mutex
	docs     map[docs.DocumentID]*handle
	watchers []func(id docs.DocumentID)
}

// OnCreate registers fn to be called (on the creating goroutine; fn must
// not block) after every Create, so that sync clients announce new
// documents.
func (r *StoreRepo) OnCreate(fn func(id docs.DocumentID)) {
	r.mu.Lock()
	r.watchers = append(r.watchers, fn)
	r.mu.Unlock()
}

type handle struct {
	mu   sync.Mutex
	doc  *automerge.Doc
	subs map[int]func()
	next int
}

// NewStoreRepo returns a repository over st. The caller keeps ownership
// of st and closes it after the repository is no longer used.
func NewStoreRepo(st store.Store) *StoreRepo {
	return &StoreRepo{st: st, docs: map[docs.DocumentID]*handle{}}
}

func docKey(id docs.DocumentID) []byte { return []byte(docPrefix + id.String()) }

func stateKey(storageID string, id docs.DocumentID) []byte {
	return []byte(statePrefix + storageID + "/" + id.String())
}

// load returns the in-memory handle of id, loading it from the store on
// first use.
func (r *StoreRepo) load(ctx context.Context, id docs.DocumentID) (*handle, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h, ok := r.docs[id]; ok {
		return h, nil
	}
	b, err := r.st.Get(ctx, docKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrUnknownDocument, id)
	}
	if err != nil {
		return nil, fmt.Errorf("load document %s: %w", id, err)
	}
	doc, err := automerge.Load(b)
	if err != nil {
		return nil, fmt.Errorf("decode document %s: %w", id, err)
	}
	h := &handle{doc: doc, subs: map[int]func(){}}
	r.docs[id] = h
	return h, nil
}

// Has reports whether the repository holds id.
func (r *StoreRepo) Has(ctx context.Context, id docs.DocumentID) (bool, error) {
	_, err := r.load(ctx, id)
	if errors.Is(err, ErrUnknownDocument) {
		return false, nil
	}
	return err == nil, err
}

// IDs returns the ids of every stored document, sorted by their string
// form.
func (r *StoreRepo) IDs(ctx context.Context) ([]docs.DocumentID, error) {
	var ids []docs.DocumentID
	err := r.st.Iterate(ctx, []byte(docPrefix), false, func(k, _ []byte) error {
		id, err := docs.ParseDocumentID(string(k[len(docPrefix):]))
		if err != nil {
			return fmt.Errorf("stored key %q: %w", k, err)
		}
		ids = append(ids, id)
		return nil
	})
	return ids, err
}

// Create stores doc as document id. The repository takes ownership of
// doc. It returns ErrExists when id is already held.
func (r *StoreRepo) Create(ctx context.Context, id docs.DocumentID, doc *automerge.Doc) error {
	if ok, err := r.Has(ctx, id); err != nil || ok {
		if ok {
			return fmt.Errorf("%w: %s", ErrExists, id)
		}
		return err
	}
	if err := r.st.Set(ctx, docKey(id), doc.Save()); err != nil {
		return fmt.Errorf("store document %s: %w", id, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.docs[id]; ok {
		return fmt.Errorf("%w: %s", ErrExists, id)
	}
	r.docs[id] = &handle{doc: doc, subs: map[int]func(){}}
	ws := slices.Clone(r.watchers)
	r.mu.Unlock()
	for _, fn := range ws {
		fn(id)
	}
	r.mu.Lock()
	return nil
}

// View calls fn with the document while holding its lock; fn must only
// read it and must not retain it.
func (r *StoreRepo) View(ctx context.Context, id docs.DocumentID, fn func(doc *automerge.Doc) error) error {
	h, err := r.load(ctx, id)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return fn(h.doc)
}

// Change calls fn with the document under its lock; fn edits and commits
// it. When the heads moved, the document is persisted and subscribers
// are notified.
func (r *StoreRepo) Change(ctx context.Context, id docs.DocumentID, fn func(doc *automerge.Doc) error) error {
	h, err := r.load(ctx, id)
	if err != nil {
		return err
	}
	h.mu.Lock()
	before := h.doc.Heads()
	if err := fn(h.doc); err != nil {
		h.mu.Unlock()
		return err
	}
	changed, err := r.persistIfChanged(ctx, id, h, before)
	subs := h.subscribers()
	h.mu.Unlock()
	if changed {
		notify(subs)
	}
	return err
}

func (r *StoreRepo) persistIfChanged(ctx context.Context, id docs.DocumentID, h *handle, before []automerge.ChangeHash) (bool, error) {
	if sameHeads(before, h.doc.Heads()) {
		return false, nil
	}
	if err := r.st.Set(ctx, docKey(id), h.doc.Save()); err != nil {
		return true, fmt.Errorf("store document %s: %w", id, err)
	}
	return true, nil
}

// SyncState returns the sync state with the peer whose storage id is
// storageID for document id: the persisted one when there is one, a
// fresh one otherwise. An empty storageID (a peer without storage)
// always gets a fresh state.
func (r *StoreRepo) SyncState(ctx context.Context, storageID string, id docs.DocumentID) (*automerge.SyncState, error) {
	h, err := r.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if storageID != "" {
		b, err := r.st.Get(ctx, stateKey(storageID, id))
		if err == nil {
			ss, err := automerge.LoadSyncState(h.doc, b)
			if err == nil {
				return ss, nil
			}
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("load sync state %s/%s: %w", storageID, id, err)
		}
	}
	return automerge.NewSyncState(h.doc), nil
}

// SaveSyncState persists ss as the state with storageID for id; it does
// nothing for an empty storageID.
func (r *StoreRepo) SaveSyncState(ctx context.Context, storageID string, id docs.DocumentID, ss *automerge.SyncState) error {
	if storageID == "" {
		return nil
	}
	if err := r.st.Set(ctx, stateKey(storageID, id), ss.Save()); err != nil {
		return fmt.Errorf("store sync state %s/%s: %w", storageID, id, err)
	}
	return nil
}

// Receive applies an Automerge sync message to document id through ss.
// When writable is false and the message carries changes that would move
// the document's heads, nothing is applied or stored and the error wraps
// ErrForbidden (the check runs on a fork). It reports whether the
// document changed; on change the document is persisted and every
// subscriber is notified.
func (r *StoreRepo) Receive(ctx context.Context, id docs.DocumentID, ss *automerge.SyncState, data []byte, writable bool) (bool, error) {
	sum, err := wire.InspectSync(data)
	if err != nil {
		return false, err
	}
	h, err := r.load(ctx, id)
	if err != nil {
		return false, err
	}
	h.mu.Lock()
	before := h.doc.Heads()
	if !writable && len(sum.Changes) > 0 {
		if err := wouldChange(h.doc, data, before); err != nil {
			h.mu.Unlock()
			return false, err
		}
	}
	if _, err := ss.ReceiveMessage(data); err != nil {
		h.mu.Unlock()
		return false, fmt.Errorf("apply sync message to %s: %w", id, err)
	}
	changed, err := r.persistIfChanged(ctx, id, h, before)
	subs := h.subscribers()
	h.mu.Unlock()
	if changed {
		notify(subs)
	}
	return changed, err
}

// wouldChange applies data to a fork of doc and fails with ErrForbidden
// when that moves the heads.
func wouldChange(doc *automerge.Doc, data []byte, before []automerge.ChangeHash) error {
	fork, err := doc.Fork()
	if err != nil {
		return fmt.Errorf("fork document: %w", err)
	}
	if _, err := automerge.NewSyncState(fork).ReceiveMessage(data); err != nil {
		return fmt.Errorf("apply sync message to fork: %w", err)
	}
	if !sameHeads(before, fork.Heads()) {
		return ErrForbidden
	}
	return nil
}

// Generate returns the next sync message for the peer behind ss, or ok
// false when the peer is up to date. The returned bytes are the caller's.
func (r *StoreRepo) Generate(ctx context.Context, id docs.DocumentID, ss *automerge.SyncState) ([]byte, bool, error) {
	h, err := r.load(ctx, id)
	if err != nil {
		return nil, false, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	m, ok := ss.GenerateMessage()
	if !ok {
		return nil, false, nil
	}
	return m.Bytes(), true, nil
}

// Subscribe calls fn (on the goroutine that made the change; fn must not
// block) every time document id changes. cancel stops the calls.
func (r *StoreRepo) Subscribe(ctx context.Context, id docs.DocumentID, fn func()) (cancel func(), err error) {
	h, err := r.load(ctx, id)
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	n := h.next
	h.next++
	h.subs[n] = fn
	h.mu.Unlock()
	return func() {
		h.mu.Lock()
		delete(h.subs, n)
		h.mu.Unlock()
	}, nil
}

func (h *handle) subscribers() []func() {
	fns := make([]func(), 0, len(h.subs))
	for _, fn := range h.subs {
		fns = append(fns, fn)
	}
	return fns
}

func notify(fns []func()) {
	for _, fn := range fns {
		fn()
	}
}

func sameHeads(a, b []automerge.ChangeHash) bool {
	return slices.Equal(a, b)
}

package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs/fracindex"
)

// appendEntry makes on am the change docs.Playlist.Add(docs.AtEnd(), by,
// track) makes on a playlist whose last entry (by position) has pos
// last ("" for none), with the same reads of rnd (the position's jitter,
// then the entry id) and the same fields, commit message and time: the
// relay receives byte for byte the change Add would have written
// (TestAppendEntryIsPlaylistAdd). It does not read the playlist, which
// Add does through cgo for every entry whenever others' changes moved
// the document's heads — a shared playlist of n entries cost every
// editing device O(n) cgo calls per edit, so the generator's CPU grew
// with the run's length. It returns the new entry's position key.
func appendEntry(am *automerge.Doc, last string, by model.UserID, track model.TrackID, now time.Time, rnd io.Reader) (string, error) {
	keys, err := fracindex.N(last, "", 1, rnd)
	if err != nil {
		return "", fmt.Errorf("append entry: place: %w", err)
	}
	var b [8]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return "", fmt.Errorf("append entry: read random id: %w", err)
	}
	id := fmt.Sprintf("%016x", binary.BigEndian.Uint64(b[:]))
	e := automerge.NewMap()
	if err := am.Path("entries").Map().Set(id, e); err != nil {
		return "", fmt.Errorf("append entry: %w", err)
	}
	for _, kv := range []struct {
		k string
		v any
	}{{"trackId", string(track)}, {"pos", keys[0]}, {"addedBy", string(by)}, {"addedAt", now}} {
		if err := e.Set(kv.k, kv.v); err != nil {
			return "", fmt.Errorf("append entry: set %s: %w", kv.k, err)
		}
	}
	if _, err := am.Commit("add 1", automerge.CommitOptions{Time: &now}); err != nil {
		return "", fmt.Errorf("append entry: commit: %w", err)
	}
	return keys[0], nil
}

// ledger holds, for each edit of the run until every follower holds it
// and the relay acknowledged it, its encoded chunk and its entry's
// position. A follower receiving the change keeps the ledger's chunk in
// its graph instead of its own copy (one copy for a playlist's
// followers, not one each, and not a slice pinning the whole received
// message), and learns the entry's position without reading its
// document. Safe for concurrent use.
type ledger struct {
	mu sync.Mutex
	m  map[automerge.ChangeHash]ledgerEntry
}

type ledgerEntry struct {
	raw []byte
	pos string
}

func (l *ledger) put(h automerge.ChangeHash, raw []byte, pos string) {
	l.mu.Lock()
	if l.m == nil {
		l.m = map[automerge.ChangeHash]ledgerEntry{}
	}
	l.m[h] = ledgerEntry{raw: raw, pos: pos}
	l.mu.Unlock()
}

func (l *ledger) get(h automerge.ChangeHash) (ledgerEntry, bool) {
	l.mu.Lock()
	e, ok := l.m[h]
	l.mu.Unlock()
	return e, ok
}

func (l *ledger) drop(h automerge.ChangeHash) {
	l.mu.Lock()
	delete(l.m, h)
	l.mu.Unlock()
}

func (l *ledger) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.m)
}

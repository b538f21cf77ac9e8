package engine

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/store"
)

// chunkOrigin serves encrypted chunks by index, counts the requests per
// chunk and fails the first request of the chunks in failOnce.
type chunkOrigin struct {
	blobs    [][]byte
	mu       sync.Mutex
	asked    map[int]int
	failOnce map[int]bool
	seen     chan int
}

func (o *chunkOrigin) Name() string { return "test" }

func (o *chunkOrigin) Fetch(_ context.Context, r fetch.Request) ([]byte, error) {
	o.mu.Lock()
	o.asked[r.Index]++
	fail := o.failOnce[r.Index]
	delete(o.failOnce, r.Index)
	o.mu.Unlock()
	select {
	case o.seen <- r.Index:
	default:
	}
	if fail {
		return nil, &fetch.StatusError{Code: 503}
	}
	return bytes.Clone(o.blobs[r.Index]), nil
}

func (o *chunkOrigin) count(i int) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.asked[i]
}

// readAheadTrack returns a track of n chunks served by a chunkOrigin, and
// each chunk's clear bytes.
func readAheadTrack(t *testing.T, n int, failOnce map[int]bool) (*track, *chunkOrigin, [][]byte) {
	t.Helper()
	var key crypto.ContentKey
	key[0] = 7
	m := &model.Manifest{TrackID: "tr1", Tier: model.TierLow}
	o := &chunkOrigin{asked: map[int]int{}, failOnce: failOnce, seen: make(chan int, 16)}
	var clear [][]byte
	for i := range n {
		pt := []byte(fmt.Sprintf("chunk %d of the track", i))
		ct := bytes.Clone(pt)
		crypto.XORKeyStream(key, uint64(i)+1, 0, ct, ct)
		clear = append(clear, pt)
		o.blobs = append(o.blobs, ct)
		m.Chunks = append(m.Chunks, model.Chunk{Index: i, Blob: model.BlobRef{SHA256: crypto.BlobHash(ct), Size: int64(len(ct))}})
	}
	noKey := func(context.Context) (ed25519.PublicKey, error) { return nil, errors.New("no manifests here") }
	f, err := fetch.New(t.Context(), store.NewMemory(), []fetch.Origin{o}, noKey, fetch.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	tr := newTrack(f, m, key, func(string) {})
	t.Cleanup(func() { tr.Close() })
	return tr, o, clear
}

// waitAsked waits until chunk i has been requested from the origin.
func waitAsked(t *testing.T, o *chunkOrigin, i int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for o.count(i) == 0 {
		select {
		case <-o.seen:
		case <-deadline:
			t.Fatalf("chunk %d was never read ahead", i)
		}
	}
}

// TestChunkReadAhead: asking for chunk i reads chunk i+1 before the
// decoder asks for it, and the decoder then gets it without a second
// read; every chunk comes back decrypted; a read-ahead that failed is
// made again on the decoder's request; a seek (another chunk) drops the
// read-ahead; after Close none starts.
func TestChunkReadAhead(t *testing.T) {
	tr, o, clear := readAheadTrack(t, 4, map[int]bool{2: true})
	ctx := t.Context()
	get := func(i int) {
		t.Helper()
		b, err := tr.Chunk(ctx, i)
		if err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		if !bytes.Equal(b, clear[i]) {
			t.Fatalf("chunk %d: %q, want %q", i, b, clear[i])
		}
	}
	get(0)
	waitAsked(t, o, 1) // read ahead, not asked for yet
	get(1)
	if n := o.count(1); n != 1 {
		t.Fatalf("chunk 1 was read %d times, want once (the read-ahead)", n)
	}
	waitAsked(t, o, 2) // the read-ahead of chunk 2 fails once (503)
	get(2)             // and is made again here
	if n := o.count(2); n != 2 {
		t.Fatalf("chunk 2 was requested %d times, want 2 (the failed read-ahead, then the decoder's)", n)
	}
	get(3) // the last chunk: nothing further to read ahead
	if tr.ahead != nil {
		t.Fatalf("a read-ahead after the last chunk: %+v", tr.ahead)
	}
	get(0) // a seek back: served (from the fetcher's cache), chunk 1 read ahead again
	if tr.ahead == nil || tr.ahead.i != 1 {
		t.Fatalf("after a seek to chunk 0 the read-ahead is %+v, want chunk 1", tr.ahead)
	}
	tr.Close()
	get(2)
	if tr.ahead != nil {
		t.Fatal("a read-ahead started after Close")
	}
}

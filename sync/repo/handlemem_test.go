package repo

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"unsafe"

	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
)

// BenchmarkUnloadedHandleBytes reports the Go heap one document costs
// once it was read and unloaded again (the relay's followed-but-idle
// documents: every idle peer's first sync loads its documents, the
// budget unloads them): the Handle, its place in the handle table and
// what the Handle keeps across the unload. The relay's options (facts
// kept with each document); a budget of 8 loaded documents.
func BenchmarkUnloadedHandleBytes(b *testing.B) {
	const n = 2000
	ctx := context.Background()
	st := store.NewMemory()
	opts := testOptions(90).WithLoadedDocs(8).WithFacts(docs.EncodeFacts).WithFactsUpdate(docs.UpdateFacts)
	w, err := Open(ctx, st, opts)
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]docs.DocumentID, n)
	for i := range ids {
		h, err := w.CreatePlaylist(ctx, "alice", fmt.Sprint("p", i))
		if err != nil {
			b.Fatal(err)
		}
		if err := h.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", "t"); return err }); err != nil {
			b.Fatal(err)
		}
		ids[i] = h.ID()
	}
	w.Close()
	for b.Loop() {
		b.StopTimer()
		r, err := Open(ctx, st, opts)
		if err != nil {
			b.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		for _, id := range ids {
			if h, err := r.Get(ctx, id); err != nil || h.Empty() {
				b.Fatalf("get %s: %v", id, err)
			}
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		if loaded, _ := r.Loaded(); loaded > 8 {
			b.Fatalf("%d documents loaded, budget 8", loaded)
		}
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/n, "B/handle")
		r.Close()
		b.StartTimer()
	}
}

// TestHandleLayout: a Handle fits the 256-byte allocation class (a relay
// holds one per document it follows: 100,000 and more), and the byte
// bound of compaction stays within what its 32-bit counters hold.
func TestHandleLayout(t *testing.T) {
	if size := unsafe.Sizeof(Handle{}); size > 256 {
		t.Errorf("Handle is %d bytes, want ≤ 256 (the next allocation class is 288)", size)
	}
	for _, tc := range []struct{ maxBytes, want int }{
		{0, 1 << 20},
		{4096, 4096},
		{maxIncBytesCap, maxIncBytesCap},
		{1 << 40, maxIncBytesCap},
	} {
		if got := DefaultOptions().WithCompaction(0, tc.maxBytes).maxIncBytes; got != tc.want {
			t.Errorf("WithCompaction(0, %d): byte bound %d, want %d", tc.maxBytes, got, tc.want)
		}
	}
}

package download_test

import (
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
)

// TestProgressOnlyMovesForward downloads the demo album with a sink that
// is slow for every other progress event (as a terminal can be): each
// track's progress events still arrive in order, one per blob, and its
// completion after the last of them.
func TestProgressOnlyMovesForward(t *testing.T) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	var evs eventLog
	slow := func(e download.Event) {
		if e.Kind == download.EventProgress && e.BlobsDone%2 == 1 {
			time.Sleep(time.Millisecond)
		}
		evs.add(e)
	}
	d := b.openDevice(t, t.TempDir(), "boot1", download.DefaultOptions().WithWorkers(4).WithEvents(slow))
	if err := d.dl.Add(ctx, download.Ref{Kind: download.KindAlbum, ID: string(p.album), Tier: model.TierLow}); err != nil {
		t.Fatal(err)
	}
	if err := d.dl.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	type state struct {
		blobs int
		bytes int64
		done  bool
	}
	last := map[model.TrackID]*state{}
	evs.mu.Lock()
	defer evs.mu.Unlock()
	for i, e := range evs.ev {
		s := last[e.Track]
		switch e.Kind {
		case download.EventProgress:
			if s == nil {
				s = &state{}
				last[e.Track] = s
			}
			if s.done || e.BlobsDone != s.blobs+1 || e.BytesDone <= s.bytes || e.BytesDone > e.Bytes {
				t.Fatalf("event %d of %s: %d blobs, %d of %d bytes after %d blobs, %d bytes (done %v)",
					i, e.Track, e.BlobsDone, e.BytesDone, e.Bytes, s.blobs, s.bytes, s.done)
			}
			s.blobs, s.bytes = e.BlobsDone, e.BytesDone
		case download.EventTrackDone:
			if s == nil || s.done || s.blobs != e.Blobs || e.BlobsDone != e.Blobs || e.BytesDone != e.Bytes {
				t.Fatalf("event %d: %s done with %+v after %+v", i, e.Track, e, s)
			}
			s.done = true
		}
	}
	for _, id := range p.tracks {
		if s := last[id]; s == nil || !s.done {
			t.Fatalf("track %s: %+v", id, s)
		}
	}
}

// eventLog records download events.
type eventLog struct {
	mu sync.Mutex
	ev []download.Event
}

func (l *eventLog) add(e download.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ev = append(l.ev, e)
}

// of returns the events of kind k so far.
func (l *eventLog) of(k download.EventKind) []download.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []download.Event
	for _, e := range l.ev {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

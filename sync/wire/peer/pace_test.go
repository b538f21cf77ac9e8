package peer_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// fakeTimers is a Session.AfterFunc whose timers fire only when the
// test says so.
type fakeTimers struct {
	mu      sync.Mutex
	d       []time.Duration
	fn      []func()
	stopped []bool
}

func (f *fakeTimers) after(d time.Duration, fn func()) func() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := len(f.fn)
	f.d, f.fn, f.stopped = append(f.d, d), append(f.fn, fn), append(f.stopped, false)
	return func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		was := !f.stopped[i]
		f.stopped[i] = true
		return was
	}
}

func (f *fakeTimers) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.fn)
}

// fire runs timer i's function as a timer would (stopped or not: a stop
// can come too late).
func (f *fakeTimers) fire(i int) {
	f.mu.Lock()
	fn := f.fn[i]
	f.mu.Unlock()
	fn()
}

// pacedRemote is the far end of a paced session, driven by the test: it
// answers only when told.
type pacedRemote struct {
	t    *testing.T
	conn *pipeConn
	id   docs.DocumentID
	doc  *automerge.Doc
	ss   *automerge.SyncState
}

// recv returns the next message within wait and applies it; nil when
// none came.
func (r *pacedRemote) recv(wait time.Duration) *wire.Message {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(r.t.Context(), wait)
	defer cancel()
	m, err := r.conn.Recv(ctx)
	if err != nil {
		return nil
	}
	if m.Type != wire.TypeSync {
		r.t.Fatalf("remote got %s", m.Type)
	}
	if _, err := r.ss.ReceiveMessage(m.Data); err != nil {
		r.t.Fatal(err)
	}
	return m
}

// answer sends the remote's next sync message.
func (r *pacedRemote) answer() {
	r.t.Helper()
	m, ok := r.ss.GenerateMessage()
	if !ok {
		r.t.Fatal("the remote has nothing to answer")
	}
	if err := r.conn.Send(r.t.Context(), &wire.Message{Type: wire.TypeSync, SenderID: "remote", TargetID: "local", DocumentID: r.id.String(), Data: m.Bytes()}); err != nil {
		r.t.Fatal(err)
	}
}

func changesIn(t *testing.T, m *wire.Message) int {
	t.Helper()
	n, err := wire.SyncChangeCount(m.Data)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPaceOneMessagePerRoundTrip: with Pace, the edits made while the
// remote has not answered the last message that carried changes wait
// and leave together, in the answer to the remote's reply (one message,
// all five changes); without an answer the timer releases them (one
// timer per hold, of Pace); a timer stopped by the answer but firing
// anyway sends nothing. Without Pace every edit leaves at once,
// unanswered.
func TestPaceOneMessagePerRoundTrip(t *testing.T) {
	const edits = 5
	for _, tc := range []struct {
		name string
		pace time.Duration
	}{{"paced", time.Hour}, {"unpaced", 0}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			r := openRepo(ctx, t)
			h, err := r.CreatePlaylist(ctx, "alice", "shared")
			if err != nil {
				t.Fatal(err)
			}
			edit := func(i int) {
				t.Helper()
				if err := h.Playlist(ctx, func(p *docs.Playlist) error {
					_, err := p.Add(docs.AtEnd(), "alice", model.TrackID(fmt.Sprintf("t%d", i)))
					return err
				}); err != nil {
					t.Fatal(err)
				}
			}
			local, far := pipe()
			timers := &fakeTimers{}
			ad := peer.NewRepoAdapter(r)
			s := &peer.Session{Repo: ad, Authz: peer.AllowAll, User: "alice", LocalID: "local",
				RemoteID: "remote", RemoteStorage: "store", Conn: local,
				Log: slog.New(slog.DiscardHandler), Fanout: peer.NewFanout(ad),
				Pace: tc.pace, AfterFunc: timers.after}
			done := make(chan error, 1)
			go func() { done <- s.Run(ctx) }()
			doc := automerge.New()
			rm := &pacedRemote{t: t, conn: far, id: h.ID(), doc: doc, ss: automerge.NewSyncState(doc)}
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("Run: %v", err)
				}
				rm.ss.Close()
				doc.Close()
			}()

			// First sync: the remote asks, the session sends the document.
			rm.answer()
			if m := rm.recv(10 * time.Second); m == nil || changesIn(t, m) == 0 {
				t.Fatalf("first sync: %v", m)
			}
			if tc.pace == 0 {
				for i := range edits {
					edit(i)
					m := rm.recv(10 * time.Second)
					if m == nil || changesIn(t, m) != 1 {
						t.Fatalf("unpaced edit %d: message %v, want it at once with its change", i, m)
					}
				}
				if timers.count() != 0 {
					t.Fatalf("%d timers without Pace", timers.count())
				}
				return
			}

			// Unanswered: the edits wait, under one timer of Pace.
			for i := range edits {
				edit(i)
			}
			waitFor(t, "the hold's timer", func() bool { return timers.count() == 1 })
			if m := rm.recv(100 * time.Millisecond); m != nil {
				t.Fatalf("a message with %d changes left before the answer", changesIn(t, m))
			}
			if timers.d[0] != tc.pace {
				t.Fatalf("timer of %v, want Pace %v", timers.d[0], tc.pace)
			}
			// The answer releases them, in one message.
			rm.answer()
			m := rm.recv(10 * time.Second)
			if m == nil || changesIn(t, m) != edits {
				t.Fatalf("after the answer: %v, want one message with %d changes", m, edits)
			}
			if !slices.Equal(doc.Heads(), h.Heads()) {
				t.Fatal("the remote lacks changes after the released message")
			}
			if !timers.stopped[0] {
				t.Fatal("the answer left the hold's timer running")
			}
			// A stopped timer that fires anyway sends nothing.
			timers.fire(0)
			if m := rm.recv(100 * time.Millisecond); m != nil {
				t.Fatalf("the stopped timer sent a message with %d changes", changesIn(t, m))
			}

			// Unanswered again: the timer releases the next edit.
			edit(edits)
			waitFor(t, "the second hold's timer", func() bool { return timers.count() == 2 })
			if m := rm.recv(100 * time.Millisecond); m != nil {
				t.Fatalf("a message with %d changes left before the timer", changesIn(t, m))
			}
			timers.fire(1)
			if m := rm.recv(10 * time.Second); m == nil || changesIn(t, m) != 1 {
				t.Fatalf("after the timer: %v, want the held change", m)
			}
			if !slices.Equal(doc.Heads(), h.Heads()) {
				t.Fatal("the remote lacks the change the timer released")
			}
		})
	}
}

package peer_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store/badgerstore"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// pipeConn is one end of an in-memory message connection: every message
// goes through the wire codec, like a WebSocket frame.
type pipeConn struct {
	in  <-chan []byte
	out chan<- []byte
}

func pipe() (a, b *pipeConn) {
	ab, ba := make(chan []byte, 16), make(chan []byte, 16)
	return &pipeConn{in: ba, out: ab}, &pipeConn{in: ab, out: ba}
}

func (p *pipeConn) Recv(ctx context.Context) (*wire.Message, error) {
	select {
	case b := <-p.in:
		return wire.Decode(b, wire.MaxFrameSize)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *pipeConn) Send(ctx context.Context, m *wire.Message) error {
	b, err := wire.Encode(m)
	if err != nil {
		return err
	}
	select {
	case p.out <- b:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// openRepo opens a repository on a fresh Badger store in t's temporary
// directory, both closed when t ends (repository first).
func openRepo(ctx context.Context, t *testing.T) *repo.Repo {
	t.Helper()
	st, err := badgerstore.Open(ctx, t.TempDir(), badgerstore.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r, err := repo.Open(ctx, st, repo.DefaultOptions().WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// remote is the far end of one session: an automerge replica of one
// document that answers every sync message, counting what it receives.
type remote struct {
	conn     *pipeConn
	id       docs.DocumentID
	received atomic.Int64

	mu    sync.Mutex
	doc   *automerge.Doc
	ss    *automerge.SyncState
	heads []automerge.ChangeHash
}

func (r *remote) send(ctx context.Context) error {
	r.mu.Lock()
	m, ok := r.ss.GenerateMessage()
	r.mu.Unlock()
	if !ok {
		return nil
	}
	return r.conn.Send(ctx, &wire.Message{Type: wire.TypeSync, SenderID: "remote", TargetID: "local", DocumentID: r.id.String(), Data: m.Bytes()})
}

// serve applies and answers messages until ctx ends.
func (r *remote) serve(ctx context.Context, t *testing.T) {
	for {
		m, err := r.conn.Recv(ctx)
		if err != nil {
			return
		}
		r.received.Add(1)
		if m.Type != wire.TypeSync || m.DocumentID != r.id.String() {
			t.Errorf("remote of %s got %s for %s", r.id, m.Type, m.DocumentID)
			return
		}
		r.mu.Lock()
		_, err = r.ss.ReceiveMessage(m.Data)
		r.heads = r.doc.Heads()
		r.mu.Unlock()
		if err != nil {
			t.Error(err)
			return
		}
		if err := r.send(ctx); err != nil && ctx.Err() == nil {
			t.Error(err)
			return
		}
	}
}

func (r *remote) has(want []automerge.ChangeHash) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Equal(r.heads, want)
}

// waitFor polls cond (the sessions run on their own goroutines) for at
// most 20 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestFanoutWakesOnlyFollowers: 200 sessions over one repository, session
// i following document i mod 10. A change to one document notifies
// exactly its 20 followers (one wake-up each) and only they send it on
// the wire; a session that ended is no longer notified; when the last
// one ends the Fanout stops watching.
func TestFanoutWakesOnlyFollowers(t *testing.T) {
	const nSessions, nDocs = 200, 10
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r := openRepo(ctx, t)
	handles := make([]*repo.Handle, nDocs)
	for i := range handles {
		var err error
		if handles[i], err = r.CreatePlaylist(ctx, "alice", fmt.Sprintf("list %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	ad := peer.NewRepoAdapter(r)
	fan := peer.NewFanout(ad)

	remotes := make([]*remote, nSessions)
	stops := make([]context.CancelFunc, nSessions)
	var wg sync.WaitGroup
	for i := range nSessions {
		local, far := pipe()
		doc := automerge.New()
		remotes[i] = &remote{conn: far, id: handles[i%nDocs].ID(), doc: doc, ss: automerge.NewSyncState(doc)}
		s := &peer.Session{Repo: ad, Authz: peer.AllowAll, User: "alice", LocalID: "local",
			RemoteID: fmt.Sprintf("remote%d", i), RemoteStorage: fmt.Sprintf("store%d", i), Conn: local,
			Log: slog.New(slog.DiscardHandler), Fanout: fan}
		sctx, stop := context.WithCancel(ctx)
		stops[i] = stop
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := s.Run(sctx); err != nil {
				t.Errorf("session %d: %v", i, err)
			}
		}()
		go func() { defer wg.Done(); remotes[i].serve(sctx, t) }()
		if err := remotes[i].send(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i, rm := range remotes {
		want := handles[i%nDocs].Heads()
		waitFor(t, fmt.Sprintf("first sync of remote %d", i), func() bool { return rm.has(want) })
	}
	if got := fan.Sessions(); got != nSessions {
		t.Fatalf("Sessions = %d, want %d", got, nSessions)
	}

	// change edits document x and returns, once every follower has it, the
	// notifications it cost and the remotes that received messages.
	change := func(x int, followers []int) (uint64, []int) {
		t.Helper()
		// The exchanges of the change before may still be answering
		// (a follower's reply to it, the session's answer): wait until
		// no remote has received anything for 50 ms.
		counts := make([]int64, nSessions)
		quiet := func() bool {
			same := true
			for i, rm := range remotes {
				if n := rm.received.Load(); n != counts[i] {
					counts[i], same = n, false
				}
			}
			return same
		}
		waitFor(t, "the earlier exchanges to end", func() bool {
			if !quiet() {
				return false
			}
			time.Sleep(50 * time.Millisecond)
			return quiet()
		})
		before := fan.Notified()
		if err := handles[x].Playlist(ctx, func(p *docs.Playlist) error {
			_, err := p.Add(docs.AtEnd(), "alice", model.TrackID(fmt.Sprintf("t%d", x)))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		want := handles[x].Heads()
		for _, i := range followers {
			waitFor(t, fmt.Sprintf("remote %d to receive the change to %d", i, x), func() bool { return remotes[i].has(want) })
		}
		var got []int
		for i, rm := range remotes {
			if rm.received.Load() != counts[i] {
				got = append(got, i)
			}
		}
		return fan.Notified() - before, got
	}
	followersOf := func(x int, live func(i int) bool) []int {
		var out []int
		for i := x; i < nSessions; i += nDocs {
			if live(i) {
				out = append(out, i)
			}
		}
		return out
	}
	all := func(int) bool { return true }
	for _, tc := range []struct {
		name string
		doc  int
	}{{"doc 3", 3}, {"doc 7", 7}, {"doc 3 again", 3}} {
		t.Run(tc.name, func(t *testing.T) {
			want := followersOf(tc.doc, all)
			n, woke := change(tc.doc, want)
			if n != uint64(len(want)) {
				t.Errorf("notifications = %d, want %d (one per follower, not %d sessions)", n, len(want), nSessions)
			}
			if !slices.Equal(woke, want) {
				t.Errorf("remotes that received messages = %v, want the followers %v", woke, want)
			}
			if got := len(fan.Followers(handles[tc.doc].ID())); got != len(want) {
				t.Errorf("Followers = %d, want %d", got, len(want))
			}
		})
	}

	// End the even sessions: they leave the index.
	for i := 0; i < nSessions; i += 2 {
		stops[i]()
	}
	odd := func(i int) bool { return i%2 == 1 }
	waitFor(t, "even sessions to end", func() bool { return fan.Sessions() == nSessions/2 })
	// Document 4 is followed only by even sessions, 5 only by odd ones.
	// The repository delivers changes in order through the one watch, so
	// once 5's followers have its change, 4's change was delivered too.
	before := fan.Notified()
	if n, woke := change(4, nil); n != 0 || len(woke) != 0 {
		t.Errorf("doc 4 without live followers: %d notifications, messages to %v", n, woke)
	}
	want := followersOf(5, odd)
	n, woke := change(5, want)
	if total := fan.Notified() - before; n != uint64(len(want)) || total != n || !slices.Equal(woke, want) {
		t.Errorf("after ending even sessions: doc 5 notified %d (docs 4+5: %d) and messages to %v, want %d to %v", n, total, woke, len(want), want)
	}
	cancel()
	wg.Wait()
	if got := fan.Sessions(); got != 0 {
		t.Fatalf("Sessions after all ended = %d", got)
	}
	// With no session left the Fanout no longer watches: a change costs
	// nothing.
	before = fan.Notified()
	if err := handles[0].Playlist(context.Background(), func(p *docs.Playlist) error {
		_, err := p.Add(docs.AtEnd(), "alice", "late")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got := fan.Notified() - before; got != 0 {
		t.Fatalf("notifications with no session = %d", got)
	}
}

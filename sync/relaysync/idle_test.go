package relaysync_test

import (
	"fmt"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// follower is an idle peer of TestIdleSessionGoroutines: a replica of
// the shared playlist kept in sync over its own connection.
type follower struct {
	conn *peer.WSConn
	doc  *automerge.Doc
	ss   *automerge.SyncState
}

// syncTo applies the relay's messages (answering each) until the
// replica's heads are want. Reads use the test's context: a read
// cancelled by a deadline would close the connection.
func (f *follower) syncTo(t *testing.T, id string, want []automerge.ChangeHash) {
	t.Helper()
	for !slices.Equal(f.doc.Heads(), want) {
		m, err := f.conn.Recv(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if m.Type != wire.TypeSync {
			t.Fatalf("got %s (%s), want sync", m.Type, m.Message)
		}
		if _, err := f.ss.ReceiveMessage(m.Data); err != nil {
			t.Fatal(err)
		}
		if out, ok := f.ss.GenerateMessage(); ok {
			if err := f.conn.Send(t.Context(), &wire.Message{Type: wire.TypeSync, SenderID: "f", TargetID: "relay", DocumentID: id, Data: out.Bytes()}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// settledGoroutines waits until the process's goroutine count is at most
// limit (short-lived flushers exit once their session has nothing to
// send) and returns the last count seen.
func settledGoroutines(limit int) int {
	n := runtime.NumGoroutine()
	for deadline := time.Now().Add(5 * time.Second); n > limit && time.Now().Before(deadline); n = runtime.NumGoroutine() {
		time.Sleep(20 * time.Millisecond)
	}
	return n
}

// TestIdleSessionGoroutines: n idle sessions served over real WebSockets
// (behind the relay's QueueListener and ConnContext) hold at most n + c
// goroutines in the whole process — one per session, none per client
// connection or queued connection — both after their first sync and
// after an edit was delivered to every one of them (the flushers that
// delivered it have exited).
func TestIdleSessionGoroutines(t *testing.T) {
	const n, slack = 40, 8
	ep, _, _ := openEndpoint(t, relaysync.DefaultOptions())
	srv := httptest.NewUnstartedServer(ep)
	srv.Listener = peer.QueueListener(srv.Listener, peer.DefaultQueueOptions())
	srv.Config.ConnContext = peer.ConnContext
	srv.Start()
	t.Cleanup(srv.Close)
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/sync"

	base := runtime.NumGoroutine()
	id, doc := playlist(t, true)
	// syncUntilQuiet ends with a read cut short by its deadline, which
	// closes alice's connection: her session ends.
	if m, err := syncUntilQuiet(t, dial(t, url, "alice"), id, doc, "alice-dev"); err != nil || m != nil {
		t.Fatalf("alice's first sync: %v %+v", err, m)
	}
	if got := settledGoroutines(base); got > base {
		t.Fatalf("alice's ended session left %d goroutines", got-base)
	}

	fs := make([]*follower, n)
	for i := range fs {
		f := &follower{conn: dial(t, url, model.UserID(fmt.Sprintf("u%d", i))), doc: automerge.New()}
		f.ss = automerge.NewSyncState(f.doc)
		t.Cleanup(func() { f.ss.Close(); f.doc.Close() })
		out, _ := f.ss.GenerateMessage()
		if err := f.conn.Send(t.Context(), &wire.Message{Type: wire.TypeRequest, SenderID: "f", TargetID: "relay", DocumentID: id.String(), Data: out.Bytes()}); err != nil {
			t.Fatal(err)
		}
		f.syncTo(t, id.String(), doc.Heads())
		fs[i] = f
	}
	got := settledGoroutines(base + n + slack)
	t.Logf("%d idle sessions: %d goroutines beyond the %d before them", n, got-base, base)
	if got > base+n+slack {
		t.Fatalf("%d idle sessions: %d goroutines beyond the %d before them, want at most %d", n, got-base, base, n+slack)
	}

	addTrack(t, doc, "alice", "t2")
	if m, err := syncUntilQuiet(t, dial(t, url, "alice"), id, doc, "alice-dev"); err != nil || m != nil {
		t.Fatalf("alice's edit: %v %+v", err, m)
	}
	for _, f := range fs {
		f.syncTo(t, id.String(), doc.Heads())
	}
	got = settledGoroutines(base + n + slack)
	t.Logf("after an edit delivered to each: %d goroutines beyond the %d before them", got-base, base)
	if got > base+n+slack {
		t.Fatalf("after delivering an edit to %d sessions: %d goroutines beyond the %d before them, want at most %d", n, got-base, base, n+slack)
	}
}

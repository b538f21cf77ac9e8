package peer_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// TestRequestOnceUntilAnswered: wanting a document the device lacks
// several times before the remote answers sends one request (a second one
// makes the remote's sync state start over and resend the whole
// document); once the remote answered, wanting it again asks again.
func TestRequestOnceUntilAnswered(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r, err := repo.Open(ctx, store.NewMemory(), repo.DefaultOptions().WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	local, far := pipe()
	s := &peer.Session{Repo: peer.NewRepoAdapter(r), Authz: peer.AllowAll, User: "alice", LocalID: "local",
		RemoteID: "relay", RemoteStorage: "relay-store", Conn: local, Log: slog.New(slog.DiscardHandler)}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	id := docs.DocumentID{7}

	// requests counts the request messages for id far receives within d.
	requests := func(d time.Duration) int {
		n := 0
		for {
			rctx, rcancel := context.WithTimeout(ctx, d)
			m, err := far.Recv(rctx)
			rcancel()
			if err != nil {
				return n
			}
			if m.Type == wire.TypeRequest && m.DocumentID == id.String() {
				n++
			}
		}
	}
	s.Want(id)
	if got := requests(300 * time.Millisecond); got != 1 {
		t.Fatalf("first Want: %d requests, want 1", got)
	}
	s.Want(id)
	s.Want(id)
	if got := requests(300 * time.Millisecond); got != 0 {
		t.Fatalf("Want while the request is unanswered: %d more requests, want 0", got)
	}
	if err := far.Send(ctx, &wire.Message{Type: wire.TypeDocUnavailable, SenderID: "relay", TargetID: "local", DocumentID: id.String()}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the session handles the answer
	s.Want(id)
	if got := requests(300 * time.Millisecond); got != 1 {
		t.Fatalf("Want after doc-unavailable: %d requests, want 1", got)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

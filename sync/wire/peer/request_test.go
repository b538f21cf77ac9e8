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

// TestUnknownFollowsBounded: a remote asking for documents this side
// does not hold gets doc-unavailable each time, and the first
// MaxUnknownFollows interests are remembered (the document is sent when
// it arrives); past them a request is answered and forgotten. Before,
// every request for a made-up id grew the session's memory, without
// end (a LAN peer has no rate limit).
func TestUnknownFollowsBounded(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	r, err := repo.Open(ctx, store.NewMemory(), repo.DefaultOptions().WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	local, far := pipe()
	s := &peer.Session{Repo: peer.NewRepoAdapter(r), Authz: peer.AllowAll, User: "eve", LocalID: "local",
		RemoteID: "eve-dev", RemoteStorage: "eve-store", Conn: local, Log: slog.New(slog.DiscardHandler)}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	request := func(id docs.DocumentID) {
		t.Helper()
		if err := far.Send(ctx, &wire.Message{Type: wire.TypeRequest, SenderID: "eve-dev", TargetID: "local",
			DocumentID: id.String(), Data: []byte{0x42, 0, 0, 0, 0}}); err != nil {
			t.Fatal(err)
		}
		m, err := far.Recv(ctx)
		if err != nil || m.Type != wire.TypeDocUnavailable || m.DocumentID != id.String() {
			t.Fatalf("request for %s answered %+v, %v; want doc-unavailable", id, m, err)
		}
	}
	first, past := docs.DocumentID{1}, docs.DocumentID{2}
	request(first)
	for i := 1; i < peer.MaxUnknownFollows; i++ {
		request(docs.DocumentID{3, byte(i >> 8), byte(i)})
	}
	request(past)
	for _, id := range []docs.DocumentID{past, first} {
		if _, err := r.OpenLibrary(ctx, id, "eve"); err != nil {
			t.Fatal(err)
		}
	}
	sent := map[string]bool{}
	for {
		rctx, rcancel := context.WithTimeout(ctx, 500*time.Millisecond)
		m, err := far.Recv(rctx)
		rcancel()
		if err != nil {
			break
		}
		sent[m.DocumentID] = true
	}
	if !sent[first.String()] {
		t.Fatal("the first requested document was not sent when it arrived")
	}
	if sent[past.String()] {
		t.Fatal("a request past MaxUnknownFollows was remembered: its document was sent")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

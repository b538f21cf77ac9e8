package peer_test

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// A relay's sessions share one Fanout: a change reaches only the
// sessions that follow the changed document.
func ExampleFanout() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r, _ := repo.Open(ctx, store.NewMemory(), repo.DefaultOptions().WithLogger(slog.New(slog.DiscardHandler)))
	defer r.Close()
	followed, _ := r.CreatePlaylist(ctx, "alice", "followed")
	other, _ := r.CreatePlaylist(ctx, "alice", "other")
	ad := peer.NewRepoAdapter(r)
	fan := peer.NewFanout(ad)

	local, far := pipe()
	s := &peer.Session{Repo: ad, Authz: peer.AllowAll, User: "alice", LocalID: "relay", RemoteID: "dev",
		RemoteStorage: "dev-store", Conn: local, Fanout: fan, Log: slog.New(slog.DiscardHandler)}
	go s.Run(ctx)
	// The remote asks for one document; the session now follows it.
	m, _ := automerge.NewSyncState(automerge.New()).GenerateMessage()
	far.Send(ctx, &wire.Message{Type: wire.TypeRequest, SenderID: "dev", TargetID: "relay", DocumentID: followed.ID().String(), Data: m.Bytes()})
	answer, _ := far.Recv(ctx)
	fmt.Println(answer.Type, len(fan.Followers(followed.ID())), len(fan.Followers(other.ID())))

	other.Playlist(ctx, func(p *docs.Playlist) error { return p.Rename("renamed") })
	followed.Playlist(ctx, func(p *docs.Playlist) error { return p.Rename("renamed") })
	pushed, _ := far.Recv(ctx) // the change to the followed document
	fmt.Println(pushed.Type, pushed.DocumentID == followed.ID().String(), fan.Notified())
	// Output:
	// sync 1 0
	// sync true 1
}

package simnet_test

import (
	"context"
	"fmt"

	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/simnet"
)

func Example() {
	ctx := context.Background()
	net := simnet.New(simnet.DefaultConfig(1))
	a, _ := repo.Open(ctx, store.NewMemory(), repo.DefaultOptions())
	b, _ := repo.Open(ctx, store.NewMemory(), repo.DefaultOptions())
	net.AddNode("a", a)
	net.AddNode("b", b)

	h, _ := a.CreatePlaylist(ctx, "alice", "Plane")
	ids := []docs.DocumentID{h.ID()}
	net.Partition([]simnet.NodeID{"a"}, []simnet.NodeID{"b"})
	_ = h.Playlist(ctx, func(p *docs.Playlist) error {
		_, err := p.Add(docs.AtEnd(), "alice", "trk1")
		return err
	})
	_, _ = net.Round(ctx, ids) // nothing crosses the partition
	net.Heal()
	_, err := net.RunUntilQuiet(ctx, ids, 100)
	hb, _ := b.Get(ctx, h.ID())
	fmt.Println(err, fmt.Sprint(hb.Heads()) == fmt.Sprint(h.Heads()))
	// Output: <nil> true
}

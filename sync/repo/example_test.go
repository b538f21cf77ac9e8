package repo_test

import (
	"context"
	"fmt"

	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/repo"
)

func Example() {
	ctx := context.Background()
	phone, _ := repo.Open(ctx, store.NewMemory(), repo.DefaultOptions())
	laptop, _ := repo.Open(ctx, store.NewMemory(), repo.DefaultOptions())
	defer phone.Close()
	defer laptop.Close()

	h, _ := phone.CreatePlaylist(ctx, "alice", "Road trip")
	_ = h.Playlist(ctx, func(p *docs.Playlist) error {
		_, err := p.Add(docs.AtEnd(), "alice", "trk1", "trk2")
		return err
	})

	// A lossless in-order link: exchange messages until both are quiet.
	for {
		m1, ok1, _ := phone.GenerateSyncMessage(ctx, "laptop", h.ID())
		if ok1 {
			_ = laptop.ReceiveSyncMessage(ctx, "phone", h.ID(), m1)
		}
		m2, ok2, _ := laptop.GenerateSyncMessage(ctx, "phone", h.ID())
		if ok2 {
			_ = phone.ReceiveSyncMessage(ctx, "laptop", h.ID(), m2)
		}
		if !ok1 && !ok2 {
			break
		}
	}
	copyOnLaptop, _ := laptop.Get(ctx, h.ID())
	_ = copyOnLaptop.ReadPlaylist(func(p *docs.Playlist) error {
		es, err := p.Entries()
		for _, e := range es {
			fmt.Println(e.Track)
		}
		return err
	})
	// Output:
	// trk1
	// trk2
}

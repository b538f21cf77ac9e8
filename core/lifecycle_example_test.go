package core_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
)

// ExampleEngine_Close shows that the engine owns what it started: one
// Close stops the player and the documents (and downloads, had they been
// opened), and every later call fails with ErrClosed.
func ExampleEngine_Close() {
	relayURL, track, stop, err := exampleRelay()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	dir, _ := os.MkdirTemp("", "segue-example-close-")
	defer os.RemoveAll(dir)

	ctx := context.Background()
	e, err := core.Open(ctx, dir, core.DefaultOptions().WithOrigins(relayURL).
		WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := e.SignUp(ctx, "ada", "correct horse battery"); err != nil {
		fmt.Println(err)
		return
	}
	if err := e.Register(ctx, "ada", "correct horse battery", "laptop"); err != nil {
		fmt.Println(err)
		return
	}
	sink := player.NewDiscardSink(44100, 2)
	if _, err := e.OpenPlayer(sink, player.DefaultOptions()); err != nil {
		fmt.Println(err)
		return
	}
	d, err := e.OpenDocs(ctx, "ada")
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := d.StartSync(ctx); err != nil {
		fmt.Println(err)
		return
	}

	fmt.Println("close:", e.Close()) // player, documents and sync, history, store
	sink.Close()                     // the sink stays the caller's

	_, err = e.OpenTrack(ctx, track, model.TierHigh)
	fmt.Println("open track:", errors.Is(err, core.ErrClosed))
	_, err = d.Playlists().Create(ctx, "after close")
	fmt.Println("create playlist:", errors.Is(err, core.ErrClosed))
	fmt.Println("player:", e.Player() == nil)
	fmt.Println("close again:", e.Close())
	// Output:
	// close: <nil>
	// open track: true
	// create playlist: true
	// player: true
	// close again: <nil>
}

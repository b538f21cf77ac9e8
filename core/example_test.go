package core_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	tbed "github.com/segue-fm/segue/internal/testbed"
)

// exampleRelay starts a relay serving the demo album on 127.0.0.1 and
// returns its URL, a demo track id and a stop function.
func exampleRelay() (string, model.TrackID, func(), error) {
	r, err := tbed.Start(context.Background(), tbed.DefaultOptions())
	if err != nil {
		return "", "", nil, err
	}
	return r.URL, r.Tracks[0], func() { r.Close() }, nil
}

// Example embeds the engine: open a data directory, sign up and register
// the device with a relay, then stream a track's decrypted Ogg Vorbis.
func Example() {
	relayURL, track, stop, err := exampleRelay()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer stop()
	dir, _ := os.MkdirTemp("", "segue-example-engine-")
	defer os.RemoveAll(dir)

	ctx := context.Background()
	e, err := core.Open(ctx, dir, core.DefaultOptions().
		WithOrigins(relayURL).
		WithCacheBytes(64<<20).
		WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer e.Close()
	if err := e.SignUp(ctx, "ada", "correct horse battery"); err != nil {
		fmt.Println(err)
		return
	}
	if err := e.Register(ctx, "ada", "correct horse battery", "example"); err != nil {
		fmt.Println(err)
		return
	}

	t, err := e.OpenTrack(ctx, track, model.TierHigh)
	if err != nil {
		fmt.Println(err)
		return
	}
	r := t.Stream(ctx)
	defer r.Close()
	head := make([]byte, 4)
	if _, err := io.ReadFull(r, head); err != nil {
		fmt.Println(err)
		return
	}
	rest, err := io.Copy(io.Discard, r)
	fmt.Printf("%s… %v\n", head, err)
	fmt.Println("whole file:", rest > 0, "chunks:", len(t.Manifest().Chunks) > 1)
	// Output:
	// OggS… <nil>
	// whole file: true chunks: true
}

package core_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	tbed "github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/sync/docs"
)

// ExampleDocs edits a playlist on one device of an account and reads it
// on another: each device is an engine on its own data directory,
// registered to the same account. The app keeps the account's name
// (OpenDocs needs it; another account's is ErrOtherAccount). Edits are
// local Automerge commits, made offline as well; StartSync keeps the
// documents in sync with the relay in the background, and WaitInSync
// returns once the relay has answered for every one of them.
func ExampleDocs() {
	r, err := tbed.Start(context.Background(), tbed.DefaultOptions())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	ctx := context.Background()

	base, err := os.MkdirTemp("", "segue-example-docs-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(base)
	// device opens an engine in a directory of its own and registers it
	// to ada (the first one signs her up).
	device := func(name string, signUp bool) (*core.Engine, *core.Docs, error) {
		e, err := core.Open(ctx, filepath.Join(base, name), core.DefaultOptions().WithOrigins(r.URL).
			WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			return nil, nil, err
		}
		if signUp {
			if err := e.SignUp(ctx, "ada", "correct horse battery"); err != nil {
				return e, nil, err
			}
		}
		if err := e.Register(ctx, "ada", "correct horse battery", name); err != nil {
			return e, nil, err
		}
		d, err := e.OpenDocs(ctx, "ada")
		if err != nil {
			return e, nil, err
		}
		return e, d, d.StartSync(ctx)
	}
	phone, pd, err := device("phone", true)
	if phone != nil {
		defer phone.Close() // closes its Docs and stops their sync too
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	id, err := pd.Playlists().Create(ctx, "Road trip")
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := pd.Playlists().Add(ctx, id, docs.AtEnd(), r.Tracks[0], r.Tracks[2]); err != nil {
		fmt.Println(err)
		return
	}
	if err := pd.WaitInSync(ctx); err != nil {
		fmt.Println(err)
		return
	}

	laptop, ld, err := device("laptop", false)
	if laptop != nil {
		defer laptop.Close()
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := ld.WaitInSync(ctx); err != nil { // the library, then the playlists it names
		fmt.Println(err)
		return
	}
	v, err := ld.Playlists().Get(ctx, id)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s: %d tracks, first %v\n", v.Info.Name, len(v.Entries), v.Entries[0].Track == r.Tracks[0])
	if err := ld.Close(); err != nil {
		fmt.Println(err)
		return
	}
	_, err = laptop.OpenDocs(ctx, model.UserID("bob"))
	fmt.Println("bob's documents on ada's laptop:", errors.Is(err, core.ErrOtherAccount))
	// Output:
	// Road trip: 2 tracks, first true
	// bob's documents on ada's laptop: true
}

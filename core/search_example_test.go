package core_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/segue-fm/segue/core"
	tbed "github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/server/search"
)

// ExampleEngine_Search searches the catalog with a typo and a cut last
// word, first through the relay, then (relay stopped) from the device's
// offline index after a playlist put the track on the device.
func ExampleEngine_Search() {
	ctx := context.Background()
	r, err := tbed.Start(ctx, tbed.DefaultOptions().WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
		if _, err := search.MountForDataDir(ctx, dd, srv); err != nil {
			fmt.Println(err)
		}
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	dir, _ := os.MkdirTemp("", "segue-example-search-")
	defer os.RemoveAll(dir)
	e, err := core.Open(ctx, dir, core.DefaultOptions().WithOrigins(r.URL).WithLogger(slog.New(slog.DiscardHandler)))
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

	res, err := e.Search(ctx, "harbuor lig", core.DefaultSearchOptions().WithKinds("track"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("online:", res.Hits[0].Title, "by", res.Hits[0].Artists[0], "offline:", res.Offline)

	// Put the track on the device (a saved track), index it while online.
	d, err := e.OpenDocs(ctx, "ada")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	if err := d.Library().SaveTracks(ctx, r.Tracks[2]); err != nil {
		fmt.Println(err)
		return
	}
	if _, err := e.RefreshSearchIndex(ctx, d); err != nil {
		fmt.Println(err)
		return
	}
	if err := r.Stop(); err != nil {
		fmt.Println(err)
		return
	}
	res, err = e.Search(ctx, "harbuor lig", core.DefaultSearchOptions())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("relay down:", res.Hits[0].Title, "local:", res.Hits[0].Local, "offline:", res.Offline)
	// Output:
	// online: Harbour Lights by Segue Ensemble offline: false
	// relay down: Harbour Lights local: true offline: true
}

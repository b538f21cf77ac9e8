package social_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/server/social"
)

// Example mounts the social layer on a relay; two users follow each
// other and one sees what the other plays.
func Example() {
	ctx := context.Background()
	r, err := testbed.Start(ctx, testbed.DefaultOptions().WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
		social.NewForRelay(dd, srv, social.DefaultOptions().WithLogger(slog.New(slog.DiscardHandler))).Mount(srv)
	}))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	tmp, err := os.MkdirTemp("", "social-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(tmp)
	device := func(user string) *core.Engine {
		dir := tmp + "/" + user
		e, err := core.Open(ctx, dir, core.DefaultOptions().WithOrigins(r.URL).WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			panic(err)
		}
		if err := e.SignUp(ctx, user, testbed.Password); err != nil {
			panic(err)
		}
		if err := e.Register(ctx, user, testbed.Password, "phone"); err != nil {
			panic(err)
		}
		return e
	}
	ada, bob := device("ada"), device("bob")
	defer ada.Close()
	defer bob.Close()
	_ = ada.Follow(ctx, "bob")
	_ = bob.Follow(ctx, "ada")
	_ = ada.PublishActivity(ctx, api.ActivityPost{Track: r.Tracks[0], Playing: true})
	feed, err := bob.FriendActivity(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range feed {
		fmt.Println(a.User, "is playing:", a.Playing, "a demo track:", a.Track == r.Tracks[0])
	}
	// Output: ada is playing: true a demo track: true
}

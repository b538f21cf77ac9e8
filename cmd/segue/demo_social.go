package main

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/server/social"
)

// mountSocial adds the social routes (follows, activity, share links) to
// the demo relay.
func (d *demo) mountSocial(srv *relay.Server) {
	social.NewForRelay(d.data, srv, social.DefaultOptions().WithLogger(d.log)).Mount(srv)
}

// friendActivity: ada and bob follow each other; bob holds his activity
// stream while ada's player starts a track, and sees it within moments;
// ada shares the track and the demo fetches the link's page and card.
func (d *demo) friendActivity(ctx context.Context) error {
	fmt.Fprintln(d.out)
	bob, err := core.Open(ctx, filepath.Join(d.work, "device-2"), core.DefaultOptions().WithOrigins(d.url).WithLogger(d.log))
	if err != nil {
		return err
	}
	defer bob.Close()
	if err := d.engine.Follow(ctx, "bob"); err != nil {
		return err
	}
	if err := bob.Follow(ctx, "ada"); err != nil {
		return err
	}
	d.step("social: ada and bob follow each other: friends")

	wctx, stop := context.WithCancel(ctx)
	defer stop()
	seen := make(chan api.Activity, 16)
	go bob.WatchFriends(wctx, func(a api.Activity) { seen <- a })
	time.Sleep(100 * time.Millisecond) // bob's stream opens

	tr := d.tracks[len(d.tracks)-1]
	p, err := d.engine.OpenPlayer(player.NewDiscardSink(tr.SampleRate, tr.Channels), player.DefaultOptions())
	if err != nil {
		return err
	}
	defer d.engine.ClosePlayer()
	t0 := time.Now()
	if err := d.engine.PlayAlbum(ctx, tr.AlbumID, len(d.tracks)-1); err != nil {
		return err
	}
	timeout := time.After(5 * time.Second)
	for got := false; !got; {
		select {
		case a := <-seen:
			if a.User == "ada" && a.Track == tr.ID && a.Playing {
				d.step("social: bob sees %s playing %q by %s (from her %s) %v after ada's player started it",
					a.DisplayName, a.Title, strings.Join(a.Artists, ", "), a.Context.Kind, time.Since(t0).Round(time.Millisecond))
				got = true
			}
		case <-timeout:
			return fmt.Errorf("%w: bob did not see ada's now-playing within 5 s", errDemoCheck)
		}
	}
	p.Stop()

	sh, err := d.engine.Share(ctx, api.ShareTrack, string(tr.ID))
	if err != nil {
		return err
	}
	for _, u := range []string{sh.URL, sh.URL + ".png"} {
		resp, err := http.Get(u)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%w: %s answered %s", errDemoCheck, u, resp.Status)
		}
	}
	d.step("social: ada shares the track: %s (page with Open Graph tags, card %s.png, 1200×630)", sh.URL, sh.URL)
	return nil
}

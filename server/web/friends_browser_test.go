package web_test

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/browsertest"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/server/social"
	"github.com/segue-fm/segue/server/web"
)

// TestBrowserFriendActivity: ada signs up in the page, she and bob (a
// native device) follow each other. Bob's track change appears in the
// page's Friends list, his display name (an HTML probe) as text followed
// by his user name (a display name is anyone's choice); the
// page's own play reaches bob's feed; with the private session box
// ticked, the page's next play does not.
func TestBrowserFriendActivity(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
		web.Mount(srv.Echo())
		social.NewForRelay(dd, srv, social.DefaultOptions().WithLogger(slog.New(slog.DiscardHandler))).Mount(srv)
	}))
	ctx := t.Context()
	bob := testbed.Device(t, r, "bob")
	probe := `<img src=x onerror="window.pwned=1">`
	if err := bob.SetProfile(ctx, api.ProfileSettings{DisplayName: &probe}); err != nil {
		t.Fatal(err)
	}
	page := browsertest.New(t)
	step := pageSteps(t, page, 30*time.Second, `document.getElementById("account-msg").textContent + " | " + document.getElementById("friends-msg").textContent`)
	step("sign up", signInActions(r.URL, "ada", true, "#friends")...)
	run[bool](t, page, `(async () => {
		const res = await fetch("/v1/follows/bob", {method: "POST", headers: {Authorization: "Bearer " + await window.segueSession.token()}});
		if (!res.ok) throw new Error("follow: " + res.status);
		return true;
	})()`)
	if err := bob.Follow(ctx, "ada"); err != nil {
		t.Fatal(err)
	}

	t0 := time.Now()
	if err := bob.PublishActivity(ctx, api.ActivityPost{Track: r.Tracks[2], Playing: true}); err != nil {
		t.Fatal(err)
	}
	step("bob's track change in the Friends list", chromedp.WaitVisible(`#friends-list li[data-user="bob"]`))
	t.Logf("bob's track change shown in the page after %v", time.Since(t0).Round(time.Millisecond))
	type shown struct {
		Text   string `json:"text"`
		Images int    `json:"images"`
		Pwned  bool   `json:"pwned"`
	}
	got := run[shown](t, page, `Promise.resolve({text: document.querySelector('#friends-list li[data-user="bob"]').textContent,
		images: document.querySelectorAll("#friends-list img").length, pwned: !!window.pwned})`)
	if !strings.HasPrefix(got.Text, probe+" (bob) is playing Harbour Lights") || got.Images != 0 || got.Pwned {
		t.Fatalf("Friends list shows %+v; want bob's display name as text, his user name and Harbour Lights", got)
	}

	// adaPlaying waits until bob's feed shows ada playing track, or fails.
	adaPlaying := func(track model.TrackID) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			feed, err := bob.FriendActivity(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range feed {
				if a.User == "ada" && a.Track == track && a.Playing {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("bob's feed never showed ada playing %s: %+v", track, feed)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	play := func(track model.TrackID) {
		t.Helper()
		run[bool](t, page, `(async () => {
			const s = window.segueSession, id = `+jsString(string(track))+`;
			await s.playTracks([id], 0, "track", id);
			const t0 = performance.now();
			while (!(s.status().state === "playing" && s.status().track === id)) {
				if (performance.now() - t0 > 20000) throw new Error("not playing: " + JSON.stringify(s.status()));
				await new Promise((r) => setTimeout(r, 20));
			}
			return true;
		})()`)
	}
	play(r.Tracks[0])
	adaPlaying(r.Tracks[0])

	// Ticked from the keyboard (focus, space), as a keyboard user would: a
	// mouse click lands on coordinates computed before the page's layout
	// settles (the playing status and the friends list still move it),
	// and missed the box in about 1 run in 4.
	step("tick private session", chromedp.Focus("#private"), chromedp.KeyEvent(" "))
	if !run[bool](t, page, `Promise.resolve(document.getElementById("private").checked)`) {
		t.Fatal("the private session box is not ticked after focus and space")
	}
	play(r.Tracks[1])
	// A publication would reach the relay in milliseconds; give it 2 s.
	time.Sleep(2 * time.Second)
	feed, err := bob.FriendActivity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range feed {
		if a.User == "ada" && a.Track != r.Tracks[0] {
			t.Fatalf("the private session published %+v", a)
		}
	}
	run[bool](t, page, `window.segueSession.stop().then(() => true)`)
}

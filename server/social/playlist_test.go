package social_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/chromedp/chromedp"
	"golang.org/x/net/html"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/browsertest"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/social"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/repo"
)

// syncedPlaylist creates a playlist of e's user on the relay (synced)
// with the given tracks and returns its id and the open Docs.
func syncedPlaylist(t *testing.T, e *core.Engine, user model.UserID, name string, public bool, tracks ...model.TrackID) (docs.DocumentID, *core.Docs) {
	t.Helper()
	d, err := e.OpenDocs(t.Context(), user)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.StartSync(t.Context()); err != nil {
		t.Fatal(err)
	}
	return syncedPlaylistIn(t, d, name, public, tracks...), d
}

// syncedPlaylistIn creates a playlist holding tracks in d, whose sync is
// started, and waits until the relay holds it.
func syncedPlaylistIn(t *testing.T, d *core.Docs, name string, public bool, tracks ...model.TrackID) docs.DocumentID {
	t.Helper()
	ctx := t.Context()
	id, err := d.Playlists().Create(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if public {
		if err := d.Playlists().SetPublic(ctx, id, true); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := d.Playlists().Add(ctx, id, docs.AtEnd(), tracks...); err != nil {
		t.Fatal(err)
	}
	if err := d.WaitInSync(ctx); err != nil {
		t.Fatal(err)
	}
	return id
}

const (
	evilName    = `<script>window.__xss=1</script><b>Road</b> "trip" & 'more'`
	evilDisplay = `"><img src=x onerror="window.__xss2=1">`
)

// textOf returns the text of the element with id in an HTML page, and
// whether the page has any script element, any element with an on*
// attribute, or an img other than the card.
func textOf(t *testing.T, page []byte, id string) (text string, active bool) {
	t.Helper()
	doc, err := html.Parse(bytes.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			if n.Data == "script" {
				active = true
			}
			for _, a := range n.Attr {
				if strings.HasPrefix(a.Key, "on") || (n.Data == "img" && a.Key == "src" && !strings.HasSuffix(a.Val, ".png")) {
					active = true
				}
				if a.Key == "id" && a.Val == id && n.FirstChild != nil {
					text = n.FirstChild.Data
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return text, active
}

// TestSharePageEscapes is the XSS probe: a public playlist named with
// markup, owned by a user whose display name breaks out of attributes,
// is shared; its page shows both as text — checked in the HTML and in
// headless Chromium (the page's DOM text equals the names, no script
// ran). The profile answer carries the name as JSON data.
func TestSharePageEscapes(t *testing.T) {
	ctx := t.Context()
	r := socialRelay(t, social.DefaultOptions())
	ada, bob := testbed.Device(t, r, "ada"), testbed.Device(t, r, "bob")
	disp := evilDisplay
	if err := ada.SetProfile(ctx, api.ProfileSettings{DisplayName: &disp}); err != nil {
		t.Fatal(err)
	}
	id, _ := syncedPlaylist(t, ada, "ada", evilName, true, r.Tracks[0], r.Tracks[1])
	p, err := bob.Profile(ctx, "ada")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.PublicPlaylists) != 1 || p.PublicPlaylists[0].Name != evilName || p.DisplayName != evilDisplay {
		t.Fatalf("profile %+v", p)
	}
	sh, err := bob.Share(ctx, api.SharePlaylist, id.String())
	if err != nil {
		t.Fatal(err)
	}
	code, _, page := do(t, "GET", sh.URL, "", "")
	if code != http.StatusOK {
		t.Fatalf("page %d", code)
	}
	if bytes.Contains(page, []byte("<script>")) || bytes.Contains(page, []byte("<b>Road")) || bytes.Contains(page, []byte(`"><img`)) {
		t.Fatalf("user strings not escaped:\n%s", page)
	}
	title, active := textOf(t, page, "title")
	sub, _ := textOf(t, page, "subtitle")
	if active || title != evilName || sub != "Playlist by "+evilDisplay {
		t.Fatalf("parsed page: title %q subtitle %q active content %v", title, sub, active)
	}
	if m := metas(page); m["og:type"] != "music.playlist" || m["og:title"] != html.EscapeString(evilName) {
		t.Fatalf("playlist meta tags %v", m)
	}
	code, _, img := do(t, "GET", sh.URL+".png", "", "")
	if code != http.StatusOK {
		t.Fatalf("card %d", code)
	}
	checkCard(t, img)

	bctx := browsertest.New(t)
	type dom struct {
		Title   string `json:"title"`
		Sub     string `json:"sub"`
		OG      string `json:"og"`
		Scripts int    `json:"scripts"`
		XSS     bool   `json:"xss"`
	}
	if err := chromedp.Do(bctx, chromedp.Navigate(sh.URL)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // let an injected onerror fire, if any
	got, err := chromedp.Run(bctx, chromedp.Evaluate[dom](`({
		title: document.getElementById("title").textContent,
		sub: document.getElementById("subtitle").textContent,
		og: document.querySelector('meta[property="og:title"]').content,
		scripts: document.scripts.length,
		xss: window.__xss !== undefined || window.__xss2 !== undefined,
	})`))
	if err != nil {
		t.Fatal(err)
	}
	if got.Title != evilName || got.Sub != "Playlist by "+evilDisplay || got.OG != evilName || got.Scripts != 0 || got.XSS {
		t.Fatalf("Chromium sees %+v", got)
	}
}

// TestPlaylistShareFollowAndInvite: a share of a public playlist lets
// bob follow it (the relay adds it to his library); a private
// playlist's share is the owner's alone; an owner's invite link makes
// carol a collaborator, and expires.
func TestPlaylistShareFollowAndInvite(t *testing.T) {
	ctx := t.Context()
	var skew atomic.Int64
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	r := socialRelay(t, social.DefaultOptions().WithClock(clock).WithInviteTTL(time.Hour))
	ada, bob, carol := testbed.Device(t, r, "ada"), testbed.Device(t, r, "bob"), testbed.Device(t, r, "carol")
	pub, adaDocs := syncedPlaylist(t, ada, "ada", "Public mix", true, r.Tracks[0])
	priv := syncedPlaylistIn(t, adaDocs, "Secret mix", false, r.Tracks[1])

	bobDocs, err := bob.OpenDocs(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	defer bobDocs.Close()
	if err := bobDocs.StartSync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := bobDocs.WaitInSync(ctx); err != nil {
		t.Fatal(err)
	}
	sh, err := ada.Share(ctx, api.SharePlaylist, pub.String())
	if err != nil {
		t.Fatal(err)
	}
	acc, err := bob.AcceptShare(ctx, sh.Token)
	if err != nil {
		t.Fatal(err)
	}
	if !acc.Followed || acc.Collaborator || acc.ID != pub.String() {
		t.Fatalf("accept %+v", acc)
	}
	waitUntil(t, "bob's library follows the shared playlist", func() bool {
		v, err := bobDocs.Library().Get(ctx)
		return err == nil && slices.Contains(v.Playlists, pub)
	})

	// Private: bob can neither share it nor get in by a plain share.
	if _, err := bob.Share(ctx, api.SharePlaylist, priv.String()); status(t, err) != http.StatusNotFound {
		t.Fatalf("bob shares ada's private playlist: %v", err)
	}
	plain, err := ada.Share(ctx, api.SharePlaylist, priv.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bob.AcceptShare(ctx, plain.Token); status(t, err) != http.StatusForbidden {
		t.Fatalf("bob accepts a plain share of a private playlist: %v", err)
	}
	if _, err := bob.InviteLink(ctx, pub.String(), 0); status(t, err) != http.StatusForbidden {
		t.Fatalf("bob invites to ada's playlist: %v", err)
	}

	inv, err := ada.InviteLink(ctx, priv.String(), 10*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if inv.Expires == nil || inv.Expires.Sub(time.Now()) > 11*time.Minute {
		t.Fatalf("invite expiry %v", inv.Expires)
	}
	acc, err = carol.AcceptShare(ctx, inv.Token)
	if err != nil {
		t.Fatal(err)
	}
	if !acc.Collaborator {
		t.Fatalf("invite accept %+v", acc)
	}
	waitUntil(t, "ada's device sees carol as collaborator", func() bool {
		v, err := adaDocs.Playlists().Get(ctx, priv)
		return err == nil && slices.Contains(v.Info.Collaborators, "carol")
	})
	skew.Store(int64(11 * time.Minute))
	if _, err := bob.AcceptShare(ctx, inv.Token); status(t, err) != http.StatusNotFound {
		t.Fatalf("expired invite: %v", err)
	}
	if code, _, _ := do(t, "GET", inv.URL, "", ""); code != http.StatusNotFound {
		t.Fatalf("expired invite page: %d", code)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestShareLongPlaylistName: the relay does not bound a playlist's name
// (a device refuses names over docs.MaxNameBytes, but the document is
// the users' CRDT: an older or foreign client writes the field as it
// likes), and its share page and card are public. A 50,000-rune name (the
// relay refuses one since docs.CheckContent; one stored before stays) is
// cut to 300 runes and "…" on the page and in the preview, and its card
// renders at once (cutting the title rune by rune took 28 s for 20,000
// runes, under the lock every card takes).
func TestShareLongPlaylistName(t *testing.T) {
	ctx := t.Context()
	r := socialRelay(t, social.DefaultOptions())
	ada := testbed.Device(t, r, "ada")
	name := strings.Repeat("W", 50000)
	id, _ := syncedPlaylist(t, ada, "ada", "short", true, r.Tracks[0])
	storeOldName(t, r, id, name)
	sh, err := ada.Share(ctx, api.SharePlaylist, id.String())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	code, _, img := do(t, "GET", sh.URL+".png", "", "")
	if code != http.StatusOK {
		t.Fatalf("card %d", code)
	}
	if d := time.Since(t0); d > 5*time.Second {
		t.Fatalf("card took %v", d)
	}
	checkCard(t, img)
	want := strings.Repeat("W", 300) + "…"
	code, _, page := do(t, "GET", sh.URL, "", "")
	if title, _ := textOf(t, page, "title"); code != http.StatusOK || title != want {
		t.Fatalf("page %d, title of %d bytes", code, len(title))
	}
	if len(page) > 16<<10 {
		t.Fatalf("page of %d bytes", len(page))
	}
	code, _, b := do(t, "GET", sh.URL+"/preview", "", "")
	var p api.SharePreview
	if err := json.Unmarshal(b, &p); err != nil || code != http.StatusOK || p.Title != want {
		t.Fatalf("preview %d %v, title of %d bytes", code, err, len(p.Title))
	}
}

// TestShareOfPlaylistMadePrivate: bob's link to ada's public playlist
// shows it until ada makes it private; from then on its page, card and
// preview are the 404 of a revoked link and never show the name ada
// gives it later (ada's own link keeps its page, as documented), and
// they come back when the playlist is public again.
func TestShareOfPlaylistMadePrivate(t *testing.T) {
	ctx := t.Context()
	r := socialRelay(t, social.DefaultOptions())
	ada, bob := testbed.Device(t, r, "ada"), testbed.Device(t, r, "bob")
	id, adaDocs := syncedPlaylist(t, ada, "ada", "Public mix", true, r.Tracks[0])
	bobs, err := bob.Share(ctx, api.SharePlaylist, id.String())
	if err != nil {
		t.Fatal(err)
	}
	adas, err := ada.Share(ctx, api.SharePlaylist, id.String())
	if err != nil {
		t.Fatal(err)
	}
	codes := func(url string) [3]int {
		var c [3]int
		for i, suffix := range []string{"", ".png", "/preview"} {
			code, _, body := do(t, "GET", url+suffix, "", "")
			if code == http.StatusOK && bytes.Contains(body, []byte("Secret")) && url != adas.URL {
				t.Fatalf("%s%s shows the private name:\n%s", url, suffix, body)
			}
			c[i] = code
		}
		return c
	}
	if c := codes(bobs.URL); c != [3]int{200, 200, 200} {
		t.Fatalf("bob's link of the public playlist: %v", c)
	}
	edit := func(public bool, name string) {
		t.Helper()
		if err := adaDocs.Playlists().SetPublic(ctx, id, public); err != nil {
			t.Fatal(err)
		}
		if err := adaDocs.Playlists().Rename(ctx, id, name); err != nil {
			t.Fatal(err)
		}
		if err := adaDocs.WaitInSync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	edit(false, "Secret mix")
	waitUntil(t, "bob's link stops showing the private playlist", func() bool { return codes(bobs.URL) == [3]int{404, 404, 404} })
	code, _, page := do(t, "GET", adas.URL, "", "")
	if title, _ := textOf(t, page, "title"); code != http.StatusOK || title != "Secret mix" {
		t.Fatalf("ada's own link: %d %q", code, title)
	}
	edit(true, "Public again")
	waitUntil(t, "bob's link shows the public playlist again", func() bool { return codes(bobs.URL) == [3]int{200, 200, 200} })
}

// TestSharePlaylistNameEscaped: a playlist name holding control or
// bidirectional formatting characters (a device refuses to write them,
// docs.CheckName, and the relay refuses them since docs.CheckContent; a
// relay from before stored what older or foreign clients wrote) is
// shown on the public share page and in the preview (which the web
// player shows to whoever opens the link) with each of them written as
// \uXXXX, as segue playlist prints it. Before, they went out raw: a
// U+202E reversed the page title and everything a chat app or the web
// player draws after it.
func TestSharePlaylistNameEscaped(t *testing.T) {
	ctx := t.Context()
	r := socialRelay(t, social.DefaultOptions())
	ada := testbed.Device(t, r, "ada")
	id, _ := syncedPlaylist(t, ada, "ada", "short", true, r.Tracks[0])
	sh, err := ada.Share(ctx, api.SharePlaylist, id.String())
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, want string }{
		{"\u202eevil", `\u202eevil`},
		{"bell\x07 esc\x1b[2J", `bell\u0007 esc\u001b[2J`},
		{"x\u2066y\u2069 \u0085", `x\u2066y\u2069 \u0085`},
		{"שלום \u200f mixed", "שלום \u200f mixed"}, // an implicit mark reorders nothing
	}
	for _, tc := range cases {
		storeOldName(t, r, id, tc.name)
		code, _, page := do(t, "GET", sh.URL, "", "")
		if title, _ := textOf(t, page, "title"); code != http.StatusOK || title != tc.want {
			t.Errorf("name %+q: page %d, title %+q; want %+q", tc.name, code, title, tc.want)
		}
		code, _, b := do(t, "GET", sh.URL+"/preview", "", "")
		var p api.SharePreview
		if err := json.Unmarshal(b, &p); err != nil || code != http.StatusOK || p.Title != tc.want {
			t.Errorf("name %+q: preview %d %v, title %+q; want %+q", tc.name, code, err, p.Title, tc.want)
		}
	}
}

// storeOldName sets the name of playlist id in the relay's store as a
// relay from before the content check (docs.CheckContent) stored what
// any client sent: the relay is stopped, the document changed through a
// repository without the check, and the relay started again.
func storeOldName(t *testing.T, r *testbed.Relay, id docs.DocumentID, name string) {
	t.Helper()
	ctx := t.Context()
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	dd, err := catalog.OpenDataDir(ctx, r.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	rp, err := repo.Open(ctx, dd.Store, repo.DefaultOptions().WithFacts(docs.EncodeFacts).WithFactsUpdate(docs.UpdateFacts))
	if err != nil {
		t.Fatal(err)
	}
	h, err := rp.Get(ctx, id)
	if err == nil {
		err = h.Change(ctx, func(doc *automerge.Doc) error { return doc.RootMap().Set("name", name) })
	}
	if err := errors.Join(err, rp.Close(), dd.Close()); err != nil {
		t.Fatal(err)
	}
	if err := r.Restart(ctx); err != nil {
		t.Fatal(err)
	}
}

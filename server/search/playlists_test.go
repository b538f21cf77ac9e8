package search

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/sync/docs"
)

// getSearch asks GET /v1/search?query with the device token tok.
func getSearch(t *testing.T, base, tok, query string) (int, ResponseJSON) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/v1/search?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r ResponseJSON
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, r
}

// playlistsOf returns the ids of the playlists GET /v1/search shows to
// the device token tok for q.
func playlistsOf(t *testing.T, base, tok, q string) map[string]string {
	t.Helper()
	code, r := getSearch(t, base, tok, "q="+url.QueryEscape(q)+"&types=playlist")
	if code != http.StatusOK {
		t.Fatalf("search %q: %d", q, code)
	}
	out := map[string]string{}
	for _, res := range r.Results {
		if res.Kind != string(KindPlaylist) {
			t.Fatalf("types=playlist answered a %s", res.Kind)
		}
		out[res.ID] = res.Title
	}
	return out
}

// TestPlaylistSearchVisibility runs a real relay with two users. Ada has
// a private and a public playlist, Bob a private one; both are synced to
// the relay. Searching as an attacker would: Bob, with the exact words
// of Ada's private playlist, with its id, or with no type filter, never
// sees it; Ada sees both of hers and not Bob's private one. Making the
// private playlist public shows it to Bob, renaming it renames the hit,
// and making it private again hides it.
func TestPlaylistSearchVisibility(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
		if _, err := MountForDataDir(context.Background(), dd, srv); err != nil {
			t.Error(err)
		}
	}))
	ctx := t.Context()
	ada, bob := testbed.Device(t, r, "ada"), testbed.Device(t, r, "bob")
	open := func(e *core.Engine, user model.UserID) *core.Docs {
		d, err := e.OpenDocs(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		if err := d.StartSync(ctx); err != nil {
			t.Fatal(err)
		}
		return d
	}
	ad, bd := open(ada, "ada"), open(bob, "bob")
	create := func(d *core.Docs, name string, public bool) docs.DocumentID {
		id, err := d.Playlists().Create(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if public {
			if err := d.Playlists().SetPublic(ctx, id, true); err != nil {
				t.Fatal(err)
			}
		}
		return id
	}
	secret := create(ad, "Secret Harbour Mixtape", false)
	open1 := create(ad, "Harbour Mixtape Sunday", true)
	bobs := create(bd, "Harbour Mixtape Bob", false)
	for _, d := range []*core.Docs{ad, bd} {
		if err := d.WaitInSync(ctx); err != nil {
			t.Fatal(err)
		}
	}
	until := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out: %s", what)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	at, bt := ada.Token(), bob.Token()
	until("the synced playlists indexed", func() bool {
		got := playlistsOf(t, r.URL, at, "harbour mixtape")
		return len(got) == 2 && got[secret.String()] != "" && got[open1.String()] != ""
	})
	// Bob's playlist and the public flag of Ada's are indexed as their
	// changes arrive, maybe after Ada's view is complete.
	until("bob sees Ada's public playlist and his own", func() bool {
		got := playlistsOf(t, r.URL, bt, "harbour mixtape")
		if got[secret.String()] != "" {
			t.Fatalf("bob sees Ada's private playlist: %v", got)
		}
		return len(got) == 2 && got[open1.String()] != "" && got[bobs.String()] != ""
	})
	for _, q := range []string{"secret harbour mixtape", "secret", "secrte harbour", secret.String()} {
		if got := playlistsOf(t, r.URL, bt, q); got[secret.String()] != "" {
			t.Fatalf("bob found Ada's private playlist with %q", q)
		}
		res := searchFor(t, r.URL, bt, q) // every type
		for _, h := range res.Results {
			if h.ID == secret.String() {
				t.Fatalf("bob found Ada's private playlist with %q and no type", q)
			}
		}
	}
	if got := playlistsOf(t, r.URL, at, "harbour mixtape bob"); got[bobs.String()] != "" {
		t.Fatal("ada found Bob's private playlist")
	}

	if err := ad.Playlists().SetPublic(ctx, secret, true); err != nil {
		t.Fatal(err)
	}
	if err := ad.WaitInSync(ctx); err != nil {
		t.Fatal(err)
	}
	until("the playlist made public shown to bob", func() bool {
		return playlistsOf(t, r.URL, bt, "secret harbour")[secret.String()] != ""
	})
	if err := ad.Playlists().Rename(ctx, secret, "Night Ferry Mixtape"); err != nil {
		t.Fatal(err)
	}
	if err := ad.WaitInSync(ctx); err != nil {
		t.Fatal(err)
	}
	until("the renamed playlist", func() bool {
		return playlistsOf(t, r.URL, bt, "night fery")[secret.String()] == "Night Ferry Mixtape"
	})
	if err := ad.Playlists().SetPublic(ctx, secret, false); err != nil {
		t.Fatal(err)
	}
	if err := ad.WaitInSync(ctx); err != nil {
		t.Fatal(err)
	}
	until("the playlist made private hidden from bob", func() bool {
		return playlistsOf(t, r.URL, bt, "night ferry")[secret.String()] == ""
	})
	if got := playlistsOf(t, r.URL, at, "night ferry"); got[secret.String()] == "" {
		t.Fatal("ada lost her own private playlist")
	}
}

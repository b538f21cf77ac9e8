package relay_test

import (
	"slices"
	"testing"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/repo"
)

// TestRelayCreatesLibraryDocument: a device that never writes a library
// (the web page) registers; the relay's repo then holds the user's
// library document, owned by the user, written with the deterministic
// genesis change. A registration or GET /v1/me again writes nothing
// more; GET /v1/me recreates a library the relay lost. A native device
// registered afterwards creates its library offline with the very same
// genesis (equal heads before any sync), and after syncing the relay and
// the device hold one history: equal heads, the device's save on the
// relay, and still exactly one genesis.
func TestRelayCreatesLibraryDocument(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithDemoAlbum(false))
	ctx := t.Context()
	const user, pw = "webonly", testbed.Password
	e := &env{base: r.URL}
	if res := e.do(t, "POST", "/v1/accounts", map[string]string{"username": user, "password": pw}, ""); res.code != 201 {
		t.Fatalf("sign up: %d %s", res.code, res.body)
	}
	register := func() (token, library string) {
		t.Helper()
		res := e.do(t, "POST", "/v1/devices", e.registration(user, pw, newIdentity(t), time.Now()), "")
		if res.code != 201 {
			t.Fatalf("register: %d %s", res.code, res.body)
		}
		var out struct{ Token, Library string }
		res.json(t, &out)
		return out.Token, out.Library
	}
	token, libStr := register()
	libID, err := docs.ParseDocumentID(libStr)
	if err != nil {
		t.Fatalf("library id %q: %v", libStr, err)
	}
	rp := r.Server().Docs()
	// relayLibrary reads the relay's copy: handle, owner, saved albums.
	relayLibrary := func() (*repo.Handle, model.UserID, []docs.Saved) {
		t.Helper()
		h, err := rp.Get(ctx, libID)
		if err != nil {
			t.Fatalf("relay repo: library %s: %v", libID, err)
		}
		var owner model.UserID
		var albums []docs.Saved
		if err := h.ReadLibrary(func(l *docs.Library) error {
			owner = l.Owner()
			albums, err = l.Albums()
			return err
		}); err != nil {
			t.Fatalf("relay repo: library %s: %v", libID, err)
		}
		return h, owner, albums
	}
	h, owner, _ := relayLibrary()
	if owner != user {
		t.Fatalf("relay's library owner %q, want %q", owner, user)
	}
	genesis := h.Heads()
	if len(genesis) != 1 {
		t.Fatalf("relay's library has heads %v, want one genesis change", genesis)
	}
	// The same bytes a device writes: docs.CreateLibrary on an empty doc.
	want := automerge.New()
	if _, err := docs.CreateLibrary(want, user, docs.DefaultOptions()); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(want.Heads(), genesis) {
		t.Fatalf("relay's genesis %v, CreateLibrary's %v", genesis, want.Heads())
	}

	// Idempotent: another registration and GET /v1/me change nothing.
	register()
	if res := e.do(t, "GET", "/v1/me", nil, token); res.code != 200 {
		t.Fatalf("GET /v1/me: %d %s", res.code, res.body)
	}
	if h, _, _ := relayLibrary(); !slices.Equal(h.Heads(), genesis) {
		t.Fatalf("library heads after registering again %v, want %v", h.Heads(), genesis)
	}
	// Lazy path: a library missing from the repo is created at GET /v1/me.
	if err := rp.Delete(ctx, libID); err != nil {
		t.Fatal(err)
	}
	if _, err := rp.Get(ctx, libID); err == nil {
		t.Fatal("library still in the relay's repo after Delete")
	}
	if res := e.do(t, "GET", "/v1/me", nil, token); res.code != 200 {
		t.Fatalf("GET /v1/me: %d %s", res.code, res.body)
	}
	if h, _, _ := relayLibrary(); !slices.Equal(h.Heads(), genesis) {
		t.Fatalf("library recreated at GET /v1/me with heads %v, want %v", h.Heads(), genesis)
	}

	// A native device registered afterwards: its own offline genesis is
	// the relay's, so syncing merges into one history.
	n := testbed.Engine(t, core.DefaultOptions().WithOrigins(r.URL))
	testbed.Register(t, n, user, "phone")
	d, err := n.OpenDocs(ctx, user)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.Library().Get(ctx); err != nil {
		t.Fatal(err)
	}
	nh, err := d.Repo().Get(ctx, libID)
	if err != nil {
		t.Fatalf("native device: library at the assigned id %s: %v", libID, err)
	}
	if !slices.Equal(nh.Heads(), genesis) {
		t.Fatalf("native device's own genesis %v, relay's %v", nh.Heads(), genesis)
	}
	const album = model.AlbumID("album-1")
	if err := d.Library().SaveAlbums(ctx, album); err != nil {
		t.Fatal(err)
	}
	if err := d.StartSync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.WaitInSync(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		h, _, albums := relayLibrary()
		if slices.Equal(h.Heads(), nh.Heads()) && len(albums) == 1 && albums[0].ID == string(album) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay library heads %v albums %v; native heads %v", h.Heads(), albums, nh.Heads())
		}
		time.Sleep(20 * time.Millisecond)
	}
	var changes int
	if err := nh.Read(func(doc *automerge.Doc) error {
		cs, err := doc.Changes()
		changes = len(cs)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if changes != 2 {
		t.Fatalf("native library has %d changes, want 2 (one shared genesis, one save)", changes)
	}
	v, err := d.Library().Get(ctx)
	if err != nil || len(v.Albums) != 1 {
		t.Fatalf("native library after sync: %+v (%v)", v, err)
	}
}

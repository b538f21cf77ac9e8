package relay_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/coder/websocket"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// rawSync is a hand-written automerge-repo client on a relay's sync
// WebSocket: one connection, a local automerge document per document id.
type rawSync struct {
	t    *testing.T
	conn *peer.WSConn
	name string
	docs map[docs.DocumentID]*automerge.Doc
	ss   map[docs.DocumentID]*automerge.SyncState
	in   chan *wire.Message // the relay's messages, closed when the connection ends
}

func dialRawSync(t *testing.T, url, token, name string) *rawSync {
	t.Helper()
	c, _, err := websocket.Dial(t.Context(), "ws"+strings.TrimPrefix(url, "http")+"/v1/sync", &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + token}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	conn := peer.NewWSConn(c, 0)
	if _, err := peer.ClientHandshake(t.Context(), conn, name, wire.PeerMetadata{StorageID: name}); err != nil {
		t.Fatal(err)
	}
	r := &rawSync{t: t, conn: conn, name: name, docs: map[docs.DocumentID]*automerge.Doc{}, ss: map[docs.DocumentID]*automerge.SyncState{}, in: make(chan *wire.Message, 64)}
	// Read in the background: a read whose context ends closes the
	// WebSocket.
	go func() {
		defer close(r.in)
		for {
			m, err := conn.Recv(context.Background())
			if err != nil {
				return
			}
			r.in <- m
		}
	}()
	return r
}

// doc returns the local copy of id (empty until synced).
func (r *rawSync) doc(id docs.DocumentID) *automerge.Doc {
	if d, ok := r.docs[id]; ok {
		return d
	}
	d := automerge.New()
	r.docs[id], r.ss[id] = d, automerge.NewSyncState(d)
	return d
}

// sync exchanges messages for id until the relay has nothing more to
// say (no message for quiet), or with wantErr until it sends an error
// for id (10 s at most), and returns the error message the relay sent
// for id, if any.
func (r *rawSync) sync(id docs.DocumentID, wantErr bool) *wire.Message {
	r.t.Helper()
	r.doc(id)
	ss := r.ss[id]
	const quiet = 500 * time.Millisecond
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m, ok := ss.GenerateMessage(); ok {
			if err := r.conn.Send(r.t.Context(), &wire.Message{Type: wire.TypeSync, SenderID: r.name, TargetID: "relay", DocumentID: id.String(), Data: m.Bytes()}); err != nil {
				r.t.Fatal(err)
			}
		}
		var m *wire.Message
		select {
		case m = <-r.in:
		case <-time.After(quiet):
			if !wantErr {
				return nil
			}
			continue
		}
		if m == nil {
			r.t.Fatal("the relay closed the connection")
		}
		if m.Type == wire.TypeError && m.DocumentID == id.String() {
			return m
		}
		if m.Type == wire.TypeSync && m.DocumentID == id.String() {
			if _, err := ss.ReceiveMessage(m.Data); err != nil {
				r.t.Fatal(err)
			}
		}
	}
	return nil
}

// TestSyncRefusesBadContent: a hand-written automerge-repo client, the
// playlist's owner, sends changes a Segue device never writes — a name
// too long or with a bidirectional override, a name that is a number,
// entries replaced by a string, an entry whose track id is a path, an
// entry id with a control character, objects nested 4 deep (in one
// change, and in a change on top of a synced map 3 deep). The relay
// stored them all and fanned them out to every collaborator. Each is now
// refused with an error message for that document naming the rule; the
// relay keeps the playlist as it was, and the same connection goes on
// syncing another document.
func TestSyncRefusesBadContent(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithRelayOptions(func(o relay.Options) relay.Options {
		return o.WithAdminToken(adminToken)
	}))
	ctx := t.Context()
	e, d, id := syncedPlaylist(t, r, "ada")
	other, err := d.Playlists().Create(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.WaitInSync(ctx); err != nil {
		t.Fatal(err)
	}
	entry := func(key, track string) func(*automerge.Doc) error {
		return func(doc *automerge.Doc) error {
			m := automerge.NewMap()
			if err := doc.Path("entries").Map().Set(key, m); err != nil {
				return err
			}
			for k, v := range map[string]any{"trackId": track, "pos": "a0", "addedBy": "ada", "addedAt": time.Now()} {
				if err := doc.Path("entries", key).Map().Set(k, v); err != nil {
					return err
				}
			}
			return nil
		}
	}
	rename := func(v any) func(*automerge.Doc) error {
		return func(doc *automerge.Doc) error { return doc.RootMap().Set("name", v) }
	}
	for i, tc := range []struct {
		name string
		edit func(*automerge.Doc) error
		want string
	}{
		{"name of 300 bytes", rename(strings.Repeat("n", 300)), "name of 300 bytes, at most 256"},
		{"name with a bidi override", rename("road\u202etrip"), "U+202E"},
		{"name as a number", rename(int64(42)), "name is not a string"},
		{"entries as a string", func(doc *automerge.Doc) error { return doc.RootMap().Set("entries", "gone") }, "entries is not a map"},
		{"track id as a path", entry("e1", "../../etc/passwd"), "is no id"},
		{"entry id with a control character", entry("e\x1b[2J", "t1"), "control"},
		{"objects nested 4 deep", func(doc *automerge.Doc) error {
			if err := entry("e2", "t1")(doc); err != nil {
				return err
			}
			if err := doc.Path("entries", "e2").Map().Set("x", automerge.NewMap()); err != nil {
				return err
			}
			return doc.Path("entries", "e2", "x").Map().Set("y", automerge.NewMap())
		}, "nested deeper than 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRawSync(t, r.URL, e.Token(), "raw"+string(rune('a'+i)))
			if m := c.sync(id, false); m != nil {
				t.Fatalf("fetching the playlist: %s", m.Message)
			}
			if err := tc.edit(c.doc(id)); err != nil {
				t.Fatal(err)
			}
			if _, err := c.doc(id).Commit("raw"); err != nil {
				t.Fatal(err)
			}
			m := c.sync(id, true)
			if m == nil || m.DocumentID != id.String() || !strings.Contains(m.Message, "bad content") || !strings.Contains(m.Message, tc.want) {
				t.Fatalf("answer %+v, want an error for %s saying %q", m, id, tc.want)
			}
			// The same connection syncs another document.
			if m := c.sync(other, false); m != nil {
				t.Fatalf("the other playlist: %s", m.Message)
			}
			if name, err := c.doc(other).Path("name").Get(); err != nil || name.Str() != "other" {
				t.Fatalf("the other playlist's name %v, %v", name, err)
			}
		})
	}
	// A map 3 deep is taken; one more level inside it, made by a later
	// change, is refused (the depth of the object it is made in comes
	// from the relay's history).
	deep := dialRawSync(t, r.URL, e.Token(), "deep")
	if m := deep.sync(other, false); m != nil {
		t.Fatalf("fetching the other playlist: %s", m.Message)
	}
	steps := []func(*automerge.Doc) error{
		func(doc *automerge.Doc) error {
			if err := entry("e3", "t1")(doc); err != nil {
				return err
			}
			return doc.Path("entries", "e3").Map().Set("x", automerge.NewMap())
		},
		func(doc *automerge.Doc) error {
			return doc.Path("entries", "e3", "x").Map().Set("y", automerge.NewMap())
		},
	}
	for i, step := range steps {
		if err := step(deep.doc(other)); err != nil {
			t.Fatal(err)
		}
		if _, err := deep.doc(other).Commit("deep"); err != nil {
			t.Fatal(err)
		}
		m := deep.sync(other, i == 1)
		if i == 0 && m != nil {
			t.Fatalf("a map 3 deep: %s", m.Message)
		}
		if i == 1 && (m == nil || !strings.Contains(m.Message, "nested deeper than 3")) {
			t.Fatalf("a map 4 deep: answer %+v, want an error saying it nests too deep", m)
		}
	}
	// What the relay holds is the playlist as the device made it.
	fresh := dialRawSync(t, r.URL, e.Token(), "fresh")
	if m := fresh.sync(id, false); m != nil {
		t.Fatalf("fetching the playlist: %s", m.Message)
	}
	p, err := docs.OpenPlaylist(fresh.doc(id), docs.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	info, err := p.Info()
	if err != nil {
		t.Fatal(err)
	}
	es, err := p.Entries()
	if err != nil || info.Name != "road trip" || len(es) != 0 {
		t.Fatalf("relay holds %q with %d entries (%v), want the device's empty road trip", info.Name, len(es), err)
	}
}

// TestSyncRefusesEntriesPastLimit: a hand-written client, the playlist's
// owner, fills a playlist to docs.MaxEntries through a real relay, then
// writes one entry more directly (past Playlist.Add, which refuses it):
// the relay refuses that change with an error naming the limit, as a
// change against a content rule; before, it stored it (only the 64 MiB
// document cap bounded a playlist). Removing an entry makes room again.
func TestSyncRefusesEntriesPastLimit(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithRelayOptions(func(o relay.Options) relay.Options {
		return o.WithAdminToken(adminToken)
	}))
	e, _, id := syncedPlaylist(t, r, "ada")
	c := dialRawSync(t, r.URL, e.Token(), "raw")
	if m := c.sync(id, false); m != nil {
		t.Fatalf("fetching the playlist: %s", m.Message)
	}
	p, err := docs.OpenPlaylist(c.doc(id), docs.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	var ids []docs.EntryID
	for n := 0; n < docs.MaxEntries; n += docs.MaxEntriesPerChange {
		ts := make([]model.TrackID, docs.MaxEntriesPerChange)
		for i := range ts {
			ts[i] = model.TrackID(fmt.Sprintf("t%07d", n+i))
		}
		added, err := p.Add(docs.AtEnd(), "ada", ts...)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, added...)
		if m := c.sync(id, false); m != nil {
			t.Fatalf("adding entries %d…: %s", n, m.Message)
		}
	}
	over := func(key string) {
		t.Helper()
		doc := c.doc(id)
		if err := doc.Path("entries", key).Set(automerge.NewMap()); err != nil {
			t.Fatal(err)
		}
		for k, v := range map[string]any{"trackId": "t-over", "pos": "zz", "addedBy": "ada", "addedAt": time.Now()} {
			if err := doc.Path("entries", key, k).Set(v); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := doc.Commit("over"); err != nil {
			t.Fatal(err)
		}
	}
	over("ffffffffffffff01")
	m := c.sync(id, true)
	if m == nil || !strings.Contains(m.Message, "bad content") || !strings.Contains(m.Message, fmt.Sprintf("at most %d", docs.MaxEntries)) {
		t.Fatalf("answer %+v, want an error naming the entry limit", m)
	}
	count := func() int {
		t.Helper()
		fresh := dialRawSync(t, r.URL, e.Token(), fmt.Sprint("fresh", time.Now().UnixNano()))
		if m := fresh.sync(id, false); m != nil {
			t.Fatalf("fetching the playlist: %s", m.Message)
		}
		return fresh.doc(id).Path("entries").Map().Len()
	}
	if n := count(); n != docs.MaxEntries {
		t.Fatalf("the relay holds %d entries, want %d", n, docs.MaxEntries)
	}
	// A new connection whose first change removes an entry and adds
	// one: taken.
	c2 := dialRawSync(t, r.URL, e.Token(), "raw2")
	if m := c2.sync(id, false); m != nil {
		t.Fatalf("fetching the playlist: %s", m.Message)
	}
	c = c2
	if err := c.doc(id).Path("entries").Map().Delete(string(ids[0])); err != nil {
		t.Fatal(err)
	}
	over("ffffffffffffff02")
	if m := c.sync(id, false); m != nil {
		t.Fatalf("remove one, add one: %s", m.Message)
	}
	if n := count(); n != docs.MaxEntries {
		t.Fatalf("the relay holds %d entries, want %d", n, docs.MaxEntries)
	}
}

// TestFullPlaylistConcurrentAdds: two devices of one user fill a
// playlist to docs.MaxEntries concurrently: the first adds the last five
// entries while the second is offline, then the second adds five of its
// own (its view leaves room) and reconnects. The relay refuses the
// second's add as past the limit ("full") and the device sets it aside
// (the user is told), so it converges on the relay's playlist and its
// later edits sync; before, the refused add was kept and every later
// change of the playlist, which depends on it, was refused too.
func TestFullPlaylistConcurrentAdds(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions())
	ctx := t.Context()
	_, d1, id := syncedPlaylist(t, r, "ada")
	tracks := func(prefix string, n int) []model.TrackID {
		ts := make([]model.TrackID, n)
		for i := range ts {
			ts[i] = model.TrackID(fmt.Sprintf("%s%07d", prefix, i))
		}
		return ts
	}
	if _, err := d1.Playlists().Add(ctx, id, docs.AtEnd(), tracks("t", docs.MaxEntries-5)...); err != nil {
		t.Fatal(err)
	}
	if err := d1.WaitInSync(ctx); err != nil {
		t.Fatal(err)
	}
	e2 := testbed.Device(t, r, "ada")
	d2, err := e2.OpenDocs(ctx, "ada")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d2.Close() })
	if err := d2.StartSync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d2.WaitInSync(ctx); err != nil {
		t.Fatal(err)
	}
	d2.StopSync()
	if _, err := d1.Playlists().Add(ctx, id, docs.AtEnd(), tracks("a", 5)...); err != nil {
		t.Fatal(err)
	}
	if err := d1.WaitInSync(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := d2.Playlists().Add(ctx, id, docs.AtStart(), tracks("b", 5)...); err != nil {
		t.Fatal(err)
	}
	if err := d2.StartSync(ctx); err != nil {
		t.Fatal(err)
	}
	// d2's add is set aside (its sync status says so); its rename,
	// made after, reaches d1.
	setAside := func() bool {
		st, err := d2.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range st.Relay.Refused {
			if r.Doc == id && r.SetAside > 0 && strings.Contains(r.Reason, "entry limit") {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(60 * time.Second)
	renamed := false
	for time.Now().Before(deadline) {
		if !renamed && setAside() {
			if err := d2.Playlists().Rename(ctx, id, "after"); err != nil {
				t.Fatal(err)
			}
			renamed = true
		}
		if renamed {
			if v, err := d1.Playlists().Get(ctx, id); err == nil && v.Info.Name == "after" {
				break
			}
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if !renamed {
		t.Fatal("the device set nothing aside")
	}
	for _, d := range []*core.Docs{d1, d2} {
		v, err := d.Playlists().Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if v.Info.Name != "after" || len(v.Entries) != docs.MaxEntries {
			t.Fatalf("playlist %q with %d entries, want \"after\" with %d", v.Info.Name, len(v.Entries), docs.MaxEntries)
		}
	}
}

package social_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/fxamacker/cbor/v2"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/cborx"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/server/social"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// syncConn is a raw device connection to the relay's sync WebSocket. A
// goroutine reads it and hands each message over unbuffered, so while
// the test takes nothing the socket is not read (a slow consumer), and
// a wait for a message never cancels a read (which would close the
// connection).
type syncConn struct {
	t    *testing.T
	conn *peer.WSConn
	msgs chan *wire.Message
	errc chan error
}

// dialSync opens the relay's sync WebSocket with token and runs the
// automerge-repo handshake.
func dialSync(t *testing.T, r *testbed.Relay, token string) *syncConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	u, err := core.SyncURL(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := websocket.Dial(ctx, u+"?token="+token, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn := peer.NewWSConn(c, 0)
	if _, err := peer.ClientHandshake(ctx, conn, "test-"+token[:6], wire.PeerMetadata{IsEphemeral: true}); err != nil {
		t.Fatal(err)
	}
	s := &syncConn{t: t, conn: conn, msgs: make(chan *wire.Message), errc: make(chan error, 1)}
	rctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := conn.Recv(rctx)
			if err != nil {
				s.errc <- err
				return
			}
			select {
			case s.msgs <- m:
			case <-rctx.Done():
				return
			}
		}
	}()
	t.Cleanup(func() { stop(); c.CloseNow(); <-done })
	return s
}

func (s *syncConn) send(typ string) {
	s.t.Helper()
	if err := s.conn.Send(s.t.Context(), &wire.Message{Type: typ, SenderID: "device"}); err != nil {
		s.t.Fatal(err)
	}
}

// next returns the next message within d; nil, nil when none came.
func (s *syncConn) next(d time.Duration) (*wire.Message, error) {
	select {
	case m := <-s.msgs:
		return m, nil
	case err := <-s.errc:
		s.errc <- err // every later call sees it too
		return nil, err
	case <-time.After(d):
		return nil, nil
	}
}

// batch reads the next activity batch within d (nil when none came).
func (s *syncConn) batch(d time.Duration) (*wire.ActivityBatch, []api.Activity) {
	s.t.Helper()
	m, err := s.next(d)
	if err != nil {
		s.t.Fatalf("read: %v", err)
	}
	if m == nil {
		return nil, nil
	}
	if m.Type != wire.TypeActivity {
		s.t.Fatalf("got %s %q, want %s", m.Type, m.Message, wire.TypeActivity)
	}
	b, err := wire.DecodeActivityBatch(m.Data)
	if err != nil {
		s.t.Fatal(err)
	}
	var out []api.Activity
	for _, raw := range b.Items {
		var it api.ActivityItem
		if err := itemDec.Unmarshal(raw, &it); err != nil {
			s.t.Fatal(err)
		}
		out = append(out, it.Activity())
	}
	return &b, out
}

// itemDec decodes activity items.
var itemDec = cborx.Limits{}.StrictDecMode()

// quiet fails when any activity arrives within d.
func (s *syncConn) quiet(d time.Duration, what string) {
	s.t.Helper()
	if b, got := s.batch(d); b != nil {
		s.t.Fatalf("%s: received %+v", what, got)
	}
}

// socialRelayWithService is socialRelay returning the mounted service.
func socialRelayWithService(t *testing.T, opts social.Options) (*testbed.Relay, **social.Service) {
	t.Helper()
	svc := new(*social.Service)
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
		*svc = social.NewForRelay(dd, srv, opts.WithLogger(slog.New(slog.DiscardHandler)))
		(*svc).Mount(srv)
	}))
	return r, svc
}

// TestSyncActivity: friend activity over the sync WebSocket of a real
// relay. bob (ada's friend) gets the snapshot and then ada's track
// within 2 s; carol (a follower, not a friend) gets nothing; a private
// session, hidden activity and a block publish nothing to bob.
func TestSyncActivity(t *testing.T) {
	ctx := t.Context()
	r, svc := socialRelayWithService(t, social.DefaultOptions())
	ada, bob, carol := testbed.Device(t, r, "ada"), testbed.Device(t, r, "bob"), testbed.Device(t, r, "carol")
	friends(t, ada, bob, "ada", "bob")
	if err := carol.Follow(ctx, "ada"); err != nil {
		t.Fatal(err)
	}
	if err := ada.PublishActivity(ctx, api.ActivityPost{Track: r.Tracks[3], Playing: false}); err != nil {
		t.Fatal(err)
	}
	sb, sc := dialSync(t, r, bob.Token()), dialSync(t, r, carol.Token())
	sb.send(wire.TypeActivitySubscribe)
	sb.send(wire.TypeActivitySubscribe) // repeated: no second snapshot
	sc.send(wire.TypeActivitySubscribe)
	b, snap := sb.batch(5 * time.Second)
	if b == nil || !b.Snapshot || len(snap) != 1 || snap[0].User != "ada" || snap[0].Track != r.Tracks[3] || snap[0].Playing {
		t.Fatalf("bob's snapshot = %+v %+v", b, snap)
	}
	if b, got := sc.batch(5 * time.Second); b == nil || !b.Snapshot || len(got) != 0 {
		t.Fatalf("carol's snapshot = %+v %+v", b, got)
	}
	if n := (*svc).SyncSubscriptions(); n != 2 {
		t.Fatalf("%d sync subscriptions, want 2", n)
	}

	t0 := time.Now()
	post := api.ActivityPost{Track: r.Tracks[0], Context: model.PlayContext{Kind: "album", ID: string(r.Album)}, Playing: true}
	if err := ada.PublishActivity(ctx, post); err != nil {
		t.Fatal(err)
	}
	b, got := sb.batch(2 * time.Second)
	if b == nil {
		t.Fatal("bob did not get ada's track within 2 s")
	}
	t.Logf("delivered in %v", time.Since(t0))
	if b.Snapshot || len(got) != 1 || got[0].User != "ada" || got[0].Track != r.Tracks[0] || got[0].Title == "" ||
		len(got[0].Artists) == 0 || got[0].Context != post.Context || !got[0].Playing || time.Since(got[0].At) > 5*time.Second {
		t.Fatalf("bob got %+v %+v", b, got)
	}

	// Private session: the device publishes nothing.
	if err := ada.SetPrivateSession(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := ada.PublishActivity(ctx, api.ActivityPost{Track: r.Tracks[1], Playing: true}); err != nil {
		t.Fatal(err)
	}
	sb.quiet(time.Second, "private session")
	if err := ada.SetPrivateSession(ctx, false); err != nil {
		t.Fatal(err)
	}
	// Hidden activity: the relay drops every post.
	hide, show := true, false
	if err := ada.SetProfile(ctx, api.ProfileSettings{HideActivity: &hide}); err != nil {
		t.Fatal(err)
	}
	if err := ada.PublishActivity(ctx, api.ActivityPost{Track: r.Tracks[2], Playing: true}); err != nil {
		t.Fatal(err)
	}
	sb.quiet(time.Second, "hidden activity")
	if err := ada.SetProfile(ctx, api.ProfileSettings{HideActivity: &show}); err != nil {
		t.Fatal(err)
	}
	// Blocked: never again, on this connection or a new one.
	if err := ada.Block(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := ada.PublishActivity(ctx, api.ActivityPost{Track: r.Tracks[3], Playing: true}); err != nil {
		t.Fatal(err)
	}
	sb.quiet(time.Second, "blocked")
	sb2 := dialSync(t, r, bob.Token())
	sb2.send(wire.TypeActivitySubscribe)
	if b, got := sb2.batch(5 * time.Second); b == nil || len(got) != 0 {
		t.Fatalf("blocked bob's new snapshot = %+v %+v", b, got)
	}
	sc.quiet(100*time.Millisecond, "carol, a follower but not a friend")

	// Unsubscribed: nothing more, the subscription is gone.
	if err := ada.Unblock(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	friends(t, ada, bob, "ada", "bob")
	sb2.send(wire.TypeActivityUnsubscribe)
	deadline := time.Now().Add(5 * time.Second)
	for (*svc).SyncSubscriptions() != 2 && time.Now().Before(deadline) { // sb and sc
		time.Sleep(10 * time.Millisecond)
	}
	if err := ada.PublishActivity(ctx, api.ActivityPost{Track: r.Tracks[1], Playing: true}); err != nil {
		t.Fatal(err)
	}
	if b, got := sb.batch(2 * time.Second); b == nil || len(got) != 1 || got[0].Track != r.Tracks[1] {
		t.Fatalf("bob, friends again: %+v %+v", b, got)
	}
	sb2.quiet(500*time.Millisecond, "unsubscribed")
}

// TestSyncActivityEngine: Engine.WatchFriends on a device whose documents
// sync uses that WebSocket (no SSE stream), and sees ada's track within
// 2 s.
func TestSyncActivityEngine(t *testing.T) {
	ctx := t.Context()
	r, svc := socialRelayWithService(t, social.DefaultOptions())
	ada, bob := testbed.Device(t, r, "ada"), testbed.Device(t, r, "bob")
	friends(t, ada, bob, "ada", "bob")
	d, err := bob.OpenDocs(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.StartSync(ctx); err != nil {
		t.Fatal(err)
	}
	wb := watch(t, bob)
	deadline := time.Now().Add(10 * time.Second)
	for (*svc).SyncSubscriptions() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n, all := (*svc).SyncSubscriptions(), (*svc).Streams(); n != 1 || all != 1 {
		t.Fatalf("%d sync subscriptions, %d streams; want 1 and 1 (no SSE stream)", n, all)
	}
	t0 := time.Now()
	if err := ada.PublishActivity(ctx, api.ActivityPost{Track: r.Tracks[0], Playing: true}); err != nil {
		t.Fatal(err)
	}
	at, ok := wb.waitFor(r.Tracks[0], 2*time.Second)
	if !ok {
		t.Fatal("bob did not see ada's track within 2 s")
	}
	t.Logf("delivered in %v", at.Sub(t0))
}

// TestSyncActivityRejects: what only the relay sends, and malformed
// activity messages, end the device's session with an error message; a
// subscription over the per-user stream limit is refused with a reason.
func TestSyncActivityRejects(t *testing.T) {
	r, svc := socialRelayWithService(t, social.DefaultOptions().WithStreams(100, 1))
	ada := testbed.Device(t, r, "ada")
	raw := func(v map[string]any) []byte {
		b, err := cbor.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	batch, err := wire.EncodeActivityBatch(wire.ActivityBatch{Items: []cbor.RawMessage{raw(map[string]any{"1": "mallory"})}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		frame []byte
		want  string
	}{
		{"activity from a device", raw(map[string]any{"type": wire.TypeActivity, "senderId": "d", "data": batch}), "sent by the relay only"},
		{"refusal from a device", raw(map[string]any{"type": wire.TypeActivityRefused, "senderId": "d", "message": "x"}), "sent by the relay only"},
		{"subscribe with data", raw(map[string]any{"type": wire.TypeActivitySubscribe, "senderId": "d", "data": []byte{1}}), "malformed"},
		{"subscribe naming a document", raw(map[string]any{"type": wire.TypeActivitySubscribe, "senderId": "d", "documentId": "x"}), "malformed"},
		{"activity without data", raw(map[string]any{"type": wire.TypeActivity, "senderId": "d"}), "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := dialSync(t, r, ada.Token())
			if err := s.conn.C.Write(t.Context(), websocket.MessageBinary, tc.frame); err != nil {
				t.Fatal(err)
			}
			m, err := s.next(5 * time.Second)
			if err != nil || m == nil || m.Type != wire.TypeError || !strings.Contains(m.Message, tc.want) {
				t.Fatalf("answer %+v, %v; want an error message containing %q", m, err, tc.want)
			}
			if m, err := s.next(5 * time.Second); err == nil {
				t.Fatalf("connection still open after the error: read %+v", m)
			}
		})
	}

	// Limit: one stream per user. An SSE stream holds it, so the sync
	// subscription is refused, and the session goes on.
	watch(t, ada)
	deadline := time.Now().Add(10 * time.Second)
	for (*svc).Streams() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	s := dialSync(t, r, ada.Token())
	s.send(wire.TypeActivitySubscribe)
	m, err := s.next(5 * time.Second)
	if err != nil || m == nil || m.Type != wire.TypeActivityRefused || !strings.Contains(m.Message, "too many activity streams") {
		t.Fatalf("subscription over the limit: %+v, %v", m, err)
	}
}

// TestSyncActivitySlowConsumer: a device that subscribes and stops
// reading. When activity comes faster than its connection takes it (a
// burst of publications; later, its socket buffers full) its queue (4
// activities here) drops the oldest; when it reads again within the
// write limit (2 s here) the batches say how many were dropped, so every
// publication is either delivered or counted. When it reads nothing for
// longer than the limit, the relay closes the connection.
func TestSyncActivitySlowConsumer(t *testing.T) {
	ctx := t.Context()
	r, svc := socialRelayWithService(t, social.DefaultOptions().WithStreamQueue(4, 2*time.Second))
	ada, bob := testbed.Device(t, r, "ada"), testbed.Device(t, r, "bob")
	friends(t, ada, bob, "ada", "bob")
	s := dialSync(t, r, bob.Token())
	s.send(wire.TypeActivitySubscribe)
	if b, _ := s.batch(5 * time.Second); b == nil || !b.Snapshot {
		t.Fatal("no snapshot")
	}
	post := api.ActivityPost{Track: r.Tracks[0], Context: model.PlayContext{Kind: "album", ID: string(r.Album)}, Playing: true}
	published := 0
	// publishUntil publishes (through the service: the HTTP route's rate
	// limit would take hours) until done or 60 s.
	publishUntil := func(done func() bool) {
		t.Helper()
		start := time.Now()
		for !done() {
			if time.Since(start) > 60*time.Second {
				t.Fatalf("condition not reached after %d publications", published)
			}
			for range 100 {
				if _, err := (*svc).Publish(ctx, "ada", post); err != nil {
					t.Fatal(err)
				}
				published++
			}
		}
	}
	publishUntil(func() bool { _, dropped := (*svc).Delivered(); return dropped > 0 })
	t.Logf("first drop after %d publications", published)
	var items, reported uint64
	for {
		b, _ := s.batch(time.Second)
		if b == nil {
			break
		}
		items += uint64(len(b.Items))
		reported += b.Dropped
	}
	if _, dropped := (*svc).Delivered(); reported == 0 || reported != dropped || items+reported != uint64(published) {
		t.Fatalf("read %d activities and %d reported dropped (relay: %d dropped) of %d published", items, reported, dropped, published)
	}
	t.Logf("read %d activities, %d reported dropped, of %d", items, reported, published)
	if n := r.Server().SyncEndpoint().SlowConsumers(); n != 0 {
		t.Fatalf("%d slow consumers closed while the device read", n)
	}

	// It stops reading for good: the blocked write times out and the
	// relay closes the connection and ends the subscription.
	publishUntil(func() bool { return r.Server().SyncEndpoint().SlowConsumers() == 1 })
	deadline := time.Now().Add(5 * time.Second)
	for (*svc).SyncSubscriptions() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := (*svc).SyncSubscriptions(); n != 0 {
		t.Fatalf("%d subscriptions after the slow consumer was closed", n)
	}
	for {
		m, err := s.next(10 * time.Second)
		if err != nil {
			break
		}
		if m == nil {
			t.Fatal("the slow consumer's connection is still open")
		}
	}
}

// publishRaw sends a segue-activity-publish message on s.
func (s *syncConn) publishRaw(p wire.ActivityPublish) {
	s.t.Helper()
	data, err := wire.EncodeActivityPublish(p)
	if err != nil {
		s.t.Fatal(err)
	}
	if err := s.conn.Send(s.t.Context(), &wire.Message{Type: wire.TypeActivityPublish, SenderID: "device", Data: data}); err != nil {
		s.t.Fatal(err)
	}
}

// waitPublications waits up to 10 s for the relay's sync endpoint to
// have counted accepted and refused publications.
func waitPublications(t *testing.T, r *testbed.Relay, accepted, refused uint64) {
	t.Helper()
	ep := r.Server().SyncEndpoint()
	deadline := time.Now().Add(10 * time.Second)
	for {
		a, f := ep.ActivityPublications()
		if a == accepted && f == refused {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("publications accepted %d, refused %d; want %d and %d", a, f, accepted, refused)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSyncActivityPublish: a device publishes on its sync connection.
// Its friend gets the activity under the publisher's login (the message
// names no user); an unknown track, a hidden activity and a publication
// over the rate limit are dropped and the connection goes on; a
// malformed one ends it.
func TestSyncActivityPublish(t *testing.T) {
	ctx := t.Context()
	r, _ := socialRelayWithService(t, social.DefaultOptions().WithActivityRate(time.Hour, 3))
	ada, bob := testbed.Device(t, r, "ada"), testbed.Device(t, r, "bob")
	friends(t, ada, bob, "ada", "bob")
	sb := dialSync(t, r, bob.Token())
	sb.send(wire.TypeActivitySubscribe)
	if b, _ := sb.batch(5 * time.Second); b == nil || !b.Snapshot {
		t.Fatal("no snapshot")
	}
	sa := dialSync(t, r, ada.Token())
	t0 := time.Now()
	sa.publishRaw(wire.ActivityPublish{Track: string(r.Tracks[0]), ContextKind: "album", ContextID: string(r.Album), Playing: true})
	b, got := sb.batch(10 * time.Second)
	if b == nil {
		t.Fatal("bob did not get ada's track within 10 s")
	}
	t.Logf("delivered in %v", time.Since(t0))
	if len(got) != 1 || got[0].User != "ada" || got[0].Track != r.Tracks[0] || got[0].Title == "" ||
		got[0].Context != (model.PlayContext{Kind: "album", ID: string(r.Album)}) || !got[0].Playing {
		t.Fatalf("bob got %+v", got)
	}
	waitPublications(t, r, 1, 0)

	sa.publishRaw(wire.ActivityPublish{Track: "no-such-track"})
	waitPublications(t, r, 1, 1)
	sa.publishRaw(wire.ActivityPublish{Track: string(r.Tracks[1])}) // the burst's last token
	if b, got := sb.batch(10 * time.Second); b == nil || len(got) != 1 || got[0].Track != r.Tracks[1] {
		t.Fatalf("bob got %+v %+v, want track 1", b, got)
	}
	sa.publishRaw(wire.ActivityPublish{Track: string(r.Tracks[2])}) // over the limit
	waitPublications(t, r, 2, 2)
	sb.quiet(500*time.Millisecond, "publication over the rate limit")

	// Hidden activity (ada has no token left: another pair).
	carol, dan := testbed.Device(t, r, "carol"), testbed.Device(t, r, "dan")
	friends(t, carol, dan, "carol", "dan")
	hide := true
	if err := carol.SetProfile(ctx, api.ProfileSettings{HideActivity: &hide}); err != nil {
		t.Fatal(err)
	}
	sd := dialSync(t, r, dan.Token())
	sd.send(wire.TypeActivitySubscribe)
	if b, _ := sd.batch(5 * time.Second); b == nil || !b.Snapshot {
		t.Fatal("no snapshot for dan")
	}
	sc := dialSync(t, r, carol.Token())
	sc.publishRaw(wire.ActivityPublish{Track: string(r.Tracks[0]), Playing: true})
	waitPublications(t, r, 3, 2)
	sd.quiet(500*time.Millisecond, "hidden activity")

	// ada's connection still works after the refusals; a malformed
	// publication ends it.
	if err := sa.conn.Send(ctx, &wire.Message{Type: wire.TypeActivityPublish, SenderID: "device", Data: []byte{0xa1, 0x05, 0x01}}); err != nil {
		t.Fatal(err)
	}
	m, err := sa.next(5 * time.Second)
	if err != nil || m == nil || m.Type != wire.TypeError || !strings.Contains(m.Message, "malformed") {
		t.Fatalf("answer to a malformed publication %+v, %v", m, err)
	}
	if m, err := sa.next(5 * time.Second); err == nil {
		t.Fatalf("connection still open after the error: read %+v", m)
	}
}

// TestEnginePublishesOnSync: an engine whose documents sync publishes on
// that WebSocket (the relay's sync endpoint counts it; no POST), and
// over HTTP once sync stops.
func TestEnginePublishesOnSync(t *testing.T) {
	ctx := t.Context()
	r, _ := socialRelayWithService(t, social.DefaultOptions())
	ada, bob := testbed.Device(t, r, "ada"), testbed.Device(t, r, "bob")
	friends(t, ada, bob, "ada", "bob")
	wb := watch(t, bob)
	d, err := ada.OpenDocs(ctx, "ada")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.StartSync(ctx); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for r.Server().SyncEndpoint().Peers() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := ada.PublishActivity(ctx, api.ActivityPost{Track: r.Tracks[0], Playing: true}); err != nil {
		t.Fatal(err)
	}
	if _, ok := wb.waitFor(r.Tracks[0], 10*time.Second); !ok {
		t.Fatal("bob did not see ada's track within 10 s")
	}
	waitPublications(t, r, 1, 0)
	d.StopSync()
	if err := ada.PublishActivity(ctx, api.ActivityPost{Track: r.Tracks[1], Playing: true}); err != nil {
		t.Fatal(err)
	}
	if _, ok := wb.waitFor(r.Tracks[1], 10*time.Second); !ok {
		t.Fatal("bob did not see ada's track (over HTTP) within 10 s")
	}
	waitPublications(t, r, 1, 0)
}

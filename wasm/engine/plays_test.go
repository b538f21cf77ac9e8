package engine_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/core/playlog"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/jsfetch"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/wasm/engine"
)

// netMode is what the test network does with an upload.
type netMode int

const (
	netUp       netMode = iota
	netDown             // the request never reaches the relay
	netLoseSent         // the relay gets it, its answer is lost
	netHang             // no answer comes until the request's context ends
)

// testNet is an HTTP client whose uploads (POST /v1/plays) can be cut
// before or after the relay; it counts the uploads that reached it.
type testNet struct {
	mu    sync.Mutex
	mode  netMode
	posts int
	// uploads are the uploads that reached the relay.
	uploads []sentUpload
	// onPost, when not nil, is called for each upload before it is sent.
	onPost func()
	// busy are the next uploads' answers from a busy relay, in order:
	// each is refused with its status and Retry-After.
	busy []busyAnswer
}

// busyAnswer is a busy relay's refusal of an upload.
type busyAnswer struct {
	code       int
	retryAfter string
}

// sentUpload is what the test network saw of an upload.
type sentUpload struct {
	keepalive bool // its context asked for fetch's keepalive
	size      int64
}

func (n *testNet) set(m netMode) { n.mu.Lock(); n.mode = m; n.mu.Unlock() }

func (n *testNet) sent() int { n.mu.Lock(); defer n.mu.Unlock(); return n.posts }

func (n *testNet) Do(req *http.Request) (*http.Response, error) {
	if req.URL.Path != "/v1/plays" {
		return http.DefaultClient.Do(req)
	}
	n.mu.Lock()
	if n.onPost != nil {
		n.onPost()
	}
	if len(n.busy) > 0 {
		b := n.busy[0]
		n.busy = n.busy[1:]
		n.mu.Unlock()
		rec := httptest.NewRecorder()
		rec.Header().Set("Retry-After", b.retryAfter)
		http.Error(rec, `{"error":"busy"}`, b.code)
		return rec.Result(), nil
	}
	m := n.mode
	if m != netDown {
		n.posts++
		n.uploads = append(n.uploads, sentUpload{jsfetch.Keepalive(req.Context()), req.ContentLength})
	}
	n.mu.Unlock()
	switch m {
	case netDown:
		return nil, errors.New("test network: offline")
	case netHang:
		<-req.Context().Done()
		return nil, req.Context().Err()
	}
	res, err := http.DefaultClient.Do(req)
	if err == nil && m == netLoseSent {
		res.Body.Close()
		return nil, errors.New("test network: answer lost")
	}
	return res, err
}

// countingRelay is a relay that counts plays (server/counting).
func countingRelay(t *testing.T) *testbed.Relay {
	return testbed.NewRelay(t, testbed.DefaultOptions().WithCounting(true))
}

// webDevice opens a web engine over the test network, signed up and
// logged in as user, and returns it with the outcomes of its background
// uploads, after the one Login started.
func webDevice(t *testing.T, r *testbed.Relay, st store.Store, n *testNet, user string, opts engine.Options) (*engine.Engine, chan upload) {
	t.Helper()
	ctx := t.Context()
	e, err := engine.Open(ctx, r.URL, st, &crypto.MemoryKeyStore{}, opts.WithHTTPClient(n).WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	ups := make(chan upload, 16)
	e.OnPlaysUploaded(func(s playlog.Summary, err error) {
		select {
		case ups <- upload{s, err}:
		default:
		}
	})
	if err := e.SignUp(ctx, user, testbed.Password); err != nil {
		t.Fatal(err)
	}
	if err := e.Login(ctx, user, testbed.Password); err != nil {
		t.Fatal(err)
	}
	next(t, ups)
	return e, ups
}

// upload is the outcome of a background upload.
type upload struct {
	sum playlog.Summary
	err error
}

// next returns the next background upload's outcome.
func next(t *testing.T, ups chan upload) upload {
	t.Helper()
	select {
	case u := <-ups:
		return u
	case <-time.After(30 * time.Second):
		t.Fatal("no background upload")
		return upload{}
	}
}

// plays returns n play events of the demo album's tracks, a second each,
// starting a minute ago a millisecond apart (within the relay's clock
// skew of the account's creation).
func plays(r *testbed.Relay, dev model.DeviceID, n int) []model.PlayEvent {
	evs := make([]model.PlayEvent, n)
	start := time.Now().Add(-time.Minute)
	for i := range evs {
		evs[i] = model.PlayEvent{EventID: fmt.Sprintf("ev%016d", i), Device: dev,
			TrackID: r.Tracks[i%len(r.Tracks)], Tier: model.TierLow, Context: model.PlayContext{Kind: "album", ID: string(r.Album)},
			Started: start.Add(time.Duration(i) * time.Millisecond), Played: time.Second, End: model.EndSkipped, Source: model.SourceStream}
	}
	return evs
}

func appendAll(t *testing.T, e *engine.Engine, evs []model.PlayEvent) {
	t.Helper()
	for _, ev := range evs {
		if err := e.History().Append(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
	}
}

func pending(t *testing.T, e *engine.Engine) int {
	t.Helper()
	n, err := e.PendingPlays(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestUploadPlays: the web engine uploads its plays to a counting relay,
// signed by its device, in batches of playlog.MaxBatch; a play stays
// queued before login, while offline, and when the relay's answer is
// lost, and sending it again after a lost answer is a duplicate, not a
// second count; the relay's log holds each play once. Before, the web
// engine never uploaded its plays (no UploadPlays: this test is new).
func TestUploadPlays(t *testing.T) {
	ctx := t.Context()
	r := countingRelay(t)
	n := &testNet{}

	out, err := engine.Open(ctx, r.URL, store.NewMemory(), &crypto.MemoryKeyStore{}, engine.DefaultOptions().WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	appendAll(t, out, plays(r, out.DeviceID(), 1))
	if _, err := out.UploadPlays(ctx); !errors.Is(err, engine.ErrNotLoggedIn) || pending(t, out) != 1 {
		t.Fatalf("UploadPlays before login = %v, %d queued; want ErrNotLoggedIn, the play kept", err, pending(t, out))
	}

	// Offline when the plays are stored: the background upload fails and
	// waits an hour; the steps below are the test's own calls.
	e, ups := webDevice(t, r, store.NewMemory(), n, "plays", engine.DefaultOptions().WithUploadRetry(time.Hour, time.Hour))
	n.set(netDown)
	total := 2*playlog.MaxBatch + 3
	appendAll(t, e, plays(r, e.DeviceID(), total))
	if u := next(t, ups); u.err == nil {
		t.Fatal("background upload while offline succeeded")
	}
	for _, c := range []struct {
		name  string
		mode  netMode
		posts int
	}{{"offline", netDown, 0}, {"answer lost", netLoseSent, 1}} {
		n.set(c.mode)
		before := n.sent()
		if _, err := e.UploadPlays(ctx); err == nil {
			t.Fatalf("%s: UploadPlays succeeded", c.name)
		}
		if got := pending(t, e); got != total {
			t.Fatalf("%s: %d plays queued, want all %d", c.name, got, total)
		}
		if got := n.sent() - before; got != c.posts {
			t.Fatalf("%s: %d uploads reached the relay, want %d", c.name, got, c.posts)
		}
	}
	n.set(netUp)
	before := n.sent()
	sum, err := e.UploadPlays(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// The first batch reached the relay with the lost answer.
	if sum.Duplicate != playlog.MaxBatch || sum.Accepted != total-playlog.MaxBatch || len(sum.Rejected) != 0 {
		t.Fatalf("upload: %+v, want %d duplicates and %d accepted", sum, playlog.MaxBatch, total-playlog.MaxBatch)
	}
	if got := n.sent() - before; got != 3 {
		t.Fatalf("%d uploads for %d plays, want 3 batches", got, total)
	}
	if got := pending(t, e); got != 0 {
		t.Fatalf("%d plays queued after the relay's answer, want none", got)
	}
	before = n.sent()
	if sum, err := e.UploadPlays(ctx); err != nil || sum.Accepted+sum.Duplicate != 0 || n.sent() != before {
		t.Fatalf("second upload: %+v, %v, %d requests; want nothing sent", sum, err, n.sent()-before)
	}
	logged, err := r.PlayLog().Read(ctx, 0, 10*total)
	if err != nil {
		t.Fatal(err)
	}
	seqs := map[uint64]bool{}
	for _, l := range logged {
		if l.Device != e.DeviceID() || seqs[l.Event.Seq] {
			t.Errorf("logged play %d of device %s (want %s, each seq once)", l.Event.Seq, l.Device, e.DeviceID())
		}
		seqs[l.Event.Seq] = true
	}
	if len(logged) != total {
		t.Fatalf("relay logged %d plays, want %d", len(logged), total)
	}
}

// TestUploadPlaysRefusals: plays the relay refuses for good (an unknown
// track) are removed, a play dated after the relay's clock stays queued
// to be sent again (as on native, playlog.FutureRetryWindow).
func TestUploadPlaysRefusals(t *testing.T) {
	ctx := t.Context()
	r := countingRelay(t)
	e, _ := webDevice(t, r, store.NewMemory(), &testNet{}, "refused", engine.DefaultOptions().WithUploadRetry(time.Hour, time.Hour))
	evs := plays(r, e.DeviceID(), 3)
	evs[1].TrackID = "trnosuchtrack"
	evs[2].Started = time.Now().Add(time.Hour)
	// The uploader runs on its own after each stored play too: the
	// test's own call below sees what is left.
	e.OnPlaysUploaded(nil)
	appendAll(t, e, evs)
	if _, err := e.UploadPlays(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := e.History().Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].EventID != evs[2].EventID {
		t.Fatalf("queued after the upload: %+v; want only the future-dated play", got)
	}
}

// TestUploadPlaysInBackground: a stored play is uploaded without a call;
// while offline the uploader retries after its wait, and the play is
// counted once the network is back.
func TestUploadPlaysInBackground(t *testing.T) {
	r := countingRelay(t)
	n := &testNet{}
	e, _ := webDevice(t, r, store.NewMemory(), n, "bg", engine.DefaultOptions().WithUploadRetry(time.Millisecond, 4*time.Millisecond))
	// Every outcome is read (the retries come every few milliseconds):
	// the uploader waits for the test, until the test ends (cleanups run
	// last first: this before the engine's Close).
	ups, done := make(chan upload), make(chan struct{})
	t.Cleanup(func() { close(done) })
	e.OnPlaysUploaded(func(s playlog.Summary, err error) {
		select {
		case ups <- upload{s, err}:
		case <-done:
		}
	})
	appendAll(t, e, plays(r, e.DeviceID(), 1))
	if u := next(t, ups); u.err != nil || u.sum.Accepted != 1 {
		t.Fatalf("background upload of a stored play: %+v, %v; want 1 accepted", u.sum, u.err)
	}
	n.set(netDown)
	appendAll(t, e, plays(r, e.DeviceID(), 2)[1:])
	for i := range 3 {
		if u := next(t, ups); u.err == nil {
			t.Fatalf("offline attempt %d succeeded", i)
		}
	}
	n.set(netUp)
	for {
		u := next(t, ups)
		if u.err == nil {
			if u.sum.Accepted != 1 || pending(t, e) != 0 {
				t.Fatalf("upload after the network came back: %+v, %d queued", u.sum, pending(t, e))
			}
			return
		}
	}
}

// TestUploadPlaysAdoptsOldEvents: plays an earlier web player stored as
// hist/<event id> → JSON are moved into the queue and uploaded (here by
// the upload Login starts), and the old keys are gone; one that does not
// decode is left without stopping the others (before, adopt failed and
// with it every upload).
func TestUploadPlaysAdoptsOldEvents(t *testing.T) {
	ctx := t.Context()
	r := countingRelay(t)
	st := store.NewMemory()
	ev := plays(r, "", 1)[0]
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	old := []byte("hist/" + ev.EventID)
	if err := st.Set(ctx, old, b); err != nil {
		t.Fatal(err)
	}
	// A damaged one is left, and does not hold back the others.
	if err := st.Set(ctx, []byte("hist/damaged-event-id"), []byte("{")); err != nil {
		t.Fatal(err)
	}
	e, _ := webDevice(t, r, st, &testNet{}, "old", engine.DefaultOptions())
	if _, err := st.Get(ctx, old); !errors.Is(err, store.ErrNotFound) || pending(t, e) != 0 {
		t.Fatalf("old key after the upload: %v, %d queued; want gone", err, pending(t, e))
	}
	logged, err := r.PlayLog().Read(ctx, 0, 10)
	if err != nil || len(logged) != 1 || logged[0].Event.Track != ev.TrackID {
		t.Fatalf("relay log %+v, %v; want the old play", logged, err)
	}
}

// TestUploadPlaysOversizedContext: a play whose context the relay can
// never take (an id past api.MaxContextID; the page's playTracks passes
// any string) is dropped as bad_field without being sent, and does not
// hold back the plays queued behind it. Before, a context id over 65,535
// bytes failed the batch's signature (crypto.PlaysMessage) on every
// attempt, and 500 ids of 2 KiB made a body past the relay's 1 MiB (413):
// every play after it stayed queued for ever.
func TestUploadPlaysOversizedContext(t *testing.T) {
	ctx := t.Context()
	r := countingRelay(t)
	n := &testNet{}
	e, ups := webDevice(t, r, store.NewMemory(), n, "bigctx", engine.DefaultOptions().WithUploadRetry(time.Hour, time.Hour))
	// A failed background upload makes the uploader wait an hour: the
	// counts below are the test's own calls'.
	n.set(netDown)
	appendAll(t, e, plays(r, e.DeviceID(), 1))
	if u := next(t, ups); u.err == nil {
		t.Fatal("background upload while offline succeeded")
	}
	n.set(netUp)
	if _, err := e.UploadPlays(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		ctx  model.PlayContext
		n    int
	}{
		{"signed-message limit", model.PlayContext{Kind: "playlist", ID: strings.Repeat("x", 70_000)}, 1},
		{"body limit", model.PlayContext{Kind: "playlist", ID: strings.Repeat("y", 2048)}, playlog.MaxBatch},
		{"kind", model.PlayContext{Kind: strings.Repeat("k", api.MaxContextKind+1)}, 1},
	} {
		evs := plays(r, e.DeviceID(), c.n+1)
		for i := range c.n {
			evs[i].Context = c.ctx
		}
		appendAll(t, e, evs)
		sum, err := e.UploadPlays(ctx)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if sum.Rejected[api.PlayBadField] != c.n || pending(t, e) != 0 {
			t.Fatalf("%s: %+v, %d queued; want %d bad_field, none queued", c.name, sum, pending(t, e), c.n)
		}
	}
}

// TestUploadPlaysSetsAsideUndecodable: a queued play whose IndexedDB
// value does not decode is counted as rejected (playlog.Undecodable) and
// set aside under playlog.BadPrefix, and the plays before and after it
// reach the relay. Before, the queue's List failed with "decode play
// event N" and every upload after it, for ever.
func TestUploadPlaysSetsAsideUndecodable(t *testing.T) {
	ctx := t.Context()
	r := countingRelay(t)
	st := store.NewMemory()
	q := playlog.NewShared(st)
	var seqs []uint64
	for _, ev := range plays(r, "", 3) {
		seq, err := q.Append(ctx, ev)
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, seq)
	}
	garbage := []byte("\xa1\x01")
	if err := st.Set(ctx, playlog.Key(seqs[1]), garbage); err != nil {
		t.Fatal(err)
	}
	n := &testNet{mode: netDown} // Login's upload fails: the test's own call is counted
	e, _ := webDevice(t, r, st, n, "damaged", engine.DefaultOptions().WithUploadRetry(time.Hour, time.Hour))
	n.set(netUp)
	sum, err := e.UploadPlays(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Accepted != 2 || sum.Rejected[playlog.Undecodable] != 1 || len(sum.Rejected) != 1 || pending(t, e) != 0 {
		t.Fatalf("upload %+v, %d queued; want 2 accepted, 1 undecodable, none queued", sum, pending(t, e))
	}
	bad := append(append([]byte(nil), playlog.BadPrefix...), playlog.Key(seqs[1])[len(playlog.Prefix):]...)
	if v, err := st.Get(ctx, bad); err != nil || string(v) != string(garbage) {
		t.Fatalf("set aside: %x, %v; want %x", v, err, garbage)
	}
	logged, err := r.PlayLog().Read(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(logged) != 2 || logged[0].Event.Track != r.Tracks[0] || logged[1].Event.Track != r.Tracks[2] {
		t.Fatalf("relay log %+v; want the plays of tracks 0 and 2", logged)
	}
}

// TestSendPlaysOnHideKeepalive: the upload SendPlaysOnHide asks for (the
// page being hidden, perhaps closed) sends every request with fetch's
// keepalive and a body within jsfetch.KeepaliveMax, so 500 plays with
// the longest contexts go in several requests, all of them reaching the
// relay; a later upload is not keepalive. Before, the page-hide
// upload was SendPlays': one 220 KiB request without keepalive, which
// the browser drops when the tab closes.
func TestSendPlaysOnHideKeepalive(t *testing.T) {
	r := countingRelay(t)
	n := &testNet{mode: netDown} // the uploads before SendPlaysOnHide fail and wait an hour
	e, ups := webDevice(t, r, store.NewMemory(), n, "hidden", engine.DefaultOptions().WithUploadRetry(time.Hour, time.Hour))
	evs := plays(r, e.DeviceID(), playlog.MaxBatch)
	for i := range evs {
		evs[i].Context = model.PlayContext{Kind: "playlist", ID: strings.Repeat("p", api.MaxContextID)}
	}
	appendAll(t, e, evs)
	if got := pending(t, e); got != len(evs) {
		t.Fatalf("%d queued, want %d", got, len(evs))
	}
	if u := next(t, ups); u.err == nil { // the stored plays' upload, offline
		t.Fatal("background upload while offline succeeded")
	}
	n.set(netUp)
	e.SendPlaysOnHide()
	if u := next(t, ups); u.err != nil || u.sum.Accepted != len(evs) || pending(t, e) != 0 {
		t.Fatalf("upload on hide: %+v, %v, %d queued; want %d accepted, none queued", u.sum, u.err, pending(t, e), len(evs))
	}
	n.mu.Lock()
	hidden := n.uploads
	n.uploads = nil
	n.mu.Unlock()
	if len(hidden) < 2 {
		t.Fatalf("uploads on hide %+v; want several", hidden)
	}
	for _, u := range hidden {
		if !u.keepalive || u.size <= 0 || u.size > jsfetch.KeepaliveMax {
			t.Fatalf("uploads on hide %+v; want each keepalive, ≤ %d bytes", hidden, jsfetch.KeepaliveMax)
		}
	}
	appendAll(t, e, plays(r, e.DeviceID(), 1))
	pending(t, e)
	e.SendPlays()
	if u := next(t, ups); u.err != nil || u.sum.Accepted+u.sum.Duplicate != 1 {
		t.Fatalf("upload: %+v, %v; want the play sent", u.sum, u.err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.uploads) != 1 || n.uploads[0].keepalive {
		t.Fatalf("SendPlays' uploads %+v; want one, not keepalive", n.uploads)
	}
}

// TestUploadHoldsUploadLock: with Options.WithUploadLock, every upload
// request is sent holding the lock (the page's tabs share it, a Web
// Lock, so one of them sends a batch), and an upload whose lock is not
// granted sends nothing and fails with the lock's error.
func TestUploadHoldsUploadLock(t *testing.T) {
	r := countingRelay(t)
	var (
		mu      sync.Mutex
		held    bool
		refuse  error
		outside int // requests sent without the lock
	)
	lock := func(ctx context.Context) (func(), error) {
		mu.Lock()
		defer mu.Unlock()
		if refuse != nil {
			return nil, refuse
		}
		held = true
		return func() { mu.Lock(); held = false; mu.Unlock() }, nil
	}
	n := &testNet{onPost: func() {
		mu.Lock()
		if !held {
			outside++
		}
		mu.Unlock()
	}}
	e, _ := webDevice(t, r, store.NewMemory(), n, "locked", engine.DefaultOptions().WithUploadLock(lock))
	appendAll(t, e, plays(r, e.DeviceID(), 3))
	if _, err := e.UploadPlays(t.Context()); err != nil || pending(t, e) != 0 {
		t.Fatalf("upload: %v, %d queued; want all sent", err, pending(t, e))
	}
	mu.Lock()
	without := outside
	mu.Unlock()
	if posted := n.sent(); posted == 0 || without != 0 {
		t.Fatalf("%d of %d requests sent without the upload lock", without, posted)
	}
	mu.Lock()
	refuse = errors.New("test lock: refused")
	mu.Unlock()
	appendAll(t, e, plays(r, e.DeviceID(), 4)[3:])
	before := n.sent()
	if _, err := e.UploadPlays(t.Context()); !errors.Is(err, refuse) {
		t.Fatalf("upload without the lock: %v; want the lock's error", err)
	}
	if n.sent() != before || pending(t, e) != 1 {
		t.Fatalf("sent %d requests, %d queued; want none sent, the play queued", n.sent()-before, pending(t, e))
	}
}

// TestUploadTimeout: an upload request the relay does not answer is
// abandoned after Options.WithUploadTimeout, failing the upload with the
// play still queued (and the upload lock released); the next upload
// sends it. Before, such a request held the upload, and the other tabs'
// behind the upload lock, until the browser gave up on it.
func TestUploadTimeout(t *testing.T) {
	r := countingRelay(t)
	n := &testNet{}
	e, ups := webDevice(t, r, store.NewMemory(), n, "hung", engine.DefaultOptions().WithUploadTimeout(50*time.Millisecond))
	n.set(netHang)
	appendAll(t, e, plays(r, e.DeviceID(), 1))
	if u := next(t, ups); !errors.Is(u.err, context.DeadlineExceeded) {
		t.Fatalf("upload to a relay that does not answer: %+v, %v; want the request's deadline", u.sum, u.err)
	}
	if p := pending(t, e); p != 1 {
		t.Fatalf("%d queued after the abandoned upload, want 1", p)
	}
	n.set(netUp)
	if sum, err := e.UploadPlays(t.Context()); err != nil || sum.Accepted != 1 {
		t.Fatalf("upload after: %+v, %v; want 1 accepted", sum, err)
	}
}

// TestUploadPlaysWaitsRetryAfter: a relay that refuses the upload for
// now (503 Retry-After: 7, then 429 with a Retry-After of ten days) is
// tried again not before its Retry-After — the second capped at
// api.MaxRetryAfter — instead of after the uploader's own 1 ms backoff,
// and each outcome says the relay is busy and the wait it asked for; then
// the play is counted.
func TestUploadPlaysWaitsRetryAfter(t *testing.T) {
	r := countingRelay(t)
	n := &testNet{}
	e, ups := webDevice(t, r, store.NewMemory(), n, "busy", engine.DefaultOptions().WithUploadRetry(time.Millisecond, 4*time.Millisecond))
	waits := make(chan time.Duration, 8)
	engine.SetUploadTimer(e, func(d time.Duration) <-chan time.Time {
		waits <- d
		fired := make(chan time.Time, 1)
		fired <- time.Time{}
		return fired
	})
	n.mu.Lock()
	n.busy = []busyAnswer{{http.StatusServiceUnavailable, "7"}, {http.StatusTooManyRequests, "864000"}}
	n.mu.Unlock()
	appendAll(t, e, plays(r, e.DeviceID(), 1))
	for _, want := range []struct {
		wait time.Duration
		msg  string
	}{{7 * time.Second, "retry in 7 s"}, {api.MaxRetryAfter, "retry in 864000 s"}} {
		u := next(t, ups)
		if !errors.Is(u.err, api.ErrRetryLater) || !strings.Contains(u.err.Error(), want.msg) {
			t.Fatalf("upload to a busy relay: %v; want ErrRetryLater saying %q", u.err, want.msg)
		}
		if got := <-waits; got != want.wait {
			t.Fatalf("waited %v before the next upload, want %v", got, want.wait)
		}
	}
	if u := next(t, ups); u.err != nil || u.sum.Accepted != 1 {
		t.Fatalf("upload once the relay took it: %+v, %v; want 1 accepted", u.sum, u.err)
	}
}

// TestSignOutSendsPlays: SignOut sends the queued plays before it
// deregisters the device, since a signed-out browser could never send
// them (the page then clears the queue); while they cannot be sent it
// fails with the device still registered and the plays kept.
func TestSignOutSendsPlays(t *testing.T) {
	ctx := t.Context()
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithCounting(true).WithLicenses(true))
	n := &testNet{}
	e, ups := webDevice(t, r, store.NewMemory(), n, "leaving", engine.DefaultOptions().WithUploadRetry(time.Hour, time.Hour))
	n.set(netDown)
	appendAll(t, e, plays(r, e.DeviceID(), 3))
	if u := next(t, ups); u.err == nil {
		t.Fatal("background upload while offline succeeded")
	}
	if err := e.SignOut(ctx); err == nil || e.Token() == "" || pending(t, e) != 3 {
		t.Fatalf("SignOut with the plays unsendable = %v, token kept %v, %d queued; want an error, the token and 3 plays kept", err, e.Token() != "", pending(t, e))
	}
	n.set(netUp)
	if err := e.SignOut(ctx); err != nil {
		t.Fatalf("SignOut: %v", err)
	}
	if got := pending(t, e); got != 0 {
		t.Errorf("%d plays queued after SignOut, want none", got)
	}
	logged, err := r.PlayLog().Read(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(logged) != 3 {
		t.Errorf("the relay logged %d plays, want 3", len(logged))
	}
}

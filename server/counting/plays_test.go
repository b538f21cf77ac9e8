package counting_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/cborx"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/audit"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/server/relay"
)

const adminToken = "admin-secret-0123456789abcdef"

// fixture is a real relay on loopback with the demo album and the
// counting service mounted over its Badger store.
type fixture struct {
	r   *testbed.Relay
	dd  *catalog.DataDir
	svc *counting.Service
	log events.Log
}

func newFixture(t testing.TB, opts counting.Options) *fixture {
	t.Helper()
	return newFixtureLog(t, opts, func(dd *catalog.DataDir) events.Log { return events.NewStoreLog(dd.Store) })
}

// newFixtureLog is newFixture with the event log mk returns.
func newFixtureLog(t testing.TB, opts counting.Options, mk func(*catalog.DataDir) events.Log) *fixture {
	t.Helper()
	return newFixtureChain(t, opts, mk, 5)
}

// newFixtureChain is newFixtureLog with an audit checkpoint every
// `every` records.
func newFixtureChain(t testing.TB, opts counting.Options, mk func(*catalog.DataDir) events.Log, every int) *fixture {
	t.Helper()
	f := &fixture{}
	f.r = testbed.NewRelay(t, testbed.DefaultOptions().WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
		f.dd = dd
		chain := audit.NewChain(dd.Store, dd.Signer, every, nil)
		f.log = mk(dd)
		f.svc = counting.New(dd.Store, f.log, dd.Catalog, chain, opts.WithAdminToken(adminToken).WithLogger(nil))
		f.svc.Mount(srv)
	}))
	return f
}

// device is a raw HTTP client registered as a device with its own key.
type device struct {
	id    *crypto.Identity
	token string
	url   string
	// compact: upload uses the CBOR form (api.PlaysCBOR), not JSON.
	compact bool
}

func postJSON(t testing.TB, url, token string, body any) *http.Response {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

func newDevice(t *testing.T, f *fixture, user string) *device {
	t.Helper()
	id, err := crypto.NewIdentity(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return registerDevice(t, f, user, id)
}

// registerDevice signs user up and registers id as a device of it.
func registerDevice(t testing.TB, f *fixture, user string, id *crypto.Identity) *device {
	t.Helper()
	if res := postJSON(t, f.r.URL+"/v1/accounts", "", api.AccountRequest{Username: user, Password: testbed.Password}); res.StatusCode != http.StatusCreated && res.StatusCode != http.StatusConflict {
		t.Fatalf("sign up: %s", res.Status)
	}
	now := time.Now()
	req := api.RegisterRequest{Username: user, Password: testbed.Password, Name: "raw", SignPub: id.SignPublic(), HPKEPub: id.HPKEPublic(), Issued: now.Unix()}
	req.Sig = id.Sign(crypto.DeviceProofMessage(user, "raw", req.SignPub, req.HPKEPub, now))
	res := postJSON(t, f.r.URL+"/v1/devices", "", req)
	var reg api.RegisterResponse
	if err := json.NewDecoder(res.Body).Decode(&reg); err != nil || reg.Token == "" {
		t.Fatalf("register: %s %v", res.Status, err)
	}
	return &device{id: id, token: reg.Token, url: f.r.URL}
}

// upload signs evs and posts them; it returns the status and answer.
func (d *device) upload(t *testing.T, evs []api.PlayRecord) (int, api.PlaysAnswer) {
	t.Helper()
	msg, err := crypto.PlaysMessage(d.id.DeviceID(), evs)
	if err != nil {
		t.Fatal(err)
	}
	if d.compact {
		return d.uploadCBOR(t, evs, d.id.Sign(msg))
	}
	res := postJSON(t, d.url+"/v1/plays", d.token, api.PlaysRequest{Events: evs, Sig: d.id.Sign(msg)})
	var ans api.PlaysAnswer
	if res.StatusCode == http.StatusOK {
		if err := json.NewDecoder(res.Body).Decode(&ans); err != nil {
			t.Fatal(err)
		}
	}
	return res.StatusCode, ans
}

// uploadCBOR posts evs and sig in the compact CBOR form and converts
// the CBOR answer.
func (d *device) uploadCBOR(t *testing.T, evs []api.PlayRecord, sig []byte) (int, api.PlaysAnswer) {
	t.Helper()
	w := api.PlaysRequestWire{Sig: sig, Events: make([]api.PlayWire, len(evs))}
	for i, e := range evs {
		w.Events[i] = api.WireOf(e)
	}
	body, err := cborx.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	res := postRaw(t, d.url+"/v1/plays", d.token, api.PlaysCBOR, body)
	var ans api.PlaysAnswer
	if res.StatusCode == http.StatusOK {
		if ct := res.Header.Get("Content-Type"); ct != api.PlaysCBOR {
			t.Fatalf("answer Content-Type %q", ct)
		}
		a, err := decodeLoadAnswer(res)
		if err != nil {
			t.Fatal(err)
		}
		ans = a
	}
	return res.StatusCode, ans
}

// postRaw posts body with Content-Type ct.
func postRaw(t testing.TB, url, token, ct string, body []byte) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Body.Close() })
	return res
}

// play is a play of track started now: after the account of any device
// registered before (earlier plays are before_account).
func play(seq uint64, track model.TrackID, playedMs int64) api.PlayRecord {
	return api.PlayRecord{Seq: seq, Track: track, Tier: model.TierLow, StartedAt: time.Now().UnixMilli(),
		PlayedMs: playedMs, EndReason: model.EndCompleted, Source: model.SourceStream}
}

func (f *fixture) adminCounts(t *testing.T, track model.TrackID, month, token string) (int, counting.CountsAnswer) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.r.URL+"/v1/admin/counts?track="+string(track)+"&month="+month, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var a counting.CountsAnswer
	if res.StatusCode == http.StatusOK {
		if err := json.NewDecoder(res.Body).Decode(&a); err != nil {
			t.Fatal(err)
		}
	}
	return res.StatusCode, a
}

// TestPlaysRejections sends one batch mixing valid and bad events: each
// bad one gets its reason, the valid ones are all accepted and counted.
// Both upload forms (JSON, compact CBOR) run it.
func TestPlaysRejections(t *testing.T) {
	for _, compact := range []bool{false, true} {
		t.Run(map[bool]string{false: "json", true: "cbor"}[compact], func(t *testing.T) { testPlaysRejections(t, compact) })
	}
}

func testPlaysRejections(t *testing.T, compact bool) {
	// The demo tracks are short, so this test counts from 1 s.
	f := newFixture(t, counting.DefaultOptions().WithThreshold(time.Second))
	d := newDevice(t, f, "alice")
	d.compact = compact
	ctx := context.Background()
	tr, err := f.r.Server().Catalog().Track(ctx, f.r.Tracks[0])
	if err != nil {
		t.Fatal(err)
	}
	durMs := tr.Duration().Milliseconds()
	good := play(1, f.r.Tracks[0], durMs)
	mut := func(seq uint64, fn func(*api.PlayRecord)) api.PlayRecord {
		e := play(seq, f.r.Tracks[0], 1500)
		fn(&e)
		return e
	}
	cases := []struct {
		ev   api.PlayRecord
		want string
	}{
		{good, api.PlayAccepted},
		{mut(2, func(e *api.PlayRecord) { e.Track = "nosuchtrack" }), api.PlayUnknownTrack},
		{mut(3, func(e *api.PlayRecord) { e.PlayedMs = -1 }), api.PlayBadDuration},
		{mut(4, func(e *api.PlayRecord) { e.PlayedMs = api.MaxPlayMs + 1 }), api.PlayBadDuration},
		{mut(5, func(e *api.PlayRecord) { e.StartedAt = time.Now().Add(time.Hour).UnixMilli() }), api.PlayFuture},
		{mut(6, func(e *api.PlayRecord) { e.StartedAt = 0 }), api.PlayBadDuration},
		{mut(7, func(e *api.PlayRecord) { e.PlayedMs = durMs*105/100 + 2 }), api.PlayTooLong},
		// After good: both are streams longer than a crossfade.
		{mut(8, func(e *api.PlayRecord) { e.StartedAt, e.PlayedMs = good.StartedAt+durMs, durMs*104/100 }), api.PlayAccepted},
		{mut(9, func(e *api.PlayRecord) { e.Tier = "ultra" }), api.PlayBadField},
		{mut(10, func(e *api.PlayRecord) { e.EndReason = "paused" }), api.PlayBadField},
		{mut(11, func(e *api.PlayRecord) { e.Source = "radio" }), api.PlayBadField},
		{mut(12, func(e *api.PlayRecord) { e.Offline, e.TrustedTime, e.Source = true, true, model.SourceDownload }), api.PlayAccepted},
		{mut(12, func(e *api.PlayRecord) { e.PlayedMs = 1600 }), api.PlaySeqConflict},
		{mut(13, func(e *api.PlayRecord) { e.PlayedMs = 999 }), api.PlayAccepted},
	}
	var evs []api.PlayRecord
	for _, c := range cases {
		evs = append(evs, c.ev)
	}
	code, ans := d.upload(t, evs)
	if code != http.StatusOK || len(ans.Results) != len(cases) {
		t.Fatalf("status %d, %d results", code, len(ans.Results))
	}
	for i, c := range cases {
		if r := ans.Results[i]; r.Seq != c.ev.Seq || r.Status != c.want {
			t.Errorf("event %d (seq %d): %+v, want %s", i, c.ev.Seq, r, c.want)
		}
	}
	// A retry of the whole batch is idempotent: accepted events become
	// duplicates, the conflict stays one, nothing is added.
	_, again := d.upload(t, evs)
	for i, c := range cases {
		want := c.want
		if want == api.PlayAccepted {
			want = api.PlayDuplicate
		}
		if again.Results[i].Status != want {
			t.Errorf("retry, event %d: %s, want %s", i, again.Results[i].Status, want)
		}
	}
	// Changing an accepted event in a later batch is a conflict.
	changed := good
	changed.PlayedMs--
	if _, a := d.upload(t, []api.PlayRecord{changed}); a.Results[0].Status != api.PlaySeqConflict {
		t.Errorf("changed accepted event: %s", a.Results[0].Status)
	}
	svc := f.svc
	if n, err := svc.Step(ctx); err != nil || n != 4 {
		t.Fatalf("step: %d, %v; want the 4 accepted events", n, err)
	}
	month := counting.Month(good.StartedAt)
	// Accepted: seq 1 (full), 8 (1.04×), 12 (1.5 s), 13 (0.999 s: not a stream).
	if n, err := svc.TrackStreams(ctx, f.r.Tracks[0], month); err != nil || n != 3 {
		t.Errorf("streams %d, %v; want 3", n, err)
	}
	// The audit log holds the 10 rejections of each of the two uploads,
	// the later conflict and the 3 counted streams, chained and
	// checkpointed every 5 records.
	rep, err := audit.Verify(ctx, f.dd.Store, f.r.CatalogKey)
	if err != nil || rep.Records != 24 || rep.Checkpoints != 4 {
		t.Errorf("audit: %+v, %v; want 24 records, 4 checkpoints", rep, err)
	}
}

// TestPlaysLimits checks the upload's explicit limits and refusals: an
// empty batch, more events than allowed, a body over the limit, a bad
// signature, another device's signature and no token; none adds an event.
// Both upload forms run it.
func TestPlaysLimits(t *testing.T) {
	for _, compact := range []bool{false, true} {
		t.Run(map[bool]string{false: "json", true: "cbor"}[compact], func(t *testing.T) { testPlaysLimits(t, compact) })
	}
}

func testPlaysLimits(t *testing.T, compact bool) {
	f := newFixture(t, counting.DefaultOptions().WithMaxEvents(3).WithMaxBody(4096))
	d := newDevice(t, f, "bob")
	d.compact = compact
	other := newDevice(t, f, "carol")
	tr := f.r.Tracks[0]
	three := []api.PlayRecord{play(1, tr, 1000), play(2, tr, 1000), play(3, tr, 1000)}
	if code, ans := d.upload(t, three); code != http.StatusOK || len(ans.Results) != 3 {
		t.Fatalf("3 events at the limit: %d", code)
	}
	if code, _ := d.upload(t, append(three, play(4, tr, 1000))); code != http.StatusRequestEntityTooLarge {
		t.Errorf("4 events over a limit of 3: %d, want 413", code)
	}
	if code, _ := d.upload(t, nil); code != http.StatusBadRequest {
		t.Errorf("empty batch: %d, want 400", code)
	}
	big := play(5, tr, 1000)
	big.Context = model.PlayContext{Kind: "album", ID: string(bytes.Repeat([]byte("x"), 5000))}
	if code, _ := d.upload(t, []api.PlayRecord{big}); code != http.StatusRequestEntityTooLarge {
		t.Errorf("body over 4 KiB: %d, want 413", code)
	}
	evs := []api.PlayRecord{play(6, tr, 1000)}
	msg, _ := crypto.PlaysMessage(d.id.DeviceID(), evs)
	sig := d.id.Sign(msg)
	for name, req := range map[string]struct {
		token string
		body  api.PlaysRequest
	}{
		"no token":          {"", api.PlaysRequest{Events: evs, Sig: sig}},
		"bad signature":     {d.token, api.PlaysRequest{Events: evs, Sig: make([]byte, 64)}},
		"edited after sign": {d.token, api.PlaysRequest{Events: []api.PlayRecord{play(6, tr, 2000)}, Sig: sig}},
		// carol replays bob's signed batch under her token: the relay
		// checks the signature against the token's device.
		"other device": {other.token, api.PlaysRequest{Events: evs, Sig: sig}},
	} {
		if res := postJSON(t, f.r.URL+"/v1/plays", req.token, req.body); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: %s, want 401", name, res.Status)
		}
	}
	if h, err := events.NewStoreLog(f.dd.Store).Head(context.Background()); err != nil || h != 3 {
		t.Errorf("log head %d, %v; want 3", h, err)
	}
}

// TestPlaysLongTrackID uploads events whose track ids no catalog can
// have (up to the 65,535 bytes a signed field holds): they are
// unknown_track, and their audit rejection records hold no track, so an
// upload cannot grow the permanent audit log by the size of its body.
func TestPlaysLongTrackID(t *testing.T) {
	f := newFixture(t, counting.DefaultOptions())
	d := newDevice(t, f, "mallory")
	long := func(seq uint64, n int) api.PlayRecord {
		return play(seq, model.TrackID(bytes.Repeat([]byte{'a' + byte(seq)}, n)), 1000)
	}
	badTier := long(3, 60_000)
	badTier.Tier = "ultra"
	evs := []api.PlayRecord{long(1, 60_000), long(2, model.MaxIDLen+1), badTier, play(4, "a/b", 1000), play(5, f.r.Tracks[0], 1000)}
	want := []string{api.PlayUnknownTrack, api.PlayUnknownTrack, api.PlayBadField, api.PlayUnknownTrack, api.PlayAccepted}
	code, ans := d.upload(t, evs)
	if code != http.StatusOK || len(ans.Results) != len(want) {
		t.Fatalf("status %d, %d results", code, len(ans.Results))
	}
	for i, w := range want {
		if ans.Results[i].Status != w {
			t.Errorf("event %d: %s, want %s", i, ans.Results[i].Status, w)
		}
	}
	rejections := 0
	err := audit.Records(context.Background(), f.dd.Store, func(r audit.Record) error {
		if r.Kind == audit.KindRejection {
			rejections++
			if r.Track != "" {
				t.Errorf("rejection of seq %d records a %d-byte track", r.Seq, len(r.Track))
			}
		}
		return nil
	})
	if err != nil || rejections != 4 {
		t.Errorf("audit: %d rejections, %v; want 4", rejections, err)
	}
}

// TestPlaysCBORMalformed sends compact uploads that do not decode: each
// is refused whole with 400 and adds nothing.
func TestPlaysCBORMalformed(t *testing.T) {
	f := newFixture(t, counting.DefaultOptions())
	d := newDevice(t, f, "erin")
	tr := f.r.Tracks[0]
	evs := []api.PlayRecord{play(1, tr, 1000)}
	msg, _ := crypto.PlaysMessage(d.id.DeviceID(), evs)
	sig := d.id.Sign(msg)
	wire := func(fn func(*api.PlaysRequestWire)) []byte {
		w := api.PlaysRequestWire{Sig: sig, Events: []api.PlayWire{api.WireOf(evs[0])}}
		fn(&w)
		b, err := cborx.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := wire(func(*api.PlaysRequestWire) {})
	asMap, _ := cborx.Marshal(map[string]any{"sig": sig, "events": []any{}})
	jsonBody, _ := json.Marshal(api.PlaysRequest{Events: evs, Sig: sig})
	for name, body := range map[string][]byte{
		"garbage":        []byte("\xff\x00garbage"),
		"empty body":     nil,
		"truncated":      good[:len(good)-3],
		"trailing bytes": append(bytes.Clone(good), 0x00),
		"map not array":  asMap,
		"json as cbor":   jsonBody,
		"unknown flag":   wire(func(w *api.PlaysRequestWire) { w.Events[0].Flags = 8 }),
		"no events":      wire(func(w *api.PlaysRequestWire) { w.Events = nil }),
	} {
		if res := postRaw(t, f.r.URL+"/v1/plays", d.token, api.PlaysCBOR, body); res.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %s, want 400", name, res.Status)
		}
	}
	// Parameters of the media type are allowed.
	if res := postRaw(t, f.r.URL+"/v1/plays", d.token, api.PlaysCBOR+"; charset=binary", good); res.StatusCode != http.StatusOK {
		t.Errorf("good upload with a parameter: %s", res.Status)
	}
	if h, err := events.NewStoreLog(f.dd.Store).Head(context.Background()); err != nil || h != 1 {
		t.Errorf("log head %d, %v; want 1", h, err)
	}
}

// TestAdminCounts reads counts over HTTP: admin token required, month
// and track validated.
func TestAdminCounts(t *testing.T) {
	f := newFixture(t, counting.DefaultOptions().WithThreshold(time.Second))
	d := newDevice(t, f, "dave")
	tr := f.r.Tracks[1]
	ev := play(1, tr, 1200)
	if _, a := d.upload(t, []api.PlayRecord{ev, play(2, tr, 800)}); a.Results[0].Status != api.PlayAccepted {
		t.Fatalf("upload: %+v", a)
	}
	month := counting.Month(ev.StartedAt)
	if code, a := f.adminCounts(t, tr, month, adminToken); code != http.StatusOK || a.Streams != 0 {
		t.Fatalf("before counting: %d %+v", code, a)
	}
	if _, err := f.svc.Step(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code, a := f.adminCounts(t, tr, month, adminToken); code != http.StatusOK || a.Streams != 1 || a.Track != tr || a.Month != month {
		t.Errorf("after counting: %d %+v, want 1 stream", code, a)
	}
	for _, c := range []struct {
		track model.TrackID
		month string
		token string
		want  int
	}{
		{tr, month, "", http.StatusUnauthorized},
		{tr, month, "wrong", http.StatusUnauthorized},
		{tr, "2026-13", adminToken, http.StatusBadRequest},
		{tr, "202611", adminToken, http.StatusBadRequest},
		{"", month, adminToken, http.StatusBadRequest},
	} {
		if code, _ := f.adminCounts(t, c.track, c.month, c.token); code != c.want {
			t.Errorf("track %q month %q token %q: %d, want %d", c.track, c.month, c.token, code, c.want)
		}
	}
}

// TestEngineUploadPlays drives the path from the engine: play events in
// the device's history are uploaded signed, acknowledged only after the
// relay answered, counted once even when uploaded again.
func TestEngineUploadPlays(t *testing.T) {
	f := newFixture(t, counting.DefaultOptions().WithThreshold(time.Second))
	e := testbed.Device(t, f.r, "erin")
	ctx := context.Background()
	started := time.Now()      // after erin's account was created
	n := core.MaxPlayBatch + 7 // two batches
	for i := range n {
		ev := model.PlayEvent{Device: e.DeviceID(), TrackID: f.r.Tracks[i%len(f.r.Tracks)], Tier: model.TierLow,
			Started: started, Played: 1500 * time.Millisecond, End: model.EndCompleted}
		if i == 0 {
			ev.TrackID = "nosuchtrack"
		}
		if err := e.History().Append(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	// While the relay is down nothing is acknowledged.
	if err := f.r.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := e.UploadPlays(ctx); err == nil {
		t.Fatal("upload to a stopped relay succeeded")
	}
	if hs, _ := e.History().List(ctx, 0); len(hs) != n {
		t.Fatalf("%d history entries after a failed upload, want %d", len(hs), n)
	}
	if err := f.r.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	sum, err := e.UploadPlays(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Accepted != n-1 || sum.Rejected[api.PlayUnknownTrack] != 1 {
		t.Errorf("upload %+v, want %d accepted and 1 unknown track", sum, n-1)
	}
	if hs, _ := e.History().List(ctx, 0); len(hs) != 0 {
		t.Errorf("%d history entries left after the acknowledged upload", len(hs))
	}
	for {
		k, err := f.svc.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			break
		}
	}
	var total uint64
	month := counting.Month(started.UnixMilli())
	for _, tr := range f.r.Tracks {
		c, err := f.svc.TrackStreams(ctx, tr, month)
		if err != nil {
			t.Fatal(err)
		}
		total += c
	}
	if total != uint64(n-1) {
		t.Errorf("%d streams counted, want %d", total, n-1)
	}
	u, err := f.svc.UserStreams(ctx, "erin", month, f.r.Tracks[1])
	var want uint64
	for i := 1; i < n; i++ {
		if i%len(f.r.Tracks) == 1 {
			want++
		}
	}
	if err != nil || u != want {
		t.Errorf("erin's streams of track 1: %d, %v; want %d", u, err, want)
	}
}

// TestDeviceQuota: with a quota of 3 events an hour per device (batches
// of at most 2), a device's second batch within the hour is refused whole
// with 429 and the Retry-After of the wait (20 min for the missing
// event), adding nothing; another device is not affected; a refused
// signature takes nothing; after the wait the batch is accepted.
func TestDeviceQuota(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	start := now
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	mono := func() time.Duration { mu.Lock(); defer mu.Unlock(); return now.Sub(start) }
	f := newFixture(t, counting.DefaultOptions().WithMaxEvents(2).WithDeviceQuota(3, time.Hour).WithClock(clock).WithMonotonicClock(mono))
	a, b := newDevice(t, f, "ann"), newDevice(t, f, "ben")
	tr := f.r.Tracks[0]
	post := func(d *device, seq uint64, sig []byte) *http.Response {
		evs := []api.PlayRecord{play(seq, tr, 1000), play(seq+1, tr, 1000)}
		msg, _ := crypto.PlaysMessage(d.id.DeviceID(), evs)
		if sig == nil {
			sig = d.id.Sign(msg)
		}
		return postJSON(t, d.url+"/v1/plays", d.token, api.PlaysRequest{Events: evs, Sig: sig})
	}
	for range 3 {
		if res := post(a, 100, make([]byte, 64)); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("bad signature: %s", res.Status)
		}
	}
	if res := post(a, 1, nil); res.StatusCode != http.StatusOK {
		t.Fatalf("first batch: %s", res.Status)
	}
	res := post(a, 3, nil)
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "1200" {
		t.Fatalf("second batch: %s, Retry-After %q; want 429, 1200", res.Status, res.Header.Get("Retry-After"))
	}
	if h, err := f.log.Head(context.Background()); err != nil || h != 2 {
		t.Fatalf("log head %d, %v; want 2", h, err)
	}
	if res := post(b, 1, nil); res.StatusCode != http.StatusOK {
		t.Fatalf("other device: %s", res.Status)
	}
	mu.Lock()
	now = now.Add(20*time.Minute - time.Second)
	mu.Unlock()
	if res := post(a, 3, nil); res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("a second early: %s", res.Status)
	}
	// 400 ms early: the message names the wait Retry-After gives (it
	// read "retry in 0s" beside Retry-After: 1).
	mu.Lock()
	now = now.Add(600 * time.Millisecond)
	mu.Unlock()
	res = post(a, 3, nil)
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "1" || !strings.Contains(string(body), "retry in 1s") {
		t.Fatalf("400 ms early: %s, Retry-After %q, %s; want 429, 1, \"retry in 1s\"", res.Status, res.Header.Get("Retry-After"), body)
	}
	mu.Lock()
	now = now.Add(400 * time.Millisecond)
	mu.Unlock()
	if res := post(a, 3, nil); res.StatusCode != http.StatusOK {
		t.Fatalf("after the wait: %s", res.Status)
	}
}

// TestDeviceQuotaMonotonic: the device quota runs on the monotonic clock
// (WithMonotonicClock), not on the relay's wall clock (WithClock). Before,
// a wall clock set back an hour (NTP stepping a relay that ran fast, an
// operator's correction) cost every device that had used its bucket up
// to an hour of uploads more, and one set forward gave each an hour's
// worth of extra events.
func TestDeviceQuotaMonotonic(t *testing.T) {
	for _, tc := range []struct {
		name       string
		wall, mono time.Duration // how the clocks move after the refusal
		want       int
		retry      string
	}{
		{"wall set back an hour, 20 minutes pass", -time.Hour, 20 * time.Minute, http.StatusOK, ""},
		{"wall set forward an hour, no time passes", time.Hour, 0, http.StatusTooManyRequests, "1200"},
		{"both move 20 minutes", 20 * time.Minute, 20 * time.Minute, http.StatusOK, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			wall, mono := time.Now(), time.Duration(0)
			f := newFixture(t, counting.DefaultOptions().WithMaxEvents(2).WithDeviceQuota(3, time.Hour).
				WithClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return wall }).
				WithMonotonicClock(func() time.Duration { mu.Lock(); defer mu.Unlock(); return mono }))
			d := newDevice(t, f, "ann")
			tr := f.r.Tracks[0]
			post := func(seq uint64) *http.Response {
				evs := []api.PlayRecord{play(seq, tr, 1000), play(seq+1, tr, 1000)}
				msg, _ := crypto.PlaysMessage(d.id.DeviceID(), evs)
				return postJSON(t, d.url+"/v1/plays", d.token, api.PlaysRequest{Events: evs, Sig: d.id.Sign(msg)})
			}
			if res := post(1); res.StatusCode != http.StatusOK {
				t.Fatalf("first batch: %s", res.Status)
			}
			if res := post(3); res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") != "1200" {
				t.Fatalf("second batch: %s, Retry-After %q; want 429, 1200", res.Status, res.Header.Get("Retry-After"))
			}
			mu.Lock()
			wall, mono = wall.Add(tc.wall), mono+tc.mono
			mu.Unlock()
			res := post(3)
			if res.StatusCode != tc.want || res.Header.Get("Retry-After") != tc.retry {
				t.Fatalf("after the clocks moved: %s, Retry-After %q; want %d, %q", res.Status, res.Header.Get("Retry-After"), tc.want, tc.retry)
			}
		})
	}
}

// TestEngineHoldsFuturePlays: a device whose clock runs ahead of the
// relay's by more than the allowance has its plays refused as dated in the
// future; the engine keeps them queued (Held) instead of dropping them,
// sends them again on later uploads (not again within one), and they are
// counted once the relay's clock has passed them, while a play beside
// them the relay accepted is acknowledged at once. One refused so and
// older than core.FutureRetryWindow on the device's clock is dropped as
// rejected.
func TestEngineHoldsFuturePlays(t *testing.T) {
	var mu sync.Mutex
	var relayNow time.Time
	setRelay := func(t time.Time) { mu.Lock(); relayNow = t; mu.Unlock() }
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		if relayNow.IsZero() {
			return time.Now()
		}
		return relayNow
	}
	f := newFixture(t, counting.DefaultOptions().WithThreshold(time.Second).WithClock(clock))
	e := testbed.Device(t, f.r, "fay")
	now := time.Now() // after fay's account was created
	relay := now.Add(time.Hour)
	setRelay(relay)
	ctx := context.Background()
	play := func(started time.Time, track model.TrackID) {
		t.Helper()
		ev := model.PlayEvent{Device: e.DeviceID(), TrackID: track, Tier: model.TierLow,
			Started: started, Played: 1500 * time.Millisecond, End: model.EndCompleted}
		if err := e.History().Append(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	queued := func() int {
		t.Helper()
		hs, err := e.History().List(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		return len(hs)
	}
	play(relay.Add(10*time.Minute), f.r.Tracks[0]) // 10 min after the relay's clock
	play(now.Add(time.Minute), f.r.Tracks[1])      // before it
	for i := range 2 {
		sum, err := e.UploadPlays(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Held != 1 || sum.Accepted != 1-i || len(sum.Rejected) != 0 || queued() != 1 {
			t.Fatalf("upload %d: %+v, %d queued; want 1 held, %d accepted, 1 queued", i, sum, queued(), 1-i)
		}
	}
	setRelay(relay.Add(11 * time.Minute))
	sum, err := e.UploadPlays(ctx)
	if err != nil || sum.Accepted != 1 || sum.Held != 0 || queued() != 0 {
		t.Fatalf("upload once the relay's clock passed the play: %+v, %v, %d queued", sum, err, queued())
	}

	setRelay(now.Add(-41 * 24 * time.Hour))
	play(now.Add(-40*24*time.Hour), f.r.Tracks[2])
	sum, err = e.UploadPlays(ctx)
	if err != nil || sum.Held != 0 || sum.Rejected[api.PlayFuture] != 1 || queued() != 0 {
		t.Fatalf("a play older than the retry window: %+v, %v, %d queued; want it rejected and dropped", sum, err, queued())
	}
}

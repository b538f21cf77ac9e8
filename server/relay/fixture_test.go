package relay_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
)

const adminToken = "admin-secret-for-tests-0123456789"

// fakeClock is a settable clock for token expiry and proof windows.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// published is what publishSynthetic put into a data directory.
type published struct {
	track  model.Track
	album  model.Album
	artist model.Artist
	tier   model.Tier
	key    crypto.ContentKey
	header []byte
	chunks [][]byte
}

// publishSynthetic opens the data directory dir the way ingest does and
// publishes one track with one tier of seeded random "encrypted" blobs:
// a header of 3,000 bytes and chunks of chunkSize bytes.
func publishSynthetic(t testing.TB, dir string, nChunks, chunkSize int) published {
	t.Helper()
	ctx := context.Background()
	dd, err := catalog.OpenDataDir(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer dd.Close()
	rng := mrand.New(mrand.NewPCG(1, 2))
	blob := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	p := published{
		artist: model.Artist{ID: "ar1", Name: "The Testers"},
		tier:   model.TierHigh,
		header: blob(3000),
	}
	if _, err := io.ReadFull(rand.Reader, p.key[:]); err != nil {
		t.Fatal(err)
	}
	m := &model.Manifest{
		Version: model.ManifestVersion, TrackID: "tr1", Tier: p.tier, Codec: model.CodecVorbis,
		SampleRate: 44100, Channels: 2, Bitrate: 160000,
	}
	h, err := dd.Catalog.PutBlob(ctx, p.header)
	if err != nil {
		t.Fatal(err)
	}
	m.Header = model.BlobRef{Size: int64(len(p.header)), SHA256: h}
	for i := range nChunks {
		b := blob(chunkSize)
		p.chunks = append(p.chunks, b)
		h, err := dd.Catalog.PutBlob(ctx, b)
		if err != nil {
			t.Fatal(err)
		}
		var primer int64
		if i > 0 {
			primer = 100
		}
		m.Chunks = append(m.Chunks, model.Chunk{Index: i, FirstSample: m.TotalSamples, Samples: 44100, PrimerSize: primer,
			Blob: model.BlobRef{Size: int64(len(b)), SHA256: h}})
		m.TotalSamples += 44100
	}
	env, err := crypto.SignManifest(dd.Signer, m)
	if err != nil {
		t.Fatal(err)
	}
	p.track = model.Track{ID: "tr1", Title: "Test Tone", ArtistIDs: []model.ArtistID{"ar1"}, AlbumID: "al1",
		TrackNumber: 1, DiscNumber: 1, SampleRate: 44100, Channels: 2, Samples: m.TotalSamples, Tiers: []model.Tier{p.tier}}
	p.album = model.Album{ID: "al1", Title: "Tests", ArtistIDs: []model.ArtistID{"ar1"}, TrackIDs: []model.TrackID{"tr1"}}
	err = dd.Catalog.Publish(ctx, catalog.Release{
		Album: p.album, Artists: []model.Artist{p.artist},
		Tracks: []catalog.TrackRelease{{Track: p.track, Streams: []catalog.Stream{{Tier: p.tier, Envelope: env, Key: p.key}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// env is a running relay on loopback with Badger on disk, an account
// "ada" and one registered device.
type env struct {
	base  string
	srv   *relay.Server
	tb    *testbed.Relay
	clock *fakeClock
	pub   published
	id    *crypto.Identity
	token string
	catPK []byte
}

type envOpt func(relay.Options) relay.Options

// startRelay publishes a synthetic track, starts a relay on 127.0.0.1:0,
// signs up "ada" and registers a device. The relay stops at test cleanup.
func startRelay(t testing.TB, nChunks, chunkSize int, opts ...envOpt) *env {
	t.Helper()
	return startRelayWith(t, func(dir string) published { return publishSynthetic(t, dir, nChunks, chunkSize) }, opts...)
}

// startRelayWith is startRelay with the catalog content made by publish,
// which receives the data directory before the relay opens it.
func startRelayWith(t testing.TB, publish func(dir string) published, opts ...envOpt) *env {
	t.Helper()
	return startRelayTB(t, publish, nil, opts...)
}

// startRelayTB is startRelayWith with tb (when not nil) refining the
// testbed options.
func startRelayTB(t testing.TB, publish func(dir string) published, tb func(testbed.Options) testbed.Options, opts ...envOpt) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{clock: &fakeClock{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}}
	e.pub = publish(dir)
	tbo := testbed.DefaultOptions().WithDemoAlbum(false).WithDataDir(dir).
		WithRelayOptions(func(o relay.Options) relay.Options {
			return o.WithAdminToken(adminToken).WithClock(e.clock.Now)
		})
	for _, f := range opts {
		tbo = tbo.WithRelayOptions(f)
	}
	if tb != nil {
		tbo = tb(tbo)
	}
	r := testbed.NewRelay(t, tbo)
	e.base, e.srv, e.tb = r.URL, r.Server(), r
	if res := e.do(t, "POST", "/v1/accounts", map[string]string{"username": "ada", "password": "correct horse"}, adminToken); res.code != 201 {
		t.Fatalf("sign up: %d %s", res.code, res.body)
	}
	e.id = newIdentity(t)
	res := e.do(t, "POST", "/v1/devices", e.registration("ada", "correct horse", e.id, e.clock.Now()), "")
	if res.code != 201 {
		t.Fatalf("register: %d %s", res.code, res.body)
	}
	var out struct {
		DeviceID   string `json:"device_id"`
		Token      string `json:"token"`
		CatalogKey []byte `json:"catalog_key"`
	}
	res.json(t, &out)
	e.token, e.catPK = out.Token, out.CatalogKey
	return e
}

func newIdentity(t testing.TB) *crypto.Identity {
	t.Helper()
	id, err := crypto.NewIdentity(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// registration builds a POST /v1/devices body signed by id.
func (e *env) registration(user, pw string, id *crypto.Identity, issued time.Time) map[string]any {
	return e.namedRegistration(user, pw, "test device", id, issued)
}

// namedRegistration is registration for a device named name.
func (e *env) namedRegistration(user, pw, name string, id *crypto.Identity, issued time.Time) map[string]any {
	sp, hp := id.SignPublic(), id.HPKEPublic()
	return map[string]any{
		"username": user, "password": pw, "name": name,
		"sign_pub": []byte(sp), "hpke_pub": hp, "issued": issued.Unix(),
		"sig": id.Sign(crypto.DeviceProofMessage(user, name, sp, hp, issued)),
	}
}

// response is a fully read HTTP response.
type response struct {
	code   int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

// errorMessage returns the "error" field of a JSON error body, failing
// the test when the body is not one.
func (r response) errorMessage(t testing.TB) string {
	t.Helper()
	var b struct {
		Error string `json:"error"`
	}
	r.json(t, &b)
	if b.Error == "" {
		t.Fatalf("error body %q has no error field", r.body)
	}
	return b.Error
}

// do sends a request; body is JSON-encoded unless it is []byte or nil;
// token is sent as a bearer token unless empty. Extra headers come in
// pairs.
func (e *env) do(t testing.TB, method, path string, body any, token string, hdr ...string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{code: resp.StatusCode, header: resp.Header, body: b}
}

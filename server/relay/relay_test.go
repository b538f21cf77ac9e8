package relay_test

import (
	"bytes"
	"crypto/ed25519"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/server/relay"
)

func TestHealthzNeedsNoAuth(t *testing.T) {
	e := startRelay(t, 1, 1000)
	res := e.do(t, "GET", "/healthz", nil, "")
	if res.code != 200 || !strings.Contains(string(res.body), "ok") {
		t.Fatalf("healthz: %d %s", res.code, res.body)
	}
}

// authedRoutes is every route behind the device token, with a request
// that succeeds when authenticated.
var authedRoutes = []struct {
	method, path string
	body         any
}{
	{"GET", "/v1/me", nil},
	{"GET", "/v1/catalog/key", nil},
	{"GET", "/v1/tracks/tr1", nil},
	{"GET", "/v1/albums/al1", nil},
	{"GET", "/v1/artists/ar1", nil},
	{"GET", "/v1/audio/tr1/high/manifest", nil},
	{"HEAD", "/v1/audio/tr1/high/manifest", nil},
	{"GET", "/v1/audio/tr1/high/header", nil},
	{"HEAD", "/v1/audio/tr1/high/header", nil},
	{"GET", "/v1/audio/tr1/high/chunks/0", nil},
	{"HEAD", "/v1/audio/tr1/high/chunks/1", nil},
	{"POST", "/v1/keys/stream", map[string]string{"track": "tr1", "tier": "high"}},
}

func TestAuthRequiredEverywhereButHealthz(t *testing.T) {
	e := startRelay(t, 2, 1000)
	bad := []struct {
		name  string
		token string
		query string
	}{
		{"no token", "", ""},
		{"unknown token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", ""},
		{"admin token is not a device token", adminToken, ""},
		{"unknown query token", "", "?token=nope"},
		{"oversized token", strings.Repeat("x", 4000), ""},
	}
	for _, r := range authedRoutes {
		for _, b := range bad {
			t.Run(r.method+" "+r.path+"/"+b.name, func(t *testing.T) {
				res := e.do(t, r.method, r.path+b.query, r.body, b.token)
				if res.code != http.StatusUnauthorized {
					t.Fatalf("got %d %s, want 401", res.code, res.body)
				}
				if res.header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				if r.method != "HEAD" {
					res.errorMessage(t)
				}
			})
		}
		t.Run(r.method+" "+r.path+"/header token", func(t *testing.T) {
			if res := e.do(t, r.method, r.path, r.body, e.token); res.code != 200 {
				t.Fatalf("got %d %s, want 200", res.code, res.body)
			}
		})
		// A valid token in the query string is refused off the sync
		// WebSocket and the activity streams (TestQueryTokenOnlyOnStreams).
		t.Run(r.method+" "+r.path+"/query token", func(t *testing.T) {
			if res := e.do(t, r.method, r.path+"?token="+url.QueryEscape(e.token), r.body, ""); res.code != http.StatusUnauthorized {
				t.Fatalf("got %d %s, want 401", res.code, res.body)
			}
		})
	}
	t.Run("unknown /v1 path is 404 with or without a token", func(t *testing.T) {
		for _, tok := range []string{"", e.token} {
			if res := e.do(t, "GET", "/v1/nope", nil, tok); res.code != 404 {
				t.Fatalf("token %v: got %d", tok != "", res.code)
			}
		}
	})
}

func TestTokenExpires(t *testing.T) {
	e := startRelay(t, 1, 1000, func(o relay.Options) relay.Options { return o.WithTokenTTL(time.Hour) })
	if res := e.do(t, "GET", "/v1/me", nil, e.token); res.code != 200 {
		t.Fatalf("fresh token: %d", res.code)
	}
	e.clock.Advance(time.Hour)
	res := e.do(t, "GET", "/v1/me", nil, e.token)
	if res.code != 401 || !strings.Contains(res.errorMessage(t), "expired") {
		t.Fatalf("expired token: %d %s", res.code, res.body)
	}
}

func TestAccounts(t *testing.T) {
	e := startRelay(t, 1, 1000)
	closed := startRelay(t, 1, 1000, func(o relay.Options) relay.Options { return o.WithOpenSignup(false) })
	cases := []struct {
		name  string
		env   *env
		body  any
		token string
		want  int
	}{
		{"open signup", e, map[string]string{"username": "bob", "password": "12345678"}, "", 201},
		{"duplicate", e, map[string]string{"username": "ada", "password": "12345678"}, "", 409},
		{"uppercase username", e, map[string]string{"username": "Bob", "password": "12345678"}, "", 400},
		{"slash in username", e, map[string]string{"username": "a/b", "password": "12345678"}, "", 400},
		{"empty username", e, map[string]string{"username": "", "password": "12345678"}, "", 400},
		{"short password", e, map[string]string{"username": "carol", "password": "1234567"}, "", 400},
		{"malformed json", e, "{", "", 400},
		{"wrong json type", e, `{"username": 5}`, "", 400},
		{"body over limit", e, `{"username":"dave","password":"` + strings.Repeat("p", 70<<10) + `"}`, "", 413},
		{"closed signup without admin", closed, map[string]string{"username": "bob", "password": "12345678"}, "", 403},
		{"closed signup with device-less bogus token", closed, map[string]string{"username": "bob", "password": "12345678"}, "nope", 403},
		{"closed signup with admin", closed, map[string]string{"username": "bob", "password": "12345678"}, adminToken, 201},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := c.env.do(t, "POST", "/v1/accounts", c.body, c.token)
			if res.code != c.want {
				t.Fatalf("got %d %s, want %d", res.code, res.body, c.want)
			}
			if c.want >= 400 {
				res.errorMessage(t)
			}
		})
	}
}

func TestRegisterDevice(t *testing.T) {
	e := startRelay(t, 1, 1000)
	if res := e.do(t, "POST", "/v1/accounts", map[string]string{"username": "bob", "password": "bobs password"}, ""); res.code != 201 {
		t.Fatal(res.code)
	}
	now := e.clock.Now()
	fresh := newIdentity(t)
	tampered := e.registration("ada", "correct horse", fresh, now)
	tampered["name"] = "renamed after signing"
	otherKey := e.registration("ada", "correct horse", fresh, now)
	otherKey["hpke_pub"] = newIdentity(t).HPKEPublic()
	shortKey := e.registration("ada", "correct horse", fresh, now)
	shortKey["sign_pub"] = []byte{1, 2, 3}
	cases := []struct {
		name string
		body any
		want int
	}{
		{"new device", e.registration("ada", "correct horse", newIdentity(t), now), 201},
		{"same device again", e.registration("ada", "correct horse", e.id, now), 201},
		{"wrong password", e.registration("ada", "wrong horse", newIdentity(t), now), 401},
		{"unknown user", e.registration("zed", "correct horse", newIdentity(t), now), 401},
		{"device of another account", e.registration("bob", "bobs password", e.id, now), 409},
		{"tampered name", tampered, 400},
		{"substituted hpke key", otherKey, 400},
		{"short sign key", shortKey, 400},
		{"stale proof", e.registration("ada", "correct horse", newIdentity(t), now.Add(-relay.ProofWindow-time.Second)), 400},
		{"future proof", e.registration("ada", "correct horse", newIdentity(t), now.Add(relay.ProofWindow+time.Second)), 400},
		{"edge of window", e.registration("ada", "correct horse", newIdentity(t), now.Add(-relay.ProofWindow)), 201},
		{"not json", "username=ada", 400},
		// The name is shown back to the account's devices (GET
		// /v1/licenses/devices): no control or bidirectional
		// formatting character, at most MaxDeviceName bytes.
		{"name with a newline", e.namedRegistration("ada", "correct horse", "phone\nlaptop", newIdentity(t), now), 400},
		{"name with a right-to-left override", e.namedRegistration("ada", "correct horse", "enohp\u202e", newIdentity(t), now), 400},
		{"name with a NUL", e.namedRegistration("ada", "correct horse", "phone\x00", newIdentity(t), now), 400},
		{"name over the limit", e.namedRegistration("ada", "correct horse", strings.Repeat("x", relay.MaxDeviceName+1), newIdentity(t), now), 400},
		{"name at the limit", e.namedRegistration("ada", "correct horse", strings.Repeat("é", relay.MaxDeviceName/2), newIdentity(t), now), 201},
		{"name in another script", e.namedRegistration("ada", "correct horse", "هاتف أدا", newIdentity(t), now), 201},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := e.do(t, "POST", "/v1/devices", c.body, "")
			if res.code != c.want {
				t.Fatalf("got %d %s, want %d", res.code, res.body, c.want)
			}
			if c.want != 201 {
				res.errorMessage(t)
				return
			}
			var out struct {
				DeviceID string `json:"device_id"`
				Token    string `json:"token"`
			}
			res.json(t, &out)
			if len(out.Token) != 43 {
				t.Errorf("token %q is not 32 bytes of base64url", out.Token)
			}
			if me := e.do(t, "GET", "/v1/me", nil, out.Token); me.code != 200 || !strings.Contains(string(me.body), out.DeviceID) {
				t.Errorf("new token: /v1/me %d %s", me.code, me.body)
			}
		})
	}
	t.Run("device id is derived from the signing key", func(t *testing.T) {
		res := e.do(t, "GET", "/v1/me", nil, e.token)
		var me struct {
			Device struct {
				ID string `json:"device_id"`
			} `json:"device"`
			Subscription string `json:"subscription"`
		}
		res.json(t, &me)
		if me.Device.ID != string(e.id.DeviceID()) || me.Subscription != relay.SubscriptionActive {
			t.Fatalf("me = %+v, want device %s active", me, e.id.DeviceID())
		}
	})
}

// TestTracksBatch: POST /v1/tracks/batch answers each id as GET
// /v1/tracks/{id} would, in order and with repeats, null where that
// answers 404 (unknown, malformed, over-long ids); an empty batch is 400,
// one over api.MaxTracksBatch 413, no token 401.
func TestTracksBatch(t *testing.T) {
	e := startRelay(t, 2, 1000)
	one := e.do(t, "GET", "/v1/tracks/tr1", nil, e.token)
	var want model.Track
	one.json(t, &want)
	ids := []model.TrackID{"tr1", "nope", "a/b", model.TrackID(strings.Repeat("x", 300)), "tr1"}
	res := e.do(t, "POST", "/v1/tracks/batch", api.TracksRequest{IDs: ids}, e.token)
	if res.code != 200 {
		t.Fatalf("batch: %d %s", res.code, res.body)
	}
	var got api.TracksResponse
	res.json(t, &got)
	if len(got.Tracks) != len(ids) {
		t.Fatalf("%d answers for %d ids: %s", len(got.Tracks), len(ids), res.body)
	}
	for i, tr := range got.Tracks {
		switch {
		case ids[i] == "tr1" && (tr == nil || !reflect.DeepEqual(*tr, want)):
			t.Errorf("answer %d: %+v, want %+v", i, tr, want)
		case ids[i] != "tr1" && tr != nil:
			t.Errorf("answer %d for %q: %+v, want null", i, ids[i], tr)
		}
	}
	many := make([]model.TrackID, api.MaxTracksBatch+1)
	for i := range many {
		many[i] = "tr1"
	}
	for _, c := range []struct {
		name  string
		body  any
		token string
		want  int
	}{
		{"empty", api.TracksRequest{}, e.token, 400},
		{"too many", api.TracksRequest{IDs: many}, e.token, 413},
		{"at the limit", api.TracksRequest{IDs: many[1:]}, e.token, 200},
		{"not JSON", "ids=tr1", e.token, 400},
		{"no token", api.TracksRequest{IDs: ids}, "", 401},
	} {
		if res := e.do(t, "POST", "/v1/tracks/batch", c.body, c.token, "Content-Type", "application/json"); res.code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, res.code, res.body, c.want)
		}
	}
}

func TestCatalogReads(t *testing.T) {
	e := startRelay(t, 2, 1000)
	cases := []struct {
		path string
		want int
		has  string
	}{
		{"/v1/tracks/tr1", 200, `"title":"Test Tone"`},
		{"/v1/albums/al1", 200, `"tracks":[{"id":"tr1"`},
		{"/v1/artists/ar1", 200, `"albums":[{"id":"al1"`},
		{"/v1/tracks/nope", 404, `"error":`},
		{"/v1/albums/nope", 404, `"error":`},
		{"/v1/artists/nope", 404, `"error":`},
		{"/v1/tracks/" + strings.Repeat("x", 300), 404, `"error":`},
		{"/v1/tracks/a%2Fb", 404, `"error":`},
		{"/v1/catalog/key", 200, `"key":`},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			res := e.do(t, "GET", c.path, nil, e.token)
			if res.code != c.want || !strings.Contains(string(res.body), c.has) {
				t.Fatalf("got %d %s, want %d containing %s", res.code, res.body, c.want, c.has)
			}
			if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}

func TestStreamKey(t *testing.T) {
	e := startRelay(t, 2, 1000)
	t.Run("unwraps to the published key", func(t *testing.T) {
		res := e.do(t, "POST", "/v1/keys/stream", map[string]string{"track": "tr1", "tier": "high"}, e.token)
		if res.code != 200 {
			t.Fatalf("%d %s", res.code, res.body)
		}
		var out api.StreamKeyResponse
		res.json(t, &out)
		k, err := e.id.UnwrapContentKey(crypto.StreamKeyInfo("tr1", model.TierHigh), out.Wrapped)
		if err != nil {
			t.Fatal(err)
		}
		if k != e.pub.key {
			t.Fatal("unwrapped key differs from the published one")
		}
		if !out.ServerTime.Equal(e.clock.Now()) {
			t.Errorf("server time %v, want %v", out.ServerTime, e.clock.Now())
		}
		if _, err := e.id.UnwrapContentKey(crypto.StreamKeyInfo("tr1", model.TierLow), out.Wrapped); err == nil {
			t.Error("wrapped key opened with another tier's info")
		}
		if _, err := newIdentity(t).UnwrapContentKey(crypto.StreamKeyInfo("tr1", model.TierHigh), out.Wrapped); err == nil {
			t.Error("another device opened the wrapped key")
		}
	})
	cases := []struct {
		name string
		body any
		want int
	}{
		{"unknown track", map[string]string{"track": "nope", "tier": "high"}, 404},
		{"tier not published", map[string]string{"track": "tr1", "tier": "low"}, 404},
		{"invalid tier", map[string]string{"track": "tr1", "tier": "ultra"}, 400},
		{"empty body", "", 400},
		{"track with slash", map[string]string{"track": "tr1/high", "tier": "high"}, 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := e.do(t, "POST", "/v1/keys/stream", c.body, e.token)
			if res.code != c.want {
				t.Fatalf("got %d %s, want %d", res.code, res.body, c.want)
			}
			res.errorMessage(t)
		})
	}
}

func TestMetrics(t *testing.T) {
	e := startRelay(t, 2, 1000)
	e.do(t, "GET", "/v1/audio/tr1/high/chunks/0", nil, e.token)
	cases := []struct {
		name  string
		token string
		want  int
	}{
		{"no token", "", 401},
		{"device token", e.token, 401},
		{"admin token", adminToken, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res := e.do(t, "GET", "/metrics", nil, c.token)
			if res.code != c.want {
				t.Fatalf("got %d, want %d", res.code, c.want)
			}
			if c.want != 200 {
				return
			}
			for _, want := range []string{
				`segue_relay_http_requests_total{code="200",method="GET",route="/v1/audio/:track/:tier/chunks/:i"} 1`,
				`segue_relay_response_bytes_total{route="/v1/audio/:track/:tier/chunks/:i"} 1000`,
				`segue_relay_http_request_duration_seconds_bucket`,
				`go_cpu_classes_gc_total_cpu_seconds_total`,
				`go_gc_gomemlimit_bytes`,
			} {
				if !strings.Contains(string(res.body), want) {
					t.Errorf("metrics lack %s", want)
				}
			}
		})
	}
	noAdmin := startRelay(t, 1, 10, func(o relay.Options) relay.Options { return o.WithAdminToken("") })
	if res := noAdmin.do(t, "GET", "/metrics", nil, ""); res.code != 401 {
		t.Fatalf("metrics without a configured admin token: %d", res.code)
	}
}

// TestMetricsInventedMethods sends 200 requests with made-up methods: the
// metrics count them all under method="OTHER" and grow by no series per
// method, so a client cannot inflate the relay's memory or /metrics.
func TestMetricsInventedMethods(t *testing.T) {
	e := startRelay(t, 1, 10)
	for i := range 200 {
		e.do(t, fmt.Sprintf("X%03d", i), "/v1/tracks/tr1", nil, e.token)
	}
	res := e.do(t, "GET", "/metrics", nil, adminToken)
	if res.code != 200 {
		t.Fatalf("metrics: %d", res.code)
	}
	if bytes.Contains(res.body, []byte(`method="X`)) {
		t.Fatal("an invented method became a metric label")
	}
	var n float64
	for line := range strings.Lines(string(res.body)) {
		if strings.HasPrefix(line, "segue_relay_http_requests_total{") && strings.Contains(line, `method="OTHER"`) {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				t.Fatal(err)
			}
			n += v
		}
	}
	if n != 200 {
		t.Fatalf("method=OTHER counts %v requests, want 200", n)
	}
}

func TestManifestVerifies(t *testing.T) {
	e := startRelay(t, 3, 1000)
	res := e.do(t, "GET", "/v1/audio/tr1/high/manifest", nil, e.token)
	if res.code != 200 || res.header.Get("Content-Type") != "application/cbor" {
		t.Fatalf("%d %s", res.code, res.header.Get("Content-Type"))
	}
	m, err := crypto.OpenManifest(ed25519.PublicKey(e.catPK), res.body)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Chunks) != 3 || m.TrackID != "tr1" || m.Tier != model.TierHigh {
		t.Fatalf("manifest %+v", m)
	}
	for i, ch := range m.Chunks {
		res := e.do(t, "GET", fmt.Sprintf("/v1/audio/tr1/high/chunks/%d", i), nil, e.token)
		if crypto.BlobHash(res.body) != ch.Blob.SHA256 {
			t.Errorf("chunk %d does not match its manifest hash", i)
		}
	}
}

package relay_test

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"testing"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
)

// TestDeviceCert: registration answers a certificate that verifies with
// the catalog key for the registering device's key and user, and GET
// /v1/devices/cert re-issues it; neither verifies for another device or
// under another catalog key.
func TestDeviceCert(t *testing.T) {
	e := startRelay(t, 1, 1000)
	if res := e.do(t, "POST", "/v1/accounts", map[string]string{"username": "bob", "password": "bobs password"}, adminToken); res.code != 201 {
		t.Fatalf("sign up bob: %d %s", res.code, res.body)
	}
	bobID := newIdentity(t)
	res := e.do(t, "POST", "/v1/devices", e.registration("bob", "bobs password", bobID, e.clock.Now()), "")
	if res.code != 201 {
		t.Fatalf("register bob: %d %s", res.code, res.body)
	}
	var reg struct {
		Token      string `json:"token"`
		CatalogKey []byte `json:"catalog_key"`
		Cert       []byte `json:"cert"`
	}
	res.json(t, &reg)
	again := e.do(t, "GET", "/v1/devices/cert", nil, reg.Token)
	if again.code != 200 {
		t.Fatalf("GET /v1/devices/cert: %d %s", again.code, again.body)
	}
	var refetched struct {
		Cert []byte `json:"cert"`
	}
	again.json(t, &refetched)
	adaCert := e.do(t, "GET", "/v1/devices/cert", nil, e.token)
	var ada struct {
		Cert []byte `json:"cert"`
	}
	adaCert.json(t, &ada)
	if noAuth := e.do(t, "GET", "/v1/devices/cert", nil, ""); noAuth.code != 401 {
		t.Fatalf("without token: %d", noAuth.code)
	}

	catalog := ed25519.PublicKey(reg.CatalogKey)
	rogue, _, _ := ed25519.GenerateKey(nil) // public key of another catalog
	cases := []struct {
		name    string
		catalog ed25519.PublicKey
		cert    []byte
		key     *crypto.Identity
		user    model.UserID
		ok      bool
	}{
		{"registration cert", catalog, reg.Cert, bobID, "bob", true},
		{"re-fetched cert", catalog, refetched.Cert, bobID, "bob", true},
		{"other user's device", catalog, ada.Cert, e.id, "ada", true},
		{"presented by another device", catalog, reg.Cert, e.id, "", false},
		{"under another catalog key", rogue, reg.Cert, bobID, "", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := crypto.VerifyDeviceCert(c.catalog, c.cert, c.key.SignPublic())
			if !c.ok {
				if !errors.Is(err, crypto.ErrBadDeviceCert) {
					t.Fatalf("err = %v, want ErrBadDeviceCert", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.User != c.user || got.Device != c.key.DeviceID() || got.Issued != e.clock.Now().UnixMilli() {
				t.Fatalf("cert = %+v, want user %s device %s issued %d", got, c.user, c.key.DeviceID(), e.clock.Now().UnixMilli())
			}
		})
	}
}

// TestLANKeys: POST /v1/devices/lan-keys answers the caller's own keys
// first (two epochs, TestLANKeyEpochs), then the keys it shares with each user asked for, the same key
// the other user's devices get; distinct pairs get distinct keys; a
// malformed user, too many users and a missing token are refused.
func TestLANKeys(t *testing.T) {
	e := startRelay(t, 1, 1000)
	if res := e.do(t, "POST", "/v1/accounts", map[string]string{"username": "bob", "password": "bobs password"}, adminToken); res.code != 201 {
		t.Fatalf("sign up bob: %d %s", res.code, res.body)
	}
	res := e.do(t, "POST", "/v1/devices", e.registration("bob", "bobs password", newIdentity(t), e.clock.Now()), "")
	if res.code != 201 {
		t.Fatalf("register bob: %d %s", res.code, res.body)
	}
	var reg struct {
		Token string `json:"token"`
	}
	res.json(t, &reg)
	keys := func(t *testing.T, token string, with ...model.UserID) map[model.UserID]string {
		t.Helper()
		res := e.do(t, "POST", "/v1/devices/lan-keys", api.LANKeysRequest{With: with}, token)
		if res.code != 200 {
			t.Fatalf("lan-keys: %d %s", res.code, res.body)
		}
		var out api.LANKeysResponse
		res.json(t, &out)
		m := map[model.UserID]string{}
		epochs := map[model.UserID]int{}
		for _, k := range out.Keys {
			if len(k.Key) != 32 {
				t.Fatalf("key of %s: %d bytes", k.User, len(k.Key))
			}
			if epochs[k.User]++; epochs[k.User] == 1 {
				m[k.User] = string(k.Key) // the current epoch's (TestLANKeyEpochs)
			}
		}
		for u, n := range epochs {
			if n != 2 {
				t.Fatalf("keys %+v: %d of %s, want 2 (two epochs)", out.Keys, n, u)
			}
		}
		return m
	}
	ada, bob := keys(t, e.token, "bob", "carol", "bob"), keys(t, reg.Token, "ada")
	if len(ada) != 3 || len(bob) != 2 {
		t.Fatalf("ada's keys %d, bob's %d", len(ada), len(bob))
	}
	if ada["bob"] != bob["ada"] {
		t.Fatal("ada and bob got different keys for each other")
	}
	distinct := map[string]bool{ada["ada"]: true, ada["bob"]: true, ada["carol"]: true, bob["bob"]: true}
	if len(distinct) != 4 {
		t.Fatal("two pairs of users share a key")
	}
	many := make([]model.UserID, api.MaxLANKeyUsers+1)
	for i := range many {
		many[i] = model.UserID(fmt.Sprintf("u%d", i))
	}
	for _, c := range []struct {
		name  string
		body  any
		token string
		code  int
	}{
		{"bad user", api.LANKeysRequest{With: []model.UserID{"../Bob"}}, e.token, 400},
		{"empty user", api.LANKeysRequest{With: []model.UserID{""}}, e.token, 400},
		{"too many users", api.LANKeysRequest{With: many}, e.token, 413},
		{"malformed body", "not an object", e.token, 400},
		{"no token", api.LANKeysRequest{}, "", 401},
	} {
		t.Run(c.name, func(t *testing.T) {
			if res := e.do(t, "POST", "/v1/devices/lan-keys", c.body, c.token); res.code != c.code {
				t.Fatalf("code %d %s, want %d", res.code, res.body, c.code)
			}
		})
	}
}

package relay_test

import (
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
)

// TestLibraryIDAssigned: signup binds a random library document id to
// the account; every registration of the account and GET /v1/me return
// it; another account gets another; neither is the id derived from the
// username (which anyone could have created first).
func TestLibraryIDAssigned(t *testing.T) {
	e := startRelay(t, 1, 16)
	library := func(user, pw string) string {
		t.Helper()
		res := e.do(t, "POST", "/v1/devices", e.registration(user, pw, newIdentity(t), e.clock.Now()), "")
		if res.code != 201 {
			t.Fatalf("register %s: %d %s", user, res.code, res.body)
		}
		var out struct{ Token, Library string }
		res.json(t, &out)
		me := e.do(t, "GET", "/v1/me", nil, out.Token)
		var m struct{ Library string }
		me.json(t, &m)
		if me.code != 200 || m.Library != out.Library {
			t.Fatalf("%s: /v1/me library %q (%d), registration %q", user, m.Library, me.code, out.Library)
		}
		return out.Library
	}
	ada := library("ada", "correct horse")
	if again := library("ada", "correct horse"); again != ada {
		t.Fatalf("ada's second device got library %s, first %s", again, ada)
	}
	if res := e.do(t, "POST", "/v1/accounts", map[string]string{"username": "bob", "password": "battery staple"}, adminToken); res.code != 201 {
		t.Fatalf("sign up bob: %d %s", res.code, res.body)
	}
	bob := library("bob", "battery staple")
	for user, id := range map[string]string{"ada": ada, "bob": bob} {
		parsed, err := docs.ParseDocumentID(id)
		if err != nil {
			t.Fatalf("%s's library %q: %v", user, id, err)
		}
		if parsed == docs.LibraryID(model.UserID(user)) {
			t.Fatalf("%s's library is the id derived from the username", user)
		}
	}
	if ada == bob {
		t.Fatal("ada and bob share a library id")
	}
}

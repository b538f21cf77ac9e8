package relay_test

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/segue-fm/segue/server/relay"
)

// TestDataDirGone: while the relay's data directory is moved away (or
// removed), a write is 503 relay.ErrStorageGone, naming no path, and
// nothing of it is stored; reads of what is cached go on; with the
// directory back the same write succeeds. Before, the relay answered 201
// to sign-ups whose commits went to files its next start did not find.
func TestDataDirGone(t *testing.T) {
	var dir string
	e := startRelayTB(t, func(d string) published { dir = d; return publishSynthetic(t, d, 1, 4096) }, nil)
	away := dir + ".away"
	if err := os.Rename(dir, away); err != nil {
		t.Fatal(err)
	}
	restored := false
	restore := func() {
		if !restored {
			restored = true
			if err := os.Rename(away, dir); err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(restore)
	account := map[string]string{"username": "grace", "password": "correct horse"}
	res := e.do(t, "POST", "/v1/accounts", account, adminToken)
	if res.code != http.StatusServiceUnavailable || res.errorMessage(t) != relay.ErrStorageGone.Error() || strings.Contains(string(res.body), dir) {
		t.Fatalf("sign-up with the data directory gone: %d %s, want 503 %q", res.code, res.body, relay.ErrStorageGone)
	}
	restore()
	if res := e.do(t, "POST", "/v1/accounts", account, adminToken); res.code != http.StatusCreated {
		t.Fatalf("the refused sign-up with the directory back: %d %s", res.code, res.body)
	}
}

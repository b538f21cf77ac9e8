package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/server/relay"
)

// TestAdminTokenEnvTooShort: a SEGUE_ADMIN_TOKEN that CheckAdminToken
// refuses is a usage error naming the flag and the variable, before the
// data directory is created; it used to start a relay whose admin routes
// took a one-character token.
func TestAdminTokenEnvTooShort(t *testing.T) {
	t.Setenv("SEGUE_ADMIN_TOKEN", "short")
	data := filepath.Join(t.TempDir(), "data")
	err := runRelay(context.Background(), []string{"-init", "-data", data, "-listen", "127.0.0.1:0"}, io.Discard, io.Discard)
	if !errors.Is(err, errUsage) || !errors.Is(err, relay.ErrWeakAdminToken) ||
		!strings.Contains(err.Error(), "--admin-token") || !strings.Contains(err.Error(), "SEGUE_ADMIN_TOKEN") {
		t.Fatalf("err %v, want a usage error naming --admin-token and SEGUE_ADMIN_TOKEN", err)
	}
}

// TestInitMakesAdminToken: segue relay --init without an admin token
// makes one (CheckAdminToken accepts it), prints it once after the
// listening line, and the relay takes it on /metrics; a wrong one is 401.
func TestInitMakesAdminToken(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- runRelay(ctx, []string{"-init", "-data", data, "-listen", "127.0.0.1:0", "-log-level", "warn"}, &out, &errOut)
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("segue relay: %v: %s", err, errOut.String())
		}
	})
	re := regexp.MustCompile(`(?s)relay listening on (http://\S+)\n.*admin token.*: (\S+)\n`)
	var m []string
	for deadline := time.Now().Add(20 * time.Second); m == nil; m = re.FindStringSubmatch(out.String()) {
		if time.Now().After(deadline) {
			t.Fatalf("no admin token printed: %q %s", out.String(), errOut.String())
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("segue relay ended: %v: %s", err, errOut.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	url, tok := m[1], m[2]
	if err := relay.CheckAdminToken(tok); err != nil {
		t.Fatalf("made token %q: %v", tok, err)
	}
	for _, c := range []struct {
		tok  string
		want int
	}{{tok, http.StatusOK}, {tok[:len(tok)-1], http.StatusUnauthorized}} {
		req, _ := http.NewRequest(http.MethodGet, url+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+c.tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("/metrics with %q: %d, want %d", c.tok, resp.StatusCode, c.want)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/server/social"
)

// lockedBuffer is a bytes.Buffer safe for a command writing while the
// test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSocialCommands: ada and bob follow each other with `segue follow`,
// ada's other device publishes a track, `segue friends` prints it for
// bob and `segue friends --follow` streams the next one; `segue private
// on` is reported; `segue share track` prints a link whose page answers
// and `segue share revoke` makes it 404; following, unfollowing or
// unblocking a user who does not exist fails alike; bad arguments exit 2
// saying why (a user name too long names the limit).
func TestSocialCommands(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
		social.NewForRelay(dd, srv, social.DefaultOptions().WithLogger(slog.New(slog.DiscardHandler))).Mount(srv)
	}))
	tmp := t.TempDir()
	t.Setenv("SEGUE_RELAY", r.URL)
	t.Setenv("SEGUE_PASSWORD", testbed.Password)
	as := func(user string, args ...string) segueResult {
		t.Helper()
		return segue(t, append([]string{args[0], "--data", filepath.Join(tmp, user), "--user", user, "--signup"}, args[1:]...)...)
	}
	must := func(res segueResult, want string) {
		t.Helper()
		if res.code != 0 || !strings.Contains(res.stdout, want) {
			t.Fatalf("exit %d, stdout %q lacks %q; stderr %s", res.code, res.stdout, want, res.stderr)
		}
	}
	for _, verb := range []string{"follow", "unfollow", "unblock"} {
		if res := as("ada", verb, "bob"); res.code != 1 || !strings.Contains(res.stderr, "no such user") {
			t.Fatalf("%s a user who does not exist: exit %d, stdout %q, stderr %s", verb, res.code, res.stdout, res.stderr)
		}
	}
	must(as("bob", "follow", "ada"), "followed ada")
	must(as("ada", "follow", "bob"), "followed bob")
	must(as("ada", "profile", "--name", "Ada L."), "Ada L. (ada) · 1 followers · 1 following\nactivity hidden: false")
	must(as("bob", "friends"), "no friend activity")

	adaPhone := testbed.Device(t, r, "ada")
	if err := adaPhone.PublishActivity(t.Context(), api.ActivityPost{Track: r.Tracks[0], Playing: true}); err != nil {
		t.Fatal(err)
	}
	must(as("bob", "friends"), `"Ada L." is playing`)

	ctx, cancel := context.WithCancel(t.Context())
	var out, errOut lockedBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"friends", "--follow", "--data", filepath.Join(tmp, "bob")}, &out, &errOut)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), string(r.Tracks[0])) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if err := adaPhone.PublishActivity(t.Context(), api.ActivityPost{Track: r.Tracks[1], Playing: true}); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(out.String(), string(r.Tracks[1])) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 || !strings.Contains(out.String(), string(r.Tracks[1])) {
		t.Fatalf("friends --follow: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}

	must(as("ada", "private", "on"), "private session on")
	must(as("ada", "private"), "private session on")
	must(as("ada", "private", "off"), "private session off")

	res := as("ada", "share", "track", string(r.Tracks[0]))
	must(res, r.URL+"/s/")
	link := strings.TrimSpace(res.stdout)
	resp, err := http.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("share page %s: %s", link, resp.Status)
	}
	must(as("ada", "share", "revoke", link[strings.LastIndex(link, "/")+1:]), "revoked")
	if resp, err = http.Get(link); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("revoked share page: %s", resp.Status)
	}

	long := strings.Repeat("a", 300)
	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"follow"}, "want one user name"},
		{[]string{"follow", "Not A User"}, `user name "Not A User": want lowercase letters`},
		{[]string{"follow", long}, "user name is too long: 300 bytes, at most 64"},
		{[]string{"unblock", ""}, "user name is empty"},
		{[]string{"profile", long}, "user name is too long: 300 bytes, at most 64"},
		{[]string{"private", "maybe"}, "want on or off"},
		{[]string{"share", "user", "ada"}, `unknown "user"`},
		{[]string{"share", "playlist", "nope"}, "nope"},
		{[]string{"friends", "extra"}, "unexpected arguments"},
		{[]string{"share", "invite", "--ttl", "-5s", "ZB8AcLQzNn5tVgKxLPWFpCuDDrL"}, "--ttl -5s: want 1s or more"},
		{[]string{"share", "invite", "--ttl", "500ms", "ZB8AcLQzNn5tVgKxLPWFpCuDDrL"}, "--ttl 500ms: want 1s or more"},
		{[]string{"share", "track", "--ttl", "1h", "t1"}, "--ttl goes with share invite"},
		{[]string{"offline", "--remove", ""}, "--remove is empty"},
		{[]string{"offline", "--tier", "low"}, "--tier goes with --remove"},
	} {
		if res := segue(t, append(c.args, "--data", filepath.Join(tmp, "ada"))...); res.code != 2 || !strings.Contains(res.stderr, c.says) {
			t.Errorf("segue %q: exit %d, stderr %q; want 2 saying %q", c.args, res.code, res.stderr, c.says)
		}
	}
}

package web_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/segue-fm/segue/internal/browsertest"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/server/search"
	"github.com/segue-fm/segue/server/web"
)

// TestBrowserTokenExpiry: on a relay whose device tokens live 10 s, a
// listener signs up in the page; once the token has expired, a search
// brings back the sign-in form with a clear message; signing in again
// reloads the page signed in as the same device, and search works.
func TestBrowserTokenExpiry(t *testing.T) {
	// Long enough for the page to reload and search after signing in
	// again on a loaded machine, short enough to wait out once.
	const ttl = 10 * time.Second
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithRelayOptions(func(o relay.Options) relay.Options {
		return o.WithTokenTTL(ttl)
	}).WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
		if _, err := search.MountForDataDir(t.Context(), dd, srv); err != nil {
			t.Errorf("mount search: %v", err)
		}
		web.Mount(srv.Echo())
	}))
	ctx := browsertest.New(t)
	step := pageSteps(t, ctx, 30*time.Second, `document.getElementById("account-msg").textContent + " | " + document.getElementById("results").textContent +
				" | account hidden " + document.getElementById("account").hidden + ", loggedIn " + (window.segueSession && window.segueSession.loggedIn) +
				", user " + document.getElementById("user").value + ", pass " + document.getElementById("pass").value.length + ", signup " + document.getElementById("signup").checked`)
	step("sign up", signInActions(r.URL, "shortlived", true, "#library")...)
	// The token was issued before the library showed: from here, ttl
	// later it has expired however long signing in took.
	signedIn := time.Now()
	device := run[string](t, ctx, `Promise.resolve(window.segueSession.deviceId)`)
	time.Sleep(time.Until(signedIn.Add(ttl + 500*time.Millisecond)))
	step("search", chromedp.SendKeys("#q", "segue demo"))
	step("submit search", chromedp.Click("#find button[type=submit]"))
	step("sign-in form again", chromedp.WaitVisible("#account"))
	msg := run[string](t, ctx, `Promise.resolve(document.getElementById("account-msg").textContent)`)
	if msg == "" {
		t.Fatal("no message when the session expired")
	}
	t.Logf("page says: %s", msg)
	step("password again", chromedp.SetValue("#pass", testbed.Password))
	step("sign in again", chromedp.Click("#login button[type=submit]"))
	// The page reloads after signing in again.
	step("reloaded signed in", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		for {
			if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!window.segueSession && window.segueSession.loggedIn && document.getElementById("account").hidden`)); err == nil && ok {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(100 * time.Millisecond):
			}
		}
	}))
	if again := run[string](t, ctx, `Promise.resolve(window.segueSession.deviceId)`); again != device {
		t.Fatalf("signing in again made another device: %s, was %s", again, device)
	}
	step("search after", chromedp.SendKeys("#q", "segue demo"))
	step("submit search after", chromedp.Click("#find button[type=submit]"))
	step("results", chromedp.WaitVisible("#results li button"))
}

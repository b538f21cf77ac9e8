package browsertest

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// DefaultTimeout bounds a browser's whole life in one test unless the
// test's own deadline is earlier.
const DefaultTimeout = 2 * time.Minute

// Flags are the command-line switches New passes to Chromium besides the
// user data directory. They are exported so a test that must start
// Chromium itself (a second browser, a different profile) uses the same.
var Flags = []string{
	"--headless",
	"--no-sandbox",
	"--disable-gpu",
	"--disable-quic",
	"--no-first-run",
	"--no-default-browser-check",
	"--disable-background-networking",
	"--disable-component-update",
	"--disable-sync",
	"--disable-extensions",
	"--mute-audio",
	"--autoplay-policy=no-user-gesture-required",
}

// Path returns the Chromium executable New would use, or "" when none is
// installed.
func Path() string {
	if p := os.Getenv("SEGUE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// New starts a headless Chromium with a fresh profile and returns a
// chromedp context for its first tab. The browser is closed when the test
// ends. Without Chromium the test is skipped (failed under CI=true).
func New(t testing.TB) context.Context {
	t.Helper()
	bin := Path()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("browsertest: chromium not found (install it with scripts/install-test-deps.sh or set SEGUE_CHROMIUM)")
		}
		t.Skip("browsertest: chromium not installed (scripts/install-test-deps.sh installs it)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	for _, f := range Flags {
		name, val := flagParts(f)
		opts = append(opts, chromedp.Flag(name, val))
	}
	parent := context.Background()
	if tc, ok := t.(interface{ Context() context.Context }); ok {
		parent = tc.Context()
	}
	// The test's own context is cancelled before Cleanup runs; the browser
	// must outlive it until our Cleanup so its shutdown is orderly.
	parent = context.WithoutCancel(parent)
	tctx, tcancel := context.WithTimeout(parent, DefaultTimeout)
	actx, acancel := chromedp.NewExecAllocator(tctx, opts...)
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	t.Cleanup(func() {
		cancel()
		acancel()
		tcancel()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("browsertest: start %s: %v", bin, err)
	}
	return ctx
}

// flagParts splits "--name=value" into chromedp's name and value ("--name"
// alone is true).
func flagParts(f string) (string, any) {
	f = f[2:]
	for i := 0; i < len(f); i++ {
		if f[i] == '=' {
			return f[:i], f[i+1:]
		}
	}
	return f, true
}

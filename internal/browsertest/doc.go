// Package browsertest starts a fresh headless Chromium for a test and
// hands back a chromedp context bound to it. It exists for tests only.
//
// New looks for Debian's chromium (installed by
// scripts/install-test-deps.sh) at /usr/bin/chromium, on PATH, or at the
// path in $SEGUE_CHROMIUM. When none is found the test is skipped with a
// message naming chromium, except under CI=true, where it fails: CI must
// run the browser tests.
//
// Each call gets its own --user-data-dir in t.TempDir(), so IndexedDB,
// caches and service workers never leak between tests, and the browser is
// killed at t.Cleanup. The flags are the ones this machine needs for a
// headless browser that plays audio without a user gesture and opens
// loopback connections (background networking, component updates and
// QUIC off).
//
//	ctx := browsertest.New(t)
//	var title string
//	if err := chromedp.Run(ctx, chromedp.Navigate(url), chromedp.Title(&title)); err != nil {
//		t.Fatal(err)
//	}
package browsertest

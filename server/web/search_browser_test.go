package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/segue-fm/segue/internal/browsertest"
)

// xssName is a playlist name that would run script if the page ever put
// a catalog or user string into HTML.
const xssName = `<img src=x onerror="document.title='pwned'">`

// TestBrowserSearchAsYouType drives the page's search box as a listener
// does, with the keyboard: typing "harbuor lig" (a swap in the first
// word, the second a prefix) shows the demo album's "Harbour Lights" with
// the matched ranges in <mark> elements, without pressing Search; Enter
// plays it. A playlist named like an HTML injection is found and shown
// as text (no element made from it, nothing run), and ↓ then Enter opens
// it. Offline (DevTools network emulation) the box says search needs the
// relay.
func TestBrowserSearchAsYouType(t *testing.T) {
	r := webRelay(t, &reference{})
	ctx := browsertest.New(t)
	step := pageSteps(t, ctx, 30*time.Second, `["account-msg", "results-msg", "pl-msg", "results"].map((id) => document.getElementById(id).textContent).join(" | ")`)
	step("sign up", signInActions(r.URL, "finder", true, "#library")...)

	// Typing alone searches (no submit); the typo and the prefix match.
	step("type a query with a typo", chromedp.SendKeys("#q", "harbuor lig"))
	// Results for partial text may show first (search as you type);
	// wait for the answer to the whole text.
	step("results while typing", chromedp.WaitVisible(`#results[data-query="harbuor lig"] li[data-kind="track"] button.hit`))
	type hit struct {
		Text   string   `json:"text"`
		Marks  []string `json:"marks"`
		ID     string   `json:"id"`
		Status string   `json:"status"`
	}
	top := run[hit](t, ctx, `Promise.resolve((() => {
		const li = document.querySelector('#results li[data-kind="track"]');
		const b = li.querySelector("button.hit");
		return {text: b.textContent, marks: [...b.querySelectorAll("mark")].map((m) => m.textContent), id: li.dataset.id,
			status: document.getElementById("results-msg").textContent};
	})())`)
	t.Logf("top track: %+v", top)
	if !strings.HasPrefix(top.Text, "Harbour Lights") || len(top.Marks) == 0 {
		t.Fatalf("typing %q: top track %q with marks %q, want Harbour Lights with the matched ranges marked", "harbuor lig", top.Text, top.Marks)
	}
	if !strings.Contains(strings.Join(top.Marks, "|"), "Harbour") || !strings.Contains(strings.Join(top.Marks, "|"), "Lig") {
		t.Fatalf("marks %q do not cover the matched words", top.Marks)
	}
	if top.Status == "" {
		t.Fatal("the results count was not announced (#results-msg is empty)")
	}
	first := run[string](t, ctx, `Promise.resolve(document.querySelector("#results li").dataset.id)`)
	if first != top.ID {
		t.Fatalf("the first result is %s, not the Harbour Lights track %s", first, top.ID)
	}

	// Enter in the box plays the top result.
	step("Enter", chromedp.SendKeys("#q", kb.Enter))
	step("playing", waitJS(`(() => { const st = window.segueSession.status(); return st.state === "playing" && st.track === `+jsString(top.ID)+`; })()`))
	run[any](t, ctx, `window.segueSession.stop()`)

	// A playlist named like markup: found by its words, shown as text.
	step("new playlist name", chromedp.SetValue("#pl-name", xssName))
	step("create playlist", chromedp.Click("#pl-new button[type=submit]"))
	step("playlist open", chromedp.WaitVisible("#pl-open"))
	deadline := time.Now().Add(20 * time.Second)
	for {
		// The relay indexes the playlist once the page's change has
		// synced: search again until it shows.
		step("clear", clearInput("q"))
		step("type the playlist's words", chromedp.SendKeys("#q", "img onerr"))
		found, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`new Promise((ok) => setTimeout(() => ok(!!document.querySelector('#results[data-query="img onerr"] li[data-kind="playlist"]')), 1000))`, chromedp.EvalAwaitPromise))
		if found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the page's playlist never appeared in search")
		}
	}
	type shown struct {
		Text   string   `json:"text"`
		Marks  []string `json:"marks"`
		Elems  int      `json:"elems"`
		Images int      `json:"images"`
		Title  string   `json:"title"`
	}
	pl := run[shown](t, ctx, `Promise.resolve((() => {
		const b = document.querySelector('#results li[data-kind="playlist"] button.hit');
		return {text: b.textContent, marks: [...b.querySelectorAll("mark")].map((m) => m.textContent),
			elems: b.querySelectorAll(":not(mark)").length, images: document.querySelectorAll("img").length, title: document.title};
	})())`)
	t.Logf("playlist result: %+v", pl)
	if pl.Text != xssName+" (playlist)" || pl.Elems != 0 || pl.Images != 0 || pl.Title != "Segue" {
		t.Fatalf("the playlist named %q shows as %q (%d non-mark elements, %d images, title %q), want its name as text", xssName, pl.Text, pl.Elems, pl.Images, pl.Title)
	}
	if len(pl.Marks) < 2 {
		t.Fatalf("marks %q: want img and onerr marked", pl.Marks)
	}

	// Keyboard: ↓ moves to the results, Enter on the playlist opens it.
	step("close the playlist", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("pl-open").hidden = true`))
		return err
	}))
	step("down to the results", chromedp.SendKeys("#q", kb.ArrowDown))
	step("down to the playlist", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		for range 20 {
			onPlaylist, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.activeElement.closest('#results li[data-kind="playlist"]') !== null`))
			if err != nil || onPlaylist {
				return err
			}
			if _, err := chromedp.Run(ctx, chromedp.KeyEvent(kb.ArrowDown)); err != nil {
				return err
			}
		}
		return fmt.Errorf("↓ never reached the playlist result")
	}))
	step("open with Enter", chromedp.KeyEvent(kb.Enter))
	step("playlist opened", chromedp.WaitVisible("#pl-open"))
	if got := run[string](t, ctx, `Promise.resolve(document.getElementById("pl-title").textContent)`); got != xssName {
		t.Fatalf("opened playlist titled %q, want %q", got, xssName)
	}

	// Offline: no invented results, the reason instead.
	step("offline", chromedp.Func(goOffline))
	step("clear offline", clearInput("q"))
	step("type offline", chromedp.SendKeys("#q", "harbour"))
	step("offline message", waitJS(`document.getElementById("results-msg").textContent === "Offline: search needs the relay." && !document.querySelector("#results li")`))
}

// waitJS polls a JavaScript boolean expression every 50 ms until it is
// true or the step's deadline passes.
func waitJS(expr string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		for {
			ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
			if err == nil && ok {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("waiting for %s: %w (last error %v)", expr, ctx.Err(), err)
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string { return fmt.Sprintf("%q", s) }

// clearInput empties the input with that id (chromedp's SetValue takes
// an empty value for a failure).
func clearInput(id string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const el = document.getElementById(`+jsString(id)+`); if (!el) return false; el.value = ""; return true; })()`))
		if err == nil && !ok {
			err = fmt.Errorf("no input #%s", id)
		}
		return err
	})
}

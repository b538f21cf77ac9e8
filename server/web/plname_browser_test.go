package web_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/segue-fm/segue/internal/browsertest"
	"github.com/segue-fm/segue/sync/docs"
)

// TestBrowserPlaylistNameRules: the page's playlists module creates and
// renames a playlist only with a name every Segue device may write
// (docs.CheckName: valid UTF-8, at most 256 bytes, no control or
// bidirectional formatting character) and refuses the rest, naming why.
// Before, it counted at most 200 UTF-16 code units and nothing else, so
// the page wrote names native devices refuse to write: 600-byte names,
// a right-to-left override that reverses what is shown after it, a bell,
// a lone surrogate (stored as U+FFFD).
func TestBrowserPlaylistNameRules(t *testing.T) {
	const loneSurrogate = "<lone surrogate>"
	r := webRelay(t, &reference{})
	page := browsertest.New(t)
	step := pageSteps(t, page, 30*time.Second, accountMsgs)
	step("sign up in the page", signInActions(r.URL, "namer", true, "#playlists")...)
	step("playlists open", chromedp.Poll[chromedp.Void](`!!window.seguePlaylistStore`))
	names := []string{
		"Road trip", strings.Repeat("語", 85), strings.Repeat("a", 256), "  trimmed  ",
		strings.Repeat("語", 86), strings.Repeat("a", 257), "\u202eevil", "a\u0007b", "tab\there", "x\u2066y", loneSurrogate, "", "   ",
	}
	type outcome struct {
		Created string `json:"created"`
		Renamed string `json:"renamed"`
	}
	js, err := json.Marshal(names)
	if err != nil {
		t.Fatal(err)
	}
	// A Go string cannot hold a lone surrogate; the page makes it.
	got := run[[]outcome](t, page, fmt.Sprintf(`(async () => {
		const pl = window.seguePlaylistStore, names = %s.map((n) => n === %q ? "\ud800" : n);
		const id = pl.create("to rename"), out = [];
		for (const n of names) {
			const o = {};
			try { pl.create(n); o.created = "ok"; } catch (e) { o.created = String(e.message || e); }
			try { await pl.rename(id, n); o.renamed = "ok"; } catch (e) { o.renamed = String(e.message || e); }
			out.push(o);
		}
		return out;
	})()`, js, loneSurrogate))
	for i, n := range names {
		want := "ok"
		if err := docs.CheckName(strings.TrimSpace(n)); err != nil || strings.TrimSpace(n) == "" || n == loneSurrogate {
			want = "refused"
		}
		for _, g := range []string{got[i].Created, got[i].Renamed} {
			if (g == "ok") != (want == "ok") || (g != "ok" && !strings.HasPrefix(g, "playlists: ")) {
				t.Errorf("name %+.40q: create %q, rename %q; want %s", n, got[i].Created, got[i].Renamed, want)
				break
			}
		}
	}
}

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/segue-fm/segue/server/search"
)

func init() {
	register("search", "search the relay's catalog (tracks, albums, artists) with typo tolerance; matches are [bracketed]", runSearch)
}

// maxSearchAnswer bounds the relay's answer to a search.
const maxSearchAnswer = 1 << 20

// runSearch is `segue search [--type track,album,artist] [--limit N]
// QUERY...`: GET /v1/search as this device, one ranked result a line.
func runSearch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("search", flag.ContinueOnError)
	fs.SetOutput(stderr)
	da := addDeviceFlags(fs)
	types := fs.String("type", "", "comma-separated kinds to search: track, album, artist (default all)")
	limit := fs.Int("limit", search.DefaultLimit, fmt.Sprintf("results to print (1 to %d)", search.MaxLimit))
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: segue search [--type track,album,artist] [--limit N] [flags] QUERY...")
		fs.PrintDefaults()
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	query := strings.Join(pos, " ")
	switch {
	case strings.TrimSpace(query) == "":
		return fmt.Errorf("%w: give a QUERY", errUsage)
	case *limit < 1 || *limit > search.MaxLimit:
		return fmt.Errorf("%w: --limit %d: want 1 to %d", errUsage, *limit, search.MaxLimit)
	}
	for _, k := range strings.Split(*types, ",") {
		if k != "" && (!search.Kind(k).Valid() || search.Kind(k) == search.KindPlaylist) {
			return fmt.Errorf("%w: --type %q: want track, album or artist", errUsage, k)
		}
	}
	dev, err := da.open(ctx)
	if err != nil {
		return err
	}
	defer dev.close()
	v := url.Values{"q": {query}, "limit": {strconv.Itoa(*limit)}}
	if *types != "" {
		v.Set("types", *types)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(da.relay, "/")+"/v1/search?"+v.Encode(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+dev.e.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("search: %w", err)
	}
	defer resp.Body.Close()
	body := io.LimitReader(resp.Body, maxSearchAnswer)
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		_ = json.NewDecoder(body).Decode(&e)
		return fmt.Errorf("search: relay answered %s: %s", resp.Status, e.Error)
	}
	var res search.ResponseJSON
	if err := json.NewDecoder(body).Decode(&res); err != nil {
		return fmt.Errorf("search: undecodable answer: %w", err)
	}
	printSearch(stdout, res)
	return nil
}

// printSearch prints one line per result: rank, kind, the title, artists
// and album with the matched ranges in brackets, and the id (plus the
// audio id of an imported track that has audio).
func printSearch(w io.Writer, res search.ResponseJSON) {
	if len(res.Results) == 0 {
		fmt.Fprintf(w, "no results for %q\n", res.Query)
		return
	}
	for i, r := range res.Results {
		marks := map[string][][2]int{}
		for _, h := range r.Highlights {
			f := h.Field
			if f == "artists" {
				f += strconv.Itoa(h.Index)
			}
			marks[f] = append(marks[f], [2]int{h.Start, h.End})
		}
		line := highlight(r.Title, marks["title"])
		var artists []string
		for k, a := range r.Artists {
			artists = append(artists, highlight(a, marks["artists"+strconv.Itoa(k)]))
		}
		if len(artists) > 0 {
			line += " — " + strings.Join(artists, ", ")
		}
		if r.Album != "" {
			line += " · " + highlight(r.Album, marks["album"])
		}
		id := r.ID
		if r.Audio != "" && r.Audio != r.ID {
			id += " audio " + r.Audio
		}
		fmt.Fprintf(w, "%2d. %-6s %s  (%s)\n", i+1, r.Kind, line, id)
	}
	fmt.Fprintf(w, "%d of %d matches\n", len(res.Results), res.Total)
}

// highlight brackets the byte ranges of s (sorted, within s, not
// overlapping, as the relay sends them); ranges that are not are
// ignored.
func highlight(s string, ranges [][2]int) string {
	var b strings.Builder
	at := 0
	for _, r := range ranges {
		if r[0] < at || r[1] <= r[0] || r[1] > len(s) {
			continue
		}
		b.WriteString(s[at:r[0]])
		b.WriteString("[" + s[r[0]:r[1]] + "]")
		at = r[1]
	}
	b.WriteString(s[at:])
	return b.String()
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/searchindex"
)

func init() {
	register("search", "search the catalog (tracks, albums, artists, playlists) with typo tolerance, this device's offline index without a relay; matches are [bracketed]", runSearch)
}

// runSearch is `segue search [--type track,album,artist,playlist]
// [--limit N] [--offline] QUERY...`: Engine.Search as this device, one
// ranked result a line. Without a relay (or with --offline) it searches
// what this device holds and says so on stderr. The device's offline
// index is first brought up to date with the account's documents.
func runSearch(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("search", flag.ContinueOnError)
	fs.SetOutput(stderr)
	da := addDeviceFlags(fs)
	types := fs.String("type", "", "comma-separated kinds to search: track, album, artist, playlist (default all)")
	limit := fs.Int("limit", api.SearchDefaultLimit, fmt.Sprintf("results to print (1 to %d)", api.SearchMaxLimit))
	offline := fs.Bool("offline", false, "search only what this device holds (downloads, library, playlists, recent plays), without asking the relay")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: segue search [--type track,album,artist,playlist] [--limit N] [--offline] [flags] QUERY...")
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
	case *limit < 1 || *limit > api.SearchMaxLimit:
		return fmt.Errorf("%w: --limit %d: want 1 to %d", errUsage, *limit, api.SearchMaxLimit)
	}
	var kinds []string
	for _, k := range strings.Split(*types, ",") {
		if k == "" {
			continue
		}
		if !searchindex.Kind(k).Valid() {
			return fmt.Errorf("%w: --type %q: want track, album, artist or playlist", errUsage, k)
		}
		kinds = append(kinds, k)
	}
	dev, err := da.open(ctx)
	if err != nil {
		return err
	}
	defer dev.closeInto(&err)
	// The offline index follows the account's documents: bring it up to
	// date with the playlists and library as they are now (edited here,
	// synced, or received from a LAN peer since the last command).
	if dev.user != "" {
		d, err := dev.docs(ctx)
		if err == nil {
			_, err = dev.e.RefreshSearchIndex(ctx, d)
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			fmt.Fprintf(stderr, "note: offline index not brought up to date with your playlists and library: %v\n", err)
		}
	}
	opts := core.DefaultSearchOptions().WithKinds(kinds...).WithLimit(*limit).WithOffline(*offline)
	res, err := dev.e.Search(ctx, query, opts)
	if err != nil {
		if errors.Is(err, core.ErrBadQuery) {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		return err
	}
	switch {
	case res.Unreachable != nil:
		// One line: the failed requests are the engine's warnings
		// (--log-level warn).
		fmt.Fprintf(stderr, "note: no relay answered at %s; results from this device's offline index\n", da.relay)
	case res.Offline:
		fmt.Fprintln(stderr, "note: results from this device's offline index (the relay was not asked)")
	}
	printSearch(stdout, res)
	return nil
}

// printSearch prints one line per result: rank, kind, the title, artists
// and album with the matched ranges in brackets, and the id (plus the
// audio id of an imported track that has audio); a hit this device holds
// is marked "* ", a downloaded track "↓ ".
func printSearch(w io.Writer, res core.SearchResults) {
	if len(res.Hits) == 0 {
		fmt.Fprintf(w, "no results for %q\n", res.Query)
		return
	}
	for i, r := range res.Hits {
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
		mark := ""
		switch {
		case r.Downloaded:
			mark = "↓ "
		case r.Local:
			mark = "* "
		}
		fmt.Fprintf(w, "%2d. %-6s %s%s  (%s)\n", i+1, r.Kind, mark, shown(line), shown(id))
	}
	fmt.Fprintf(w, "%d of %d matches\n", len(res.Hits), res.Total)
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

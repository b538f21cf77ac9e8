package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/internal/catalogen"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/metadata"
	"github.com/segue-fm/segue/server/search"
	"github.com/segue-fm/segue/store/badgerstore"
)

func init() {
	register("catalog", "import catalog metadata (JSON Lines) into a relay, or generate a large test catalog", runCatalog)
}

const catalogUsage = `usage: segue catalog import (--data DIR | --relay URL --admin-token TOKEN) FILE.jsonl
       segue catalog generate [--tracks N] [--seed S] FILE.jsonl`

func runCatalog(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || isHelpFlag(args[0]) {
		fmt.Fprintln(stderr, catalogUsage)
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	switch args[0] {
	case "import":
		return runCatalogImport(ctx, args[1:], stdout, stderr)
	case "generate":
		return runCatalogGenerate(ctx, args[1:], stdout, stderr)
	}
	return fmt.Errorf("%w: unknown catalog command %q\n%s", errUsage, args[0], catalogUsage)
}

// runCatalogImport is `segue catalog import`: into a data directory
// (the relay not running on it) or through a running relay's admin
// route.
func runCatalogImport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("catalog import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, catalogUsage); fs.PrintDefaults() }
	data := fs.String("data", "", "relay data directory (must exist); not while a relay runs on it")
	relayURL := fs.String("relay", "", "import through this running relay instead")
	admin := fs.String("admin-token", envOr("SEGUE_ADMIN_TOKEN", ""), "the relay's admin token, with --relay (env SEGUE_ADMIN_TOKEN)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	switch {
	case len(pos) != 1:
		return fmt.Errorf("%w: give one FILE.jsonl", errUsage)
	case (*data == "") == (*relayURL == ""):
		return fmt.Errorf("%w: give either --data or --relay", errUsage)
	case *relayURL != "" && *admin == "":
		return fmt.Errorf("%w: --relay needs --admin-token (or SEGUE_ADMIN_TOKEN)", errUsage)
	}
	file := pos[0]
	var rep metadata.Report
	if *relayURL != "" {
		rep, err = importThroughRelay(ctx, *relayURL, *admin, file)
	} else {
		rep, err = importIntoDataDir(ctx, *data, file)
	}
	for _, le := range rep.Errors {
		fmt.Fprintf(stderr, "%s:%d: %s\n", file, le.Line, le.Err)
	}
	if n := rep.ErrorCount - len(rep.Errors); n > 0 {
		fmt.Fprintf(stderr, "… and %d more invalid lines\n", n)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "imported %d artists, %d albums, %d tracks\n", rep.Artists, rep.Albums, rep.Tracks)
	return nil
}

func importIntoDataDir(ctx context.Context, dir, file string) (metadata.Report, error) {
	dd, err := catalog.OpenDataDir(ctx, dir)
	if errors.Is(err, badgerstore.ErrLocked) {
		return metadata.Report{}, fmt.Errorf("%w: is `segue relay` running on %s? Import through it: segue catalog import --relay URL --admin-token TOKEN %s", err, dir, file)
	}
	if err != nil {
		return metadata.Report{}, err
	}
	defer dd.Close()
	im := search.NewStoreImporter(dd.Store, metadata.DefaultOptions())
	if _, err := im.Recover(ctx); err != nil {
		return metadata.Report{}, err
	}
	return im.ImportFile(ctx, file)
}

// maxImportAnswer bounds the relay's answer to an import (1 MiB; a
// relay lists at most the first 100 invalid lines).
const maxImportAnswer = 1 << 20

func importThroughRelay(ctx context.Context, base, token, file string) (metadata.Report, error) {
	f, err := os.Open(file)
	if err != nil {
		return metadata.Report{}, err
	}
	defer f.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(base, "/")+search.AdminImportPath, f)
	if err != nil {
		return metadata.Report{}, err
	}
	if st, err := f.Stat(); err == nil {
		req.ContentLength = st.Size()
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return metadata.Report{}, fmt.Errorf("catalog import: %w", err)
	}
	defer resp.Body.Close()
	body, err := fetch.ReadBody(resp.Body, maxImportAnswer)
	if err != nil {
		return metadata.Report{}, fmt.Errorf("catalog import: %s: %w", resp.Status, err)
	}
	if resp.StatusCode != http.StatusOK {
		var out search.ImportResponse
		if json.Unmarshal(body, &out) != nil || out.Error == "" {
			return metadata.Report{}, fmt.Errorf("catalog import: relay answered %s", resp.Status)
		}
		return out.Report, fmt.Errorf("catalog import: %s: %s", resp.Status, out.Error)
	}
	rep, err := decodeImportAnswer(body)
	if err != nil {
		return metadata.Report{}, fmt.Errorf("catalog import: %w (is %s a Segue relay?): %w", core.ErrBadResponse, base, err)
	}
	return rep, nil
}

// decodeImportAnswer reads a relay's 200 answer to an import: a JSON
// object holding the three counts (0 when nothing of a kind was
// imported, never absent or null), nothing after it.
func decodeImportAnswer(body []byte) (metadata.Report, error) {
	var counts struct {
		Artists *int `json:"artists"`
		Albums  *int `json:"albums"`
		Tracks  *int `json:"tracks"`
	}
	if err := json.Unmarshal(body, &counts); err != nil {
		return metadata.Report{}, fmt.Errorf("decode answer: %w", err)
	}
	for _, c := range []*int{counts.Artists, counts.Albums, counts.Tracks} {
		switch {
		case c == nil:
			return metadata.Report{}, errors.New("the answer lacks its artists, albums and tracks counts")
		case *c < 0:
			return metadata.Report{}, fmt.Errorf("the answer counts %d of a kind", *c)
		}
	}
	var out search.ImportResponse
	if err := json.Unmarshal(body, &out); err != nil {
		return metadata.Report{}, fmt.Errorf("decode answer: %w", err)
	}
	return out.Report, nil
}

// runCatalogGenerate is `segue catalog generate`: the file is written
// under a temporary name and renamed into place once complete, so an
// interrupted or failed run leaves the path as it was.
func runCatalogGenerate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("catalog generate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, catalogUsage); fs.PrintDefaults() }
	tracks := fs.Int("tracks", 1_000_000, "tracks to generate (artists: a tenth)")
	seed := fs.Uint64("seed", 1, "generator seed (the same seed gives the same file)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: give one output FILE.jsonl", errUsage)
	}
	if *tracks < 1 || *tracks > 20_000_000 {
		return fmt.Errorf("%w: --tracks %d: want 1 to 20000000", errUsage, *tracks)
	}
	p, err := createPending(pos[0])
	if err != nil {
		return err
	}
	defer p.Discard()
	c := catalogen.Generate(*seed, *tracks)
	if err := catalogen.WriteJSONL(ctx, p, c); err != nil {
		return fmt.Errorf("write %s: %w", pos[0], err)
	}
	if err := p.Commit(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %d artists, %d albums, %d tracks to %s\n", len(c.Artists), len(c.Albums), len(c.Tracks), pos[0])
	return nil
}

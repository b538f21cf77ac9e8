package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/server/fraud"
	"github.com/segue-fm/segue/server/royalties"
)

func init() {
	register("royalties", "write a month's pro-rata royalty statements per track and per rights holder (CSV and JSON) from counted streams", runRoyalties)
}

// runRoyalties implements `segue royalties --data DIR --month YYYY-MM
// --pool AMOUNT --currency CUR [--out DIR]`: it writes
// statement-<month>.csv and .json with the pool split pro rata over the
// month's counted streams per track, and statement-<month>-holders.csv
// and .json split per rights holder by the tracks' ingested rights (each
// file complete or absent), exact in the currency's minor unit
// (server/royalties documents the rounding rules). With --by-country it
// also writes statement-<month>-countries.csv and .json
// (royalties.ComputeCountries). Unless --unscanned, it refuses a month
// whose counted streams the fraud scan has not all checked (fraud.Covers:
// never scanned, or streams counted after its last scan); with it, such
// a statement says "unscanned": true. --out is created (with its parents) when
// missing, once the statements are computed.
func runRoyalties(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("royalties", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := relayDataFlag(fs)
	month := fs.String("month", "", "statement month, YYYY-MM (UTC)")
	pool := fs.String("pool", "", "revenue pool to split, a decimal with at most as many fraction digits as the currency's minor unit (1000000.00 EUR, 1000000 JPY, 1000000.000 BHD)")
	currency := fs.String("currency", "", "active ISO 4217 currency code, e.g. EUR, USD, JPY; amounts are exact in its minor unit")
	out := fs.String("out", ".", "directory to write statement-<month>.csv and .json into (created when missing)")
	unscanned := fs.Bool("unscanned", false, "pay the counted streams even when the month's fraud scan has not checked them all (never scanned, or plays counted since its last scan); without it the run refuses")
	byCountry := fs.Bool("by-country", false, "also write statement-<month>-countries.csv and .json: every track's amount split over the countries its streams were counted in")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: segue royalties --data DIR --month YYYY-MM --pool AMOUNT --currency CUR [--out DIR] [--by-country] [--unscanned]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() != 0 || *data == "" {
		fs.Usage()
		return fmt.Errorf("%w: --data is required and no arguments are taken", errUsage)
	}
	if err := monthArg(*month); err != nil {
		return err
	}
	cur, err := royalties.ParseCurrency(*currency)
	if err != nil {
		return fmt.Errorf("%w: --currency: %w", errUsage, err)
	}
	minor, err := royalties.ParsePool(*pool, cur)
	if err != nil {
		return fmt.Errorf("%w: --pool: %w", errUsage, err)
	}
	if fi, err := os.Stat(*out); err == nil && !fi.IsDir() {
		return fmt.Errorf("%w: --out %s is not a directory", errUsage, *out)
	}
	dd, err := openRelayData(ctx, *data)
	if err != nil {
		return err
	}
	defer dd.Close()
	// The consumer's position first: streams counted after it are not in
	// streams, and the scan check covers every stream that is.
	pos, err := counting.New(dd.Store, events.NewStoreLog(dd.Store), nil, nil, counting.DefaultOptions().WithLogger(nil)).Position(ctx)
	if err != nil {
		return err
	}
	streams, err := counting.MonthStreams(ctx, dd.Store, *month)
	if err != nil {
		return err
	}
	var unchecked error // what the fraud scan has not checked, paid with --unscanned
	if len(streams) > 0 {
		switch err := fraud.Covers(ctx, dd.Store, events.NewStoreLog(dd.Store), *month, pos); {
		case (errors.Is(err, fraud.ErrNotScanned) || errors.Is(err, fraud.ErrStale)) && !*unscanned:
			return fmt.Errorf("%w: run segue fraud scan --data %s --month %s first, or pass --unscanned to pay streams no scan has checked", err, *data, *month)
		case errors.Is(err, fraud.ErrNotScanned) || errors.Is(err, fraud.ErrStale):
			unchecked = err
		case err != nil:
			return err
		}
	}
	held, err := flaggedStreams(ctx, dd.Store, *month)
	if err != nil {
		return err
	}
	st, h, err := royalties.ComputeHeld(*month, cur, minor, streams, held)
	if err != nil {
		return err
	}
	// Rights holders share the same pool over the same streams: the
	// flagged accounts' streams are held out of both.
	net := make(map[model.TrackID]uint64, len(st.Tracks))
	for _, l := range st.Tracks {
		net[l.Track] = l.Streams
	}
	rights, err := trackRights(ctx, dd.Catalog, net)
	if err != nil {
		return err
	}
	hs := royalties.ComputeHolders(*month, cur, minor, net, rights)
	js, err := json.MarshalIndent(heldStatement{st, heldOrNil(h), unchecked != nil}, "", "  ")
	if err != nil {
		return err
	}
	hjs, err := json.MarshalIndent(hs, "", "  ")
	if err != nil {
		return err
	}
	base := filepath.Join(*out, "statement-"+*month)
	files := []outFile{{base + ".csv", st.CSV()}, {base + ".json", append(js, '\n')},
		{base + "-holders.csv", hs.CSV()}, {base + "-holders.json", append(hjs, '\n')}}
	if len(held) > 0 {
		files = append(files, outFile{base + "-held.csv", h.CSV(*month)})
	}
	var cs royalties.CountryStatement
	if *byCountry {
		if cs, err = countryStatement(ctx, dd.Store, st, held); err != nil {
			return err
		}
		cjs, err := json.MarshalIndent(cs, "", "  ")
		if err != nil {
			return err
		}
		files = append(files, outFile{base + "-countries.csv", cs.CSV()}, outFile{base + "-countries.json", append(cjs, '\n')})
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("create --out directory: %w", err)
	}
	if err := writeFilesAtomic(files); err != nil {
		return err
	}
	// No stale hold-out list or country split from an earlier run: they
	// would disagree with this statement.
	var stale []string
	if len(held) == 0 {
		stale = append(stale, base+"-held.csv")
	}
	if !*byCountry {
		stale = append(stale, base+"-countries.csv", base+"-countries.json")
	}
	for _, f := range stale {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	fmt.Fprintf(stdout, "%s: %d streams, pool %s %s over %d tracks and %d rights holders (%d tracks without rights) → %s{,-holders}.{csv,json}\n",
		*month, st.Streams, st.Pool, cur, len(st.Tracks), len(hs.Holders), hs.UnassignedTracks, base)
	if *byCountry {
		fmt.Fprintf(stdout, "%s: split over %d countries → %s-countries.{csv,json}\n", *month, len(cs.Countries), base)
	}
	if len(held) > 0 {
		fmt.Fprintf(stdout, "%s: %d streams of %d accounts flagged for fraud held out of the pool → %s-held.csv\n", *month, h.Streams, len(held), base)
	}
	if unchecked != nil {
		fmt.Fprintf(stderr, "warning: %v: paid with --unscanned (\"unscanned\": true in %s.json)\n", unchecked, base)
	}
	return nil
}

// trackRights reads the rights of every streamed track from the catalog;
// a track no longer in the catalog has none (its money is unassigned).
func trackRights(ctx context.Context, cat *catalog.Catalog, streams map[model.TrackID]uint64) (map[model.TrackID][]model.RightsShare, error) {
	rights := make(map[model.TrackID][]model.RightsShare, len(streams))
	for id := range streams {
		tr, err := cat.Track(ctx, id)
		switch {
		case errors.Is(err, catalog.ErrNotFound):
		case err != nil:
			return nil, fmt.Errorf("track %s: %w", id, err)
		default:
			rights[id] = tr.Rights
		}
	}
	return rights, nil
}

// writeFileAtomic writes b to path through a temporary file renamed into
// place (createPending), so path is either complete or untouched.
func writeFileAtomic(path string, b []byte) error {
	return writeFilesAtomic([]outFile{{path, b}})
}

// outFile is one output file and its bytes.
type outFile struct {
	path string
	b    []byte
}

// writeFilesAtomic writes every file through a temporary file
// (createPending) and renames them into place only once all are
// written, so a failure to create or write any (a path that is a
// directory, a full disk) leaves every path as it was: not a new
// statement beside a missing or older holders file. The renames are not
// one step: a crash between them can still leave some files new.
func writeFilesAtomic(files []outFile) error {
	ps := make([]*pendingFile, 0, len(files))
	defer func() {
		for _, p := range ps {
			p.Discard()
		}
	}()
	for _, f := range files {
		p, err := createPending(f.path)
		if err != nil {
			return err
		}
		ps = append(ps, p)
		if _, err := p.Write(f.b); err != nil {
			return fmt.Errorf("write %s: %w", f.path, err)
		}
	}
	for _, p := range ps {
		if err := p.Commit(); err != nil {
			return err
		}
	}
	return nil
}

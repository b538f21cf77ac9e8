package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/safetext"
	"github.com/segue-fm/segue/internal/strictjson"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/server/fraud"
)

func init() {
	register("fraud", "score a month's accounts for streaming fraud and store the flags royalties hold out", runFraud)
}

// maxAccountsFile bounds the --accounts file.
const maxAccountsFile = 64 << 20

// runFraud implements `segue fraud scan --data DIR --month YYYY-MM
// [--accounts FILE]`: it scores every account with plays in the month
// from the relay's event log and replaces the month's flags (fraud/…
// keys), printing each flagged account with its explanation.
func runFraud(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fraud", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := relayDataFlag(fs)
	month := fs.String("month", "", "month to scan, YYYY-MM (UTC)")
	accounts := fs.String("accounts", "", `optional JSON file {"<user>": {"ip": "...", "social": true, "friends": N, "library_edits": N}} with what the event log does not know`)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: segue fraud scan --data DIR --month YYYY-MM [--accounts FILE]")
		fs.PrintDefaults()
	}
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 || rest[0] != "scan" {
		fs.Usage()
		return fmt.Errorf("%w: want the subcommand scan", errUsage)
	}
	if *data == "" {
		return fmt.Errorf("%w: --data is required", errUsage)
	}
	if err := monthArg(*month); err != nil {
		return err
	}
	opts := fraud.DefaultScanOptions()
	if *accounts != "" {
		info, err := readAccounts(*accounts)
		if err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		opts = opts.WithInfo(info)
	}
	dd, err := openRelayData(ctx, *data)
	if err != nil {
		return err
	}
	defer dd.Close()
	rec, flags, err := fraud.Scan(ctx, dd.Store, events.NewStoreLog(dd.Store), *month, opts.WithLogger(nil))
	if err != nil {
		return err
	}
	printScan(stdout, rec, flags)
	return nil
}

// printScan prints a scan's summary, its group check and its flags.
func printScan(stdout io.Writer, rec fraud.ScanRecord, flags []fraud.Flag) {
	fmt.Fprintf(stdout, "%s: %d events, %d accounts, %d scored, %d flagged\n", rec.Month, rec.Events, rec.Accounts, rec.Scored, rec.Flagged)
	switch {
	case rec.GroupsSkipped:
		fmt.Fprintf(stdout, "group check (accounts under %d streams) skipped: heavier accounts made %.0f%% of the streams outside groups, under 75%%\n", fraud.DefaultGroupOptions().MaxStreams(), 100*rec.Heavy)
	case rec.Groups == 1:
		fmt.Fprintf(stdout, "group check (accounts under %d streams): 1 group flagged\n", fraud.DefaultGroupOptions().MaxStreams())
	default:
		fmt.Fprintf(stdout, "group check (accounts under %d streams): %d groups flagged\n", fraud.DefaultGroupOptions().MaxStreams(), rec.Groups)
	}
	for _, f := range flags {
		fmt.Fprintf(stdout, "flagged %s (%d streams): %s\n", f.User, f.Plays, f.Explanation)
	}
}

// readAccounts reads and checks the --accounts file.
func readAccounts(path string) (map[model.UserID]fraud.AccountInfo, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read accounts: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxAccountsFile+1))
	if err != nil {
		return nil, fmt.Errorf("read accounts: %w", err)
	}
	if len(b) > maxAccountsFile {
		return nil, fmt.Errorf("read accounts: %s is larger than %d bytes", path, maxAccountsFile)
	}
	var info map[model.UserID]fraud.AccountInfo
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	err = dec.Decode(&info)
	if err == nil && dec.More() {
		err = errors.New("data after the JSON object")
	}
	if err != nil {
		return nil, fmt.Errorf("read accounts: %s: %w: %s", path, fraud.ErrBadAccountInfo, strictjson.Problem(err, "the file"))
	}
	for u, a := range info {
		if u == "" {
			return nil, fmt.Errorf("read accounts: %s: %w: empty account name", path, fraud.ErrBadAccountInfo)
		}
		if err := a.Check(); err != nil {
			return nil, fmt.Errorf("read accounts: %s: account %s: %w", path, safetext.Quote(string(u)), err)
		}
	}
	return info, nil
}

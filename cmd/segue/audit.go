package main

import (
	"context"
	"crypto/ed25519"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/segue-fm/segue/server/audit"
)

func init() {
	register("audit", "verify the relay's hash-chained counting audit log and its signed checkpoints", runAudit)
}

// runAudit implements `segue audit verify --data DIR`: it recomputes the
// audit chain of a relay data directory (the relay stopped, or a copy)
// and checks every checkpoint signature with the catalog key; a tampered
// log exits non-zero naming the first bad record.
func runAudit(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	data := relayDataFlag(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: segue audit verify --data DIR")
		fs.PrintDefaults()
	}
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 || rest[0] != "verify" {
		fs.Usage()
		return fmt.Errorf("%w: want the subcommand verify", errUsage)
	}
	if *data == "" {
		return fmt.Errorf("%w: --data is required", errUsage)
	}
	dd, err := openRelayData(ctx, *data)
	if err != nil {
		return err
	}
	defer dd.Close()
	rep, err := audit.Verify(ctx, dd.Store, dd.Signer.Public().(ed25519.PublicKey))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "audit log intact: %d records, %d signed checkpoints\n", rep.Records, rep.Checkpoints)
	if len(rep.MonthEnds) > 0 {
		fmt.Fprintf(stdout, "months closed by a signed month-end checkpoint: %s\n", strings.Join(rep.MonthEnds, ", "))
	}
	return nil
}

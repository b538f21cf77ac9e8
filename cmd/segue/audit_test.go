package main

import (
	"context"
	"encoding/binary"
	"os/exec"
	"strings"
	"testing"

	"github.com/segue-fm/segue/server/audit"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/store"
)

// TestAuditVerifyCLI runs `segue audit verify` as an operator would on a
// relay data directory: an intact chain passes with its counts, a deleted
// record fails naming it, a missing --data or subcommand is a usage error.
func TestAuditVerifyCLI(t *testing.T) {
	bin := buildSegue(t)
	dir := t.TempDir()
	ctx := context.Background()
	dd, err := catalog.OpenDataDir(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	chain := audit.NewChain(dd.Store, dd.Signer, 4, nil)
	err = chain.Update(ctx, func(_ store.Txn, add func(audit.Record) error) error {
		for i := range 10 {
			if err := add(audit.Record{Kind: audit.KindStream, Device: "d", Seq: uint64(i), Track: "t", Played: 31000}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	dd.Close()
	out, err := exec.Command(bin, "audit", "verify", "--data", dir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "10 records, 2 signed checkpoints") {
		t.Fatalf("intact: %v\n%s", err, out)
	}
	if dd, err = catalog.OpenDataDir(ctx, dir); err != nil {
		t.Fatal(err)
	}
	if err := dd.Store.Delete(ctx, binary.BigEndian.AppendUint64([]byte("aud/r/"), 6)); err != nil {
		t.Fatal(err)
	}
	dd.Close()
	out, err = exec.Command(bin, "audit", "verify", "--data", dir).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "record 6 missing") {
		t.Fatalf("deleted record 6: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"audit", "verify"}, {"audit", "--data", dir}, {"audit", "check", "--data", dir}} {
		if ee, ok := exec.Command(bin, args...).Run().(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			t.Errorf("%q: want exit 2", args)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/segue-fm/segue/internal/cborx"
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
	// The ten records share one block (appended in one transaction):
	// cut record 6 out of it.
	blockKey := binary.BigEndian.AppendUint64([]byte("aud/r/"), 0)
	block, err := dd.Store.Get(ctx, blockKey)
	if err != nil {
		t.Fatal(err)
	}
	var raws [][]byte
	for rest := block; len(rest) > 0; {
		var r audit.Record
		tail, err := cborx.Limits{MaxNestedLevels: 4, MaxArrayElements: 64, MaxMapPairs: 32}.DecMode().UnmarshalFirst(rest, &r)
		if err != nil {
			t.Fatal(err)
		}
		raws, rest = append(raws, rest[:len(rest)-len(tail)]), tail
	}
	if len(raws) != 10 {
		t.Fatalf("block of %d records, want 10", len(raws))
	}
	if err := dd.Store.Set(ctx, blockKey, bytes.Join(slices.Delete(raws, 6, 7), nil)); err != nil {
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

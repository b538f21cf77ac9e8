package download_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
)

// storeCopy returns every record of st.
func storeCopy(t *testing.T, st store.Store) map[string][]byte {
	t.Helper()
	all := map[string][]byte{}
	if err := st.Iterate(t.Context(), nil, false, func(k, v []byte) error {
		all[string(k)] = bytes.Clone(v)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return all
}

// restoreStore makes st hold exactly the records of old.
func restoreStore(ctx context.Context, st store.Store, old map[string][]byte) error {
	var now [][]byte
	if err := st.Iterate(ctx, nil, false, func(k, _ []byte) error {
		now = append(now, bytes.Clone(k))
		return nil
	}); err != nil {
		return err
	}
	return st.Update(ctx, func(tx store.Txn) error {
		for _, k := range now {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		for k, v := range old {
			if err := tx.Set([]byte(k), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// TestClockMarkFile: with WithClockMarkFile, the trusted-time mark is
// also kept in a file outside the store, so copying a backup of the
// whole store back (every dl/ record and the play history with it),
// after a reboot with the wall clock wound back to the backup's time,
// does not roll trusted time back: an expired offline license stays
// expired. Without the file (not set, or deleted with the restore) it
// plays again, the limit ARCHITECTURE states; a damaged file is ignored.
func TestClockMarkFile(t *testing.T) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	id := p.tracks[0]
	for _, tc := range []struct {
		name    string
		file    bool
		edit    func(path string) error // applied to the file with the restore
		expired bool
	}{
		{"file kept", true, func(string) error { return nil }, true},
		{"no file", false, func(string) error { return nil }, false},
		{"file deleted", true, os.Remove, false},
		{"file damaged", true, func(path string) error { return os.WriteFile(path, []byte{1, 2, 3}, 0o600) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.up.Store(true)
			b.clock.SetWall(b.clock.Real())
			opts := download.DefaultOptions().WithRenewAhead(0)
			path := filepath.Join(t.TempDir(), "state", "clockmark")
			if tc.file {
				opts = opts.WithClockMarkFile(path)
			}
			d := b.openDevice(t, t.TempDir(), "boot1", opts)
			downloadOne(t, ctx, d, id)
			backup := d.dl.TrustedNow(ctx)
			old := storeCopy(t, d.e.Store())
			b.up.Store(false)
			b.clock.Advance(33 * day) // past expiry (30 days) and grace (48 h)
			if _, err := d.dl.ContentKey(ctx, id, model.TierLow); !errors.Is(err, download.ErrLicenseExpired) {
				t.Fatalf("before the restore: %v", err)
			}
			if tc.file {
				if b, err := os.ReadFile(path); err != nil || len(b) != 8 {
					t.Fatalf("mark file: %d bytes, %v", len(b), err)
				}
			}
			b.damage(t, d, "boot2", opts, func(ctx context.Context) error {
				b.clock.SetWall(backup)
				if err := tc.edit(path); err != nil {
					return err
				}
				return restoreStore(ctx, d.e.Store(), old)
			})
			_, err := d.dl.ContentKey(ctx, id, model.TierLow)
			if got := errors.Is(err, download.ErrLicenseExpired); got != tc.expired {
				t.Fatalf("after the restore: %v, want expired %v", err, tc.expired)
			}
		})
	}
}

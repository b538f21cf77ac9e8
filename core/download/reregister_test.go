package download_test

import (
	"errors"
	"testing"

	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
)

// TestReregisteredLearnsRevocation: a device deregistered and then
// registered again renews at once, so the licenses its deregistration
// voided are deleted (ErrRevoked) within a pass, whether its downloads
// were open at the registration or opened after it (segue sync login,
// then segue play). Before, the new token hid the deregistration (no
// 401 to check on) and renewal was due only weeks later, near expiry:
// the device played the voided licenses without an offline slot. A
// device registered again while still registered renews too and keeps
// playing.
func TestReregisteredLearnsRevocation(t *testing.T) {
	cases := []struct {
		name       string
		deregister bool
		closed     bool // downloads closed while it registers again
	}{
		{"deregistered, downloads open", true, false},
		{"deregistered, downloads opened after", true, true},
		{"still registered", false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, p := demoBed(t)
			ctx := waitCtx(t)
			d := b.openDevice(t, t.TempDir(), "boot1", download.DefaultOptions())
			id := p.tracks[0]
			downloadOne(t, ctx, d, id)
			// Closed while the relay deregisters the device, so that no
			// request of the manager meets the dead token (that 401 would
			// start a renewal of its own: Engine.checkRevocation).
			if err := d.e.CloseDownloads(); err != nil {
				t.Fatal(err)
			}
			if tc.deregister {
				testbed.Deregister(t, b.url, d.e.DeviceID(), d.e.Token())
			}
			reopen := func() {
				dl, err := d.e.OpenDownloads(ctx, download.DefaultOptions().WithClock(b.clock.Now, b.clock.Mono, "boot1"))
				if err != nil {
					t.Fatal(err)
				}
				d.dl = dl
			}
			if !tc.closed {
				reopen()
				if err := d.dl.Wait(ctx); err != nil {
					t.Fatal(err)
				}
			}
			renewals := b.count("/v1/licenses/renew")
			if err := d.e.Register(ctx, testUser, testPass, "again"); err != nil {
				t.Fatal(err)
			}
			if tc.closed {
				reopen()
			}
			waitFor(t, "a renewal after registering again", func() bool {
				return b.count("/v1/licenses/renew") > renewals
			})
			if !tc.deregister {
				waitFor(t, "the licenses renewed under the new registration", func() bool {
					st, err := d.dl.Status(ctx)
					return err == nil && len(st.Licenses) == 1 && !st.Revoked
				})
				if _, err := d.dl.ContentKey(ctx, id, model.TierLow); err != nil {
					t.Fatalf("content key after registering again: %v", err)
				}
				return
			}
			waitFor(t, "the device learns it was revoked", func() bool {
				st, err := d.dl.Status(ctx)
				return err == nil && st.Revoked
			})
			if _, err := d.dl.ContentKey(ctx, id, model.TierLow); !errors.Is(err, download.ErrRevoked) {
				t.Fatalf("content key of a voided license after registering again: %v, want ErrRevoked", err)
			}
		})
	}
}

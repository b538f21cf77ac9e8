package download_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
)

// damage closes d's downloads, applies edit to its store directly (a
// disk error or a hand edit while no manager runs) and opens them again
// under bootID.
func (b *bed) damage(t *testing.T, d *device, bootID string, opts download.Options, edit func(ctx context.Context) error) {
	t.Helper()
	ctx := context.Background()
	if err := d.e.CloseDownloads(); err != nil {
		t.Fatal(err)
	}
	if err := edit(ctx); err != nil {
		t.Fatal(err)
	}
	dl, err := d.e.OpenDownloads(ctx, opts.WithClock(b.clock.Now, b.clock.Mono, bootID).WithBackoff(20*time.Millisecond, 200*time.Millisecond))
	if err != nil {
		t.Fatalf("open downloads after damage: %v", err)
	}
	d.dl = dl
}

// TestDamagedClockIsMissing: a dl/clock record that does not decode is
// treated as a deleted one: downloads open, trusted time falls back the
// same way, and an expired license stays expired.
func TestDamagedClockIsMissing(t *testing.T) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	id := p.tracks[0]
	opts := download.DefaultOptions().WithRenewAhead(0)
	edits := []struct {
		name string
		edit func(d *device) func(ctx context.Context) error
	}{
		{"deleted", func(d *device) func(ctx context.Context) error {
			return func(ctx context.Context) error { return d.e.Store().Delete(ctx, []byte("dl/clock")) }
		}},
		{"junk", func(d *device) func(ctx context.Context) error {
			return func(ctx context.Context) error {
				return d.e.Store().Set(ctx, []byte("dl/clock"), []byte{0xff, 0x01, 0x02})
			}
		}},
		{"wrong shape", func(d *device) func(ctx context.Context) error {
			return func(ctx context.Context) error {
				return d.e.Store().Set(ctx, []byte("dl/clock"), []byte{0xa1, 0x02, 0x41, 0x07})
			}
		}},
	}
	devs := make([]*device, len(edits))
	for i := range edits {
		devs[i] = b.openDevice(t, t.TempDir(), "boot1", opts)
		downloadOne(t, ctx, devs[i], id)
	}
	b.up.Store(false)
	b.clock.Advance(33 * day) // past expiry (30 days) and grace (48 h)
	now := make([]time.Time, len(edits))
	for i, e := range edits {
		d := devs[i]
		if _, err := d.dl.ContentKey(ctx, id, model.TierLow); !errors.Is(err, download.ErrLicenseExpired) {
			t.Fatalf("%s: before damage: %v", e.name, err)
		}
		b.damage(t, d, "boot2", opts, e.edit(d))
		// Renew loads the stored licenses (feeding their server times to
		// the trusted clock) before its request fails offline, so the
		// check below runs after that whatever the scheduler did.
		if err := d.dl.Renew(ctx); !errors.Is(err, fetch.ErrOffline) {
			t.Fatalf("%s: renew offline: %v", e.name, err)
		}
		if _, err := d.dl.ContentKey(ctx, id, model.TierLow); !errors.Is(err, download.ErrLicenseExpired) {
			t.Fatalf("%s: expired license revived: %v", e.name, err)
		}
		now[i] = d.dl.TrustedNow(ctx)
	}
	for i, e := range edits {
		if !now[i].Equal(now[0]) {
			t.Errorf("%s: trusted time %v, deleted record gives %v", e.name, now[i], now[0])
		}
	}
}

// TestDamagedStateNamed: a dl/state record that does not decode still
// fails the open (resetting it could revive revoked licenses), with an
// error naming the key and how to recover.
func TestDamagedStateNamed(t *testing.T) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	d := b.openDevice(t, t.TempDir(), "boot1", download.DefaultOptions())
	downloadOne(t, ctx, d, p.tracks[0])
	if err := d.e.CloseDownloads(); err != nil {
		t.Fatal(err)
	}
	if err := d.e.Store().Set(ctx, []byte("dl/state"), []byte{0xff, 0x01, 0x02}); err != nil {
		t.Fatal(err)
	}
	_, err := d.e.OpenDownloads(ctx, download.DefaultOptions().WithClock(b.clock.Now, b.clock.Mono, "boot1"))
	if err == nil || !strings.Contains(err.Error(), "dl/state") || !strings.Contains(err.Error(), "to recover") {
		t.Fatalf("open with a damaged dl/state: %v, want an error naming the key and the recovery", err)
	}
}

// TestDamagedItemSkipped: a dl/item record that does not decode no
// longer fails the open: the other downloads are listed, the damaged one
// is listed with its error, and removing it by its ref deletes it for
// good and releases its tracks as a normal removal does (a track another
// download still holds stays; removing the rest leaves no job and no
// blob file).
func TestDamagedItemSkipped(t *testing.T) {
	for _, again := range []bool{false, true} {
		name := map[bool]string{false: "removed", true: "added again"}[again]
		t.Run(name, func(t *testing.T) { testDamagedItem(t, again) })
	}
}

// testDamagedItem damages a download record, then removes it or, with
// again, adds it again (which replaces it).
func testDamagedItem(t *testing.T, again bool) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	dir := t.TempDir()
	opts := download.DefaultOptions()
	d := b.openDevice(t, dir, "boot1", opts)
	album := download.Ref{Kind: download.KindAlbum, ID: string(p.album), Tier: model.TierLow}
	t0 := download.Ref{Kind: download.KindTrack, ID: string(p.tracks[0]), Tier: model.TierLow}
	t1 := download.Ref{Kind: download.KindTrack, ID: string(p.tracks[1]), Tier: model.TierLow}
	for _, r := range []download.Ref{t0, t1, album} {
		if err := d.dl.Add(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.dl.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	itemKey := []byte("dl/item/track/low/" + t0.ID)
	b.damage(t, d, "boot1", opts, func(ctx context.Context) error { return d.e.Store().Set(ctx, itemKey, []byte{1, 2, 3}) })
	errOf := func() map[download.Ref]string {
		st, err := d.dl.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m := map[download.Ref]string{}
		for _, it := range st.Items {
			m[it.Ref] = it.Err
		}
		return m
	}
	got := errOf()
	if len(got) != 3 || got[album] != "" || got[t1] != "" || !strings.Contains(got[t0], "damaged") {
		t.Fatalf("items after damage: %q, want album and %s fine, %s damaged", got, t1, t0)
	}
	want := []download.Ref{album, t1}
	if again {
		if err := d.dl.Add(ctx, t0); err != nil {
			t.Fatalf("add the damaged download again: %v", err)
		}
		if err := d.dl.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		want = append(want, t0)
	} else {
		if err := d.dl.Remove(ctx, t0); err != nil {
			t.Fatalf("remove the damaged download: %v", err)
		}
		if _, err := d.e.Store().Get(ctx, itemKey); err == nil {
			t.Fatal("damaged record still stored after its removal")
		}
	}
	check := func(when string) {
		got := errOf()
		if len(got) != len(want) {
			t.Fatalf("items %s: %q, want %v", when, got, want)
		}
		for _, r := range want {
			if e, ok := got[r]; !ok || e != "" {
				t.Fatalf("items %s: %q, want %v without errors", when, got, want)
			}
		}
	}
	check("after the damaged one was " + map[bool]string{false: "removed", true: "added again"}[again])
	if !d.dl.Downloaded(p.tracks[0], model.TierLow) {
		t.Fatal("the album's copy of the damaged download's track was deleted")
	}
	b.damage(t, d, "boot1", opts, func(context.Context) error { return nil })
	check("after reopening")
	for _, r := range want {
		if err := d.dl.Remove(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	requireNothingLeft(t, d.e.Store(), dir, "after removing every download", "dl/job/")
}

// TestDamagedLicenseRenewed: a dl/lic record that does not open is
// treated as missing: its tracks never play from it, the download's
// status counts them unlicensed, and once the relay is reachable the
// manager licenses them again on its own.
func TestDamagedLicenseRenewed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(env []byte) []byte
	}{
		{"junk", func([]byte) []byte { return []byte{1, 2, 3} }},
		{"one bit flipped", func(env []byte) []byte {
			env = append([]byte(nil), env...)
			env[len(env)/2] ^= 1
			return env
		}},
		{"truncated", func(env []byte) []byte { return env[:len(env)-1] }},
	} {
		t.Run(tc.name, func(t *testing.T) { testDamagedLicense(t, tc.damage) })
	}
}

func testDamagedLicense(t *testing.T, damage func(env []byte) []byte) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	opts := download.DefaultOptions()
	d := b.openDevice(t, t.TempDir(), "boot1", opts)
	id := p.tracks[0]
	downloadOne(t, ctx, d, id)
	ref := download.Ref{Kind: download.KindTrack, ID: string(id), Tier: model.TierLow}
	b.up.Store(false)
	b.damage(t, d, "boot1", opts, func(ctx context.Context) error {
		var keys, envs [][]byte
		if err := d.e.Store().Iterate(ctx, []byte("dl/lic/"), false, func(k, v []byte) error {
			keys = append(keys, append([]byte(nil), k...))
			envs = append(envs, append([]byte(nil), v...))
			return nil
		}); err != nil {
			return err
		}
		if len(keys) != 1 {
			return fmt.Errorf("%d licenses stored, want 1", len(keys))
		}
		return d.e.Store().Set(ctx, keys[0], damage(envs[0]))
	})
	unlicensed := func() int {
		st, err := d.dl.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range st.Items {
			if it.Ref == ref {
				return it.Unlicensed
			}
		}
		t.Fatalf("%s not listed: %+v", ref, st.Items)
		return 0
	}
	if _, err := d.dl.ContentKey(ctx, id, model.TierLow); !errors.Is(err, download.ErrNotLicensed) {
		t.Fatalf("offline with the license damaged: %v, want ErrNotLicensed", err)
	}
	if n := unlicensed(); n != 1 {
		t.Fatalf("status: %d tracks unlicensed, want 1", n)
	}
	b.up.Store(true)
	d.dl.Nudge()
	for {
		if _, err := d.dl.ContentKey(ctx, id, model.TierLow); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the damaged license was never replaced")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if err := d.dl.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if n := unlicensed(); n != 0 {
		t.Fatalf("status after relicensing: %d tracks unlicensed", n)
	}
}

// TestDamagedSettingsDefault: a dl/cfg record that does not decode no
// longer fails the open: the settings fall back to the options (as with
// no record) and the next change is saved over it.
func TestDamagedSettingsDefault(t *testing.T) {
	b, _ := demoBed(t)
	ctx := waitCtx(t)
	d := b.openDevice(t, t.TempDir(), "boot1", download.DefaultOptions())
	if err := d.dl.SetAllowMetered(ctx, true); err != nil {
		t.Fatal(err)
	}
	opts := download.DefaultOptions().WithAllowMetered(false)
	b.damage(t, d, "boot1", opts, func(ctx context.Context) error { return d.e.Store().Set(ctx, []byte("dl/cfg"), []byte{0xff}) })
	st, err := d.dl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.AllowMeter {
		t.Fatal("damaged settings: metered allowed, want the options' default")
	}
	if err := d.dl.SetAllowMetered(ctx, true); err != nil {
		t.Fatal(err)
	}
	b.damage(t, d, "boot1", opts, func(context.Context) error { return nil })
	if st, err := d.dl.Status(ctx); err != nil || !st.AllowMeter {
		t.Fatalf("settings saved over the damaged record: allow metered %v, %v", st.AllowMeter, err)
	}
}

// TestDamagedJobRebuilt: a dl/job record that does not decode, or
// decodes to counts no download can have, no longer fails the open: it
// is rebuilt from the requests naming its track (one reference each),
// its progress is counted again from its done bits, and removing the
// requests releases it as usual (a track another request holds stays;
// removing the last leaves no job and no blob file). A job no request
// names is released.
func TestDamagedJobRebuilt(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value func(old []byte) []byte
	}{
		{"junk", func([]byte) []byte { return []byte{0xff, 0x01, 0x02} }},
		{"empty", func([]byte) []byte { return []byte{} }},
		{"truncated", func(old []byte) []byte { return old[:len(old)-1] }},
		{"negative refs", func([]byte) []byte { return []byte{0xa1, 0x01, 0x20} }},
		{"too few refs", func([]byte) []byte { return []byte{0xa1, 0x01, 0x01} }},
		{"huge refs", func([]byte) []byte { return []byte{0xa1, 0x01, 0x1b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff} }},
		{"wrong shape", func([]byte) []byte { return []byte{0x82, 0x01, 0x02} }},
	} {
		t.Run(tc.name, func(t *testing.T) { testDamagedJob(t, tc.value) })
	}
}

func testDamagedJob(t *testing.T, value func(old []byte) []byte) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	dir := t.TempDir()
	opts := download.DefaultOptions()
	d := b.openDevice(t, dir, "boot1", opts)
	album := download.Ref{Kind: download.KindAlbum, ID: string(p.album), Tier: model.TierLow}
	t0 := download.Ref{Kind: download.KindTrack, ID: string(p.tracks[0]), Tier: model.TierLow}
	for _, r := range []download.Ref{t0, album} {
		if err := d.dl.Add(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.dl.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	jobKey := []byte("dl/job/low/" + t0.ID)
	orphan := []byte("dl/job/high/" + t0.ID) // a job no request names
	b.damage(t, d, "boot1", opts, func(ctx context.Context) error {
		old, err := d.e.Store().Get(ctx, jobKey)
		if err != nil {
			return err
		}
		if err := d.e.Store().Set(ctx, orphan, []byte{0xff}); err != nil {
			return err
		}
		return d.e.Store().Set(ctx, jobKey, value(old))
	})
	if err := d.dl.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if !d.dl.Downloaded(p.tracks[0], model.TierLow) {
		t.Fatal("the track of the damaged job is not downloaded after the resume pass")
	}
	if _, err := d.e.Store().Get(ctx, orphan); err == nil {
		t.Fatal("a damaged job no request names is still stored")
	}
	if err := d.dl.Remove(ctx, t0); err != nil {
		t.Fatal(err)
	}
	if !d.dl.Downloaded(p.tracks[0], model.TierLow) {
		t.Fatal("the album's copy of the damaged job's track was deleted with the track request")
	}
	b.damage(t, d, "boot1", opts, func(context.Context) error { return nil })
	if err := d.dl.Remove(ctx, album); err != nil {
		t.Fatal(err)
	}
	requireNothingLeft(t, d.e.Store(), dir, "after removing every download", "dl/", "dl/lic/", "dl/clock", "dl/state")
}

// TestDamagedDoneBitsAndRefs: a done bit whose value is not a hash and a
// size, or a blob reference count that does not match the done bits
// naming the blob, no longer leaks the blob file and its reference for
// ever: the manager's start-up reconcile drops the malformed done bit
// (the blob is downloaded again) and sets each count to the done bits
// naming the blob, so removing the download leaves no key and no file.
func TestDamagedDoneBitsAndRefs(t *testing.T) {
	for _, tc := range []struct {
		name   string
		prefix string
		value  []byte
	}{
		{"done bit too short", "dl/done/", []byte{1, 2}},
		{"done bit empty", "dl/done/", []byte{}},
		{"reference count too high", "off/ref/", []byte{0, 0, 0, 9}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, p := demoBed(t)
			ctx := waitCtx(t)
			dir := t.TempDir()
			opts := download.DefaultOptions()
			d := b.openDevice(t, dir, "boot1", opts)
			ref := download.Ref{Kind: download.KindTrack, ID: string(p.tracks[0]), Tier: model.TierLow}
			downloadOne(t, ctx, d, p.tracks[0])
			b.damage(t, d, "boot1", opts, func(ctx context.Context) error {
				var key []byte
				if err := d.e.Store().Iterate(ctx, []byte(tc.prefix), false, func(k, _ []byte) error {
					if key == nil {
						key = append([]byte(nil), k...)
					}
					return nil
				}); err != nil || key == nil {
					return fmt.Errorf("no key under %s: %v", tc.prefix, err)
				}
				return d.e.Store().Set(ctx, key, tc.value)
			})
			// Status waits for the start-up reconcile.
			if _, err := d.dl.Status(ctx); err != nil {
				t.Fatal(err)
			}
			if err := d.dl.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			if !d.dl.Downloaded(p.tracks[0], model.TierLow) {
				t.Fatal("not downloaded after the reconcile")
			}
			if err := d.dl.Remove(ctx, ref); err != nil {
				t.Fatal(err)
			}
			for _, prefix := range []string{"dl/done/", "dl/job/", "off/ref/"} {
				requireNothingLeft(t, d.e.Store(), dir, "after removing the download", prefix)
			}
		})
	}
}

// requireNothingLeft fails the test (saying when) if st holds a key under
// prefix other than those under the kept prefixes, or the device
// directory dir holds a blob file.
func requireNothingLeft(t *testing.T, st store.Store, dir, when, prefix string, kept ...string) {
	t.Helper()
	var left []string
	err := st.Iterate(context.Background(), []byte(prefix), false, func(k, _ []byte) error {
		for _, p := range kept {
			if strings.HasPrefix(string(k), p) {
				return nil
			}
		}
		left = append(left, string(k))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files := blobFiles(t, dir); len(left) > 0 || len(files) > 0 {
		t.Fatalf("%s: keys %q, %d blob files left", when, left, len(files))
	}
}

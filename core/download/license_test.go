package download_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/license"
	"github.com/segue-fm/segue/store/badgerstore"
)

const day = 24 * time.Hour

// downloadTrack downloads one track and returns the device's single
// license envelope as stored.
func downloadOne(t *testing.T, ctx context.Context, d *device, id model.TrackID) {
	t.Helper()
	if err := d.dl.Add(ctx, download.Ref{Kind: download.KindTrack, ID: string(id), Tier: model.TierLow}); err != nil {
		t.Fatal(err)
	}
	if err := d.dl.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if !d.dl.Downloaded(id, model.TierLow) {
		t.Fatal("not downloaded")
	}
}

func storedLicense(t *testing.T, ctx context.Context, d *device) []byte {
	t.Helper()
	var env []byte
	err := d.e.Store().Iterate(ctx, []byte("dl/lic/"), false, func(_, v []byte) error {
		env = append([]byte(nil), v...)
		return nil
	})
	if err != nil || env == nil {
		t.Fatalf("no stored license: %v", err)
	}
	return env
}

// TestLicenseLifecycle: expiry → grace → clear refusal; renewal extends;
// cancellation stops renewal; winding the clock back revives nothing.
func TestLicenseLifecycle(t *testing.T) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	dir := t.TempDir()
	d := b.openDevice(t, dir, "boot1", download.DefaultOptions().WithRenewAhead(0))
	id := p.tracks[0]
	downloadOne(t, ctx, d, id)
	b.up.Store(false) // offline from here on unless stated

	key := func() error { _, err := d.dl.ContentKey(ctx, id, model.TierLow); return err }
	steps := []struct {
		name    string
		advance time.Duration
		wantErr error
	}{
		{"fresh", 0, nil},
		{"day 29", 29 * day, nil},
		{"expired, in grace", 1*day + time.Hour, nil},
		{"grace over", 47 * time.Hour, download.ErrLicenseExpired},
	}
	for _, s := range steps {
		b.clock.Advance(s.advance)
		if err := key(); !errors.Is(err, s.wantErr) {
			t.Fatalf("%s: %v, want %v", s.name, err, s.wantErr)
		}
	}
	err := key()
	if !errors.Is(err, crypto.ErrLicenseExpired) || !strings.Contains(err.Error(), "connect to verify your subscription") {
		t.Fatalf("expired error not clear: %v", err)
	}
	if _, err := play(ctx, d.e, id); !errors.Is(err, core.ErrLicenseExpired) {
		t.Fatalf("OpenTrack after grace: %v", err)
	}
	// Back online: one renewal request extends it.
	b.up.Store(true)
	if err := d.dl.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	if err := key(); err != nil {
		t.Fatalf("after renewal: %v", err)
	}
	if _, err := play(ctx, d.e, id); err != nil {
		t.Fatalf("play after renewal: %v", err)
	}

	// Cancel: renewal is refused with a signed reason; playback continues
	// until expiry + grace, then stops.
	b.setSubscription(t, license.SubscriptionCancelled)
	b.clock.Advance(29 * day)
	if err := d.dl.Renew(ctx); !errors.Is(err, download.ErrRenewalRefused) {
		t.Fatalf("renew after cancel: %v", err)
	}
	st, _ := d.dl.Status(ctx)
	if st.Refused != api.StatusSubscriptionCancelled {
		t.Fatalf("refusal reason %q", st.Refused)
	}
	if err := key(); err != nil {
		t.Fatalf("before expiry after cancel: %v", err)
	}
	b.clock.Advance(1*day + 48*time.Hour)
	if err := key(); !errors.Is(err, download.ErrLicenseExpired) {
		t.Fatalf("after cancel + grace: %v", err)
	}

	// Wind the wall clock back 40 days and restart (monotonic clock of a
	// new boot): nothing revives.
	d.close()
	b.up.Store(false)
	b.clock.SetWall(b.clock.Now().Add(-40 * day))
	d2 := b.openDevice(t, dir, "boot2", download.DefaultOptions().WithRenewAhead(0))
	if _, err := d2.dl.ContentKey(ctx, id, model.TierLow); !errors.Is(err, download.ErrLicenseExpired) {
		t.Fatalf("clock wound back 40 days: %v", err)
	}
	// Same boot, wall clock wound back: the monotonic anchor still rules.
	d2.close()
	d3 := b.openDevice(t, dir, "boot2", download.DefaultOptions().WithRenewAhead(0))
	if _, err := d3.dl.ContentKey(ctx, id, model.TierLow); !errors.Is(err, download.ErrLicenseExpired) {
		t.Fatalf("same boot, clock back: %v", err)
	}
	// Reactivated subscription: renewal works again.
	b.up.Store(true)
	b.setSubscription(t, license.SubscriptionActive)
	if err := d3.dl.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := d3.dl.ContentKey(ctx, id, model.TierLow); err != nil {
		t.Fatalf("after reactivation: %v", err)
	}
}

// TestLicenseBinding: a license is useless on another device, tampering
// and foreign catalog keys are rejected.
func TestLicenseBinding(t *testing.T) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	a := b.openDevice(t, t.TempDir(), "boot1", download.DefaultOptions())
	downloadOne(t, ctx, a, p.tracks[0])
	env := storedLicense(t, ctx, a)

	bdev := b.openDevice(t, t.TempDir(), "boot1", download.DefaultOptions())
	other, err := crypto.NewIdentity(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := crypto.OpenLicense(b.pub, other, env); !errors.Is(err, crypto.ErrWrongDevice) {
		t.Fatalf("license of A opened by another identity: %v", err)
	}
	// Copy A's download records, license and blob files to B (closed):
	// B still cannot play.
	bdev.close()
	bst, err := badgerstore.Open(ctx, filepath.Join(bdev.dir, "db"), badgerstore.DefaultOptions().WithLogger(quiet()))
	if err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{"dl/", "off/"} {
		err = a.e.Store().Iterate(ctx, []byte(prefix), false, func(k, v []byte) error {
			return bst.Set(ctx, k, v)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := bst.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(filepath.Join(bdev.dir, "blobs"), os.DirFS(filepath.Join(a.dir, "blobs"))); err != nil {
		t.Fatal(err)
	}
	// The relay licenses nothing meanwhile: B drops A's license as one
	// that does not open and would license the downloads again under
	// its own registration (TestDamagedLicenseRenewed).
	noLicenses := func(r *http.Request) int {
		if strings.HasPrefix(r.URL.Path, "/v1/licenses") {
			return http.StatusServiceUnavailable
		}
		return 0
	}
	b.fail.Store(&noLicenses)
	bdev = b.openDevice(t, bdev.dir, "boot1", download.DefaultOptions())
	if _, err := bdev.dl.ContentKey(ctx, p.tracks[0], model.TierLow); !errors.Is(err, download.ErrNotLicensed) {
		t.Fatalf("B with A's license: %v", err)
	}
	tampered := append([]byte(nil), env...)
	tampered[len(tampered)/2] ^= 1
	if _, err := crypto.OpenLicense(b.pub, identityOf(t, a), tampered); err == nil {
		t.Fatal("tampered license opened")
	}
	foreignPub, _, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := crypto.OpenLicense(foreignPub, identityOf(t, a), env); !errors.Is(err, crypto.ErrUnknownKey) {
		t.Fatalf("license under another catalog key: %v", err)
	}
	if _, err := crypto.OpenLicense(b.pub, identityOf(t, a), env); err != nil {
		t.Fatalf("genuine license: %v", err)
	}
}

func identityOf(t *testing.T, d *device) *crypto.Identity {
	t.Helper()
	ks, err := crypto.NewFileKeyStore(d.dir+"/keys", crypto.DefaultFileKeyStoreOptions())
	if err != nil {
		t.Fatal(err)
	}
	id, err := crypto.LoadOrCreateIdentity(context.Background(), ks, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestDeregistration: a deregistered device loses offline playback at its
// next check; its slot is freed for another device; the device limit holds.
func TestDeregistration(t *testing.T) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	a := b.openDevice(t, t.TempDir(), "boot1", download.DefaultOptions())
	downloadOne(t, ctx, a, p.tracks[0])
	other := b.openDevice(t, t.TempDir(), "boot1", download.DefaultOptions())
	testbed.Deregister(t, b.url, a.e.DeviceID(), other.e.Token())
	// Still plays until it checks in...
	if _, err := a.dl.ContentKey(ctx, p.tracks[0], model.TierLow); err != nil {
		t.Fatalf("before check: %v", err)
	}
	if err := a.dl.Renew(ctx); !errors.Is(err, download.ErrRevoked) {
		t.Fatalf("renew after deregistration: %v", err)
	}
	if _, err := play(ctx, a.e, p.tracks[0]); !errors.Is(err, core.ErrLicenseRevoked) {
		t.Fatalf("play after revocation: %v", err)
	}
	// Device limit: 5 offline devices per account.
	for i := 0; i < 5; i++ {
		d := b.openDevice(t, t.TempDir(), "boot1", download.DefaultOptions())
		err := d.dl.Add(ctx, download.Ref{Kind: download.KindTrack, ID: string(p.tracks[1]), Tier: model.TierLow})
		if err != nil {
			t.Fatal(err)
		}
		err = d.dl.Wait(ctx)
		if i < 5 && err != nil {
			t.Fatalf("device %d: %v", i, err)
		}
	}
	sixth := b.openDevice(t, t.TempDir(), "boot1", download.DefaultOptions())
	sixth.dl.Add(ctx, download.Ref{Kind: download.KindTrack, ID: string(p.tracks[1]), Tier: model.TierLow})
	if err := sixth.dl.Wait(ctx); !errors.Is(err, download.ErrDeviceLimit) || !strings.Contains(err.Error(), api.StatusDeviceLimit) {
		t.Fatalf("sixth offline device: %v", err)
	}
}

// TestContentKeyDuringRevocation: while a signed revocation deletes the
// licenses, ContentKey answers with the key or ErrRevoked, never
// ErrNotLicensed (it once saw the licenses gone before the state said

// TestRenewRevokedBetweenReads: a renewal that listed the licenses, then
// lost them to a revocation another renewal applied, reports ErrRevoked.
// Before, it found no licenses left, so nothing to renew, and reported
// success on a revoked device (seen once in TestContentKeyDuringRevocation).
func TestRenewRevokedBetweenReads(t *testing.T) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	a := b.openDevice(t, t.TempDir(), "boot1", download.DefaultOptions())
	downloadOne(t, ctx, a, p.tracks[0])
	// A renewal before the deregistration records the registration, so
	// the manager's own pass has no renewal due (renewalDue) and cannot
	// hear of the revocation, and drop the licenses, before the two
	// renewals below list them: under CI load it once did, and the
	// listing hook never ran.
	if err := a.dl.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	testbed.Deregister(t, b.url, a.e.DeviceID(), a.e.Token())
	var first atomic.Bool
	inner := make(chan error, 1)
	download.SetListedHook(a.dl, func() {
		if first.CompareAndSwap(false, true) {
			inner <- a.dl.Renew(ctx)
		}
	})
	err := a.dl.Renew(ctx)
	var e error
	select {
	case e = <-inner:
	case <-ctx.Done():
		t.Fatalf("the renewal never listed the licenses (it returned %v)", err)
	}
	if !errors.Is(e, download.ErrRevoked) {
		t.Fatalf("the renewal that heard the relay = %v, want ErrRevoked", e)
	}
	if !errors.Is(err, download.ErrRevoked) {
		t.Fatalf("the renewal it overtook = %v, want ErrRevoked", err)
	}
}

// revoked, and the engine reported a revoked track as unlicensed).
func TestContentKeyDuringRevocation(t *testing.T) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	for round := range 20 {
		a := b.openDevice(t, t.TempDir(), "boot1", download.DefaultOptions())
		downloadOne(t, ctx, a, p.tracks[0])
		testbed.Deregister(t, b.url, a.e.DeviceID(), a.e.Token())
		stop := make(chan struct{})
		errs := make(chan error, 4)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					_, err := a.dl.ContentKey(ctx, p.tracks[0], model.TierLow)
					if err != nil && !errors.Is(err, download.ErrRevoked) {
						errs <- err
						return
					}
					if errors.Is(err, download.ErrRevoked) {
						return
					}
					select {
					case <-stop:
						return
					default:
					}
				}
			}()
		}
		// Renewals race each other: the first to hear the relay revokes
		// while the others list the licenses it deletes.
		renewed := make(chan error, 3)
		for range 3 {
			go func() { renewed <- a.dl.Renew(ctx) }()
		}
		err := a.dl.Renew(ctx)
		for range 3 {
			if e := <-renewed; !errors.Is(e, download.ErrRevoked) {
				err = e
			}
		}
		close(stop)
		wg.Wait()
		if !errors.Is(err, download.ErrRevoked) {
			t.Fatalf("round %d: renew after deregistration = %v, want ErrRevoked", round, err)
		}
		select {
		case err := <-errs:
			t.Fatalf("round %d: content key during revocation = %v, want a key or ErrRevoked", round, err)
		default:
		}
		if _, err := a.dl.ContentKey(ctx, p.tracks[0], model.TierLow); !errors.Is(err, download.ErrRevoked) {
			t.Fatalf("round %d: content key after revocation = %v, want ErrRevoked", round, err)
		}
		a.close()
	}
}

// TestRenewalDropsRemoved: after a download is removed, the next renewal
// (one request) covers only what is still downloaded, on the device and
// in the relay's records; removing the last download deletes the
// licenses without a request.
func TestRenewalDropsRemoved(t *testing.T) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	d := b.openDevice(t, t.TempDir(), "boot1", download.DefaultOptions())
	album := download.Ref{Kind: download.KindAlbum, ID: string(p.album), Tier: model.TierLow}
	one := download.Ref{Kind: download.KindTrack, ID: string(p.tracks[0]), Tier: model.TierLow}
	for _, r := range []download.Ref{album, one} {
		if err := d.dl.Add(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := d.dl.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	entries := func() (device, relay int) {
		st, err := d.dl.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range st.Licenses {
			device += l.Entries
		}
		relay = relayEntries(t, b)
		return device, relay
	}
	if dev, rel := entries(); dev != len(p.tracks) || rel != len(p.tracks) {
		t.Fatalf("before removal: %d entries on the device, %d at the relay; want %d", dev, rel, len(p.tracks))
	}
	if err := d.dl.Remove(ctx, album); err != nil {
		t.Fatal(err)
	}
	before := b.count("/v1/licenses/renew")
	if err := d.dl.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	if n := b.count("/v1/licenses/renew") - before; n != 1 {
		t.Fatalf("renewal took %d requests", n)
	}
	if dev, rel := entries(); dev != 1 || rel != 1 {
		t.Fatalf("after removal and renewal: %d entries on the device, %d at the relay; want 1", dev, rel)
	}
	if _, err := d.dl.ContentKey(ctx, p.tracks[0], model.TierLow); err != nil {
		t.Fatalf("kept track: %v", err)
	}
	// Remove the last download: renewal deletes the license locally and
	// asks nothing.
	if err := d.dl.Remove(ctx, one); err != nil {
		t.Fatal(err)
	}
	before = b.count("/v1/licenses/renew")
	if err := d.dl.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	if n := b.count("/v1/licenses/renew") - before; n != 0 {
		t.Fatalf("renewal with nothing downloaded sent %d requests", n)
	}
	if dev, _ := entries(); dev != 0 {
		t.Fatalf("%d license entries left with nothing downloaded", dev)
	}
}

// relayEntries counts the (track, tier) entries of the relay's live
// licenses (lic/l/ records).
func relayEntries(t *testing.T, b *bed) int {
	t.Helper()
	n := 0
	err := b.dd.Store.Iterate(context.Background(), []byte("lic/l/"), false, func(_, v []byte) error {
		var rec struct {
			Entries [][2]string `cbor:"5,keyasint"`
		}
		if err := cbor.Unmarshal(v, &rec); err != nil {
			return err
		}
		n += len(rec.Entries)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStreamKeySignedTime: answers of POST /v1/keys/stream carry a signed
// statement that feeds the device's trusted clock; a statement with a
// broken signature, one signed by another key, and a replayed one (valid,
// but for another request's nonce) are ignored.
func TestStreamKeySignedTime(t *testing.T) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	d := b.openDevice(t, t.TempDir(), "boot1", download.DefaultOptions())
	_, otherKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		t.Fatal(err)
	}
	var captured string
	base := b.clock.Real()
	steps := []struct {
		name    string
		tamper  func(r *http.Request, h http.Header)
		trusted bool
	}{
		{"signed", func(_ *http.Request, h http.Header) { captured = h.Get(api.StatementHeader) }, true},
		{"bad signature", func(_ *http.Request, h http.Header) {
			env, _ := base64.RawURLEncoding.DecodeString(h.Get(api.StatementHeader))
			env[len(env)-1] ^= 1
			h.Set(api.StatementHeader, base64.RawURLEncoding.EncodeToString(env))
		}, false},
		{"other key", func(r *http.Request, h http.Header) {
			nonce, _ := base64.RawURLEncoding.DecodeString(r.URL.Query().Get("nonce"))
			payload, _ := enc.Marshal(api.Statement{Time: b.clock.Real().UnixMilli(), Device: string(d.e.DeviceID()), Status: api.StatusOK, Nonce: nonce})
			env, err := crypto.Sign(otherKey, api.StatementDomain, payload)
			if err != nil {
				t.Error(err)
			}
			h.Set(api.StatementHeader, base64.RawURLEncoding.EncodeToString(env))
		}, false},
		{"replayed", func(_ *http.Request, h http.Header) { h.Set(api.StatementHeader, captured) }, false},
	}
	for i, s := range steps {
		relayNow := base.Add(time.Duration(i+1) * 10 * day)
		b.clock.setRelayTime(relayNow)
		fn := func(r *http.Request, h http.Header) {
			if r.URL.Path == "/v1/keys/stream" {
				if h.Get(api.StatementHeader) == "" {
					t.Errorf("%s: stream key answer without a statement", s.name)
				}
				s.tamper(r, h)
			}
		}
		b.rewrite.Store(&fn)
		if _, err := play(ctx, d.e, p.tracks[i]); err != nil {
			t.Fatalf("%s: play: %v", s.name, err)
		}
		got := d.dl.TrustedNow(ctx)
		switch {
		case s.trusted && (got.Before(relayNow) || got.After(relayNow.Add(time.Minute))):
			t.Fatalf("%s: trusted now %s, want the relay's %s", s.name, got, relayNow)
		case !s.trusted && !got.Before(relayNow.Add(-5*day)):
			t.Fatalf("%s: trusted now %s moved to the relay's %s", s.name, got, relayNow)
		}
	}
}

// TestReregisteredRelicenses: a device deregistered (its licenses
// deleted at its renewal) and registered again gets its downloads'
// licenses back when the request is added again; they used to stay
// "downloaded" and revoked for good (Add of a complete request did
// nothing, and Renew had no license to renew). Between the two, the
// device is revoked, whether its own Renew or the engine's revocation
// check met the relay's refusal first.
func TestReregisteredRelicenses(t *testing.T) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	a := b.openDevice(t, t.TempDir(), "boot1", download.DefaultOptions())
	downloadOne(t, ctx, a, p.tracks[0])
	req, _ := http.NewRequestWithContext(ctx, http.MethodDelete, b.url+"/v1/devices/"+string(a.e.DeviceID()), nil)
	req.Header.Set("Authorization", "Bearer "+a.e.Token())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("deregister: %d", resp.StatusCode)
	}
	// The engine may learn it first: a call of its own that the relay
	// refused (401) starts a renewal (Engine.checkRevocation), which
	// deletes the licenses, and Renew then has none to renew. Either
	// way the device must end up revoked, never renewed.
	// (That check records the revocation just after it deletes the
	// licenses, hence the short wait.)
	err = a.dl.Renew(ctx)
	if err == nil {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			st, serr := a.dl.Status(ctx)
			if serr != nil {
				t.Fatal(serr)
			}
			if st.Revoked {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("renew after deregistration succeeded and the device is not revoked")
			}
		}
	} else if !errors.Is(err, download.ErrRevoked) {
		t.Fatalf("renew after deregistration: %v", err)
	}
	if err := a.e.Register(ctx, testUser, testPass, "again"); err != nil {
		t.Fatal(err)
	}
	downloadOne(t, ctx, a, p.tracks[0])
	if _, err := a.dl.ContentKey(ctx, p.tracks[0], model.TierLow); err != nil {
		t.Fatalf("content key after registering again and adding the download again: %v", err)
	}
	st, err := a.dl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Revoked || len(st.Licenses) != 1 {
		t.Fatalf("status after registering again: revoked %v, %d licenses; want not revoked, 1 license", st.Revoked, len(st.Licenses))
	}
}

// TestRefusedRenewalRetried: after a refused renewal (subscription
// cancelled) the manager asks again on its own once RefusedRetry has
// passed, so a subscription made active again renews the licenses
// before they run out; it never asked again.
func TestRefusedRenewalRetried(t *testing.T) {
	b, p := demoBed(t)
	ctx := waitCtx(t)
	d := b.openDevice(t, t.TempDir(), "boot1", download.DefaultOptions())
	id := p.tracks[0]
	downloadOne(t, ctx, d, id)
	st, err := d.dl.Status(ctx)
	if err != nil || len(st.Licenses) != 1 {
		t.Fatalf("status: %+v, %v", st, err)
	}
	first := st.Licenses[0].Expires
	b.setSubscription(t, license.SubscriptionCancelled)
	b.clock.Advance(24 * day) // within the 7-day renew-ahead window
	d.dl.Nudge()
	waitFor(t, "the renewal is refused", func() bool {
		st, err := d.dl.Status(ctx)
		return err == nil && st.Refused == api.StatusSubscriptionCancelled
	})
	b.setSubscription(t, license.SubscriptionActive)
	d.dl.Nudge()
	time.Sleep(100 * time.Millisecond)
	if st, _ := d.dl.Status(ctx); st.Refused == "" {
		t.Fatal("renewed again at once after a refusal, want a wait of RefusedRetry")
	}
	b.clock.Advance(download.RefusedRetry)
	d.dl.Nudge()
	waitFor(t, "the renewal is asked again and granted", func() bool {
		st, err := d.dl.Status(ctx)
		return err == nil && st.Refused == "" && len(st.Licenses) == 1 && st.Licenses[0].Expires.After(first)
	})
	if _, err := d.dl.ContentKey(ctx, id, model.TierLow); err != nil {
		t.Fatalf("content key after the renewal: %v", err)
	}
}

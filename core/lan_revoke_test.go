package core_test

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	tbed "github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/sync/p2p"
)

// TestLANRevocation: three devices of alice; the laptop syncs with the
// relay and with the phone over LAN (libp2p on loopback, the relay's
// certificates). The tablet deregisters the phone (DELETE
// /v1/devices/{id} on the real relay): within a second of the call
// returning the laptop has ended its LAN session with the phone (the
// relay pushed it a signed revocation notice), refuses new ones in both
// directions, and still refuses them after restarting LAN sync (the
// notice is stored).
func TestLANRevocation(t *testing.T) {
	ctx := t.Context()
	r := tbed.NewRelay(t, tbed.DefaultOptions().WithDemoAlbum(false).WithLicenses(true))
	phone, _ := registeredEngine(t, r.URL, "alice", "phone")
	laptop, _ := registeredEngine(t, r.URL, "alice", "laptop")
	tablet, _ := registeredEngine(t, r.URL, "alice", "tablet")
	lan := p2p.DefaultOptions().WithListen("/ip4/127.0.0.1/tcp/0").WithMDNS(false, "")

	pd, err := phone.OpenDocs(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pd.Close() })
	pn, err := pd.StartLAN(ctx, nil, lan)
	if err != nil {
		t.Fatal(err)
	}
	ld, err := laptop.OpenDocs(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ld.Close() })
	if err := ld.StartSync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := ld.WaitInSync(ctx); err != nil {
		t.Fatal(err)
	}
	ln, err := ld.StartLAN(ctx, nil, lan)
	if err != nil {
		t.Fatal(err)
	}
	if err := ln.Connect(ctx, pn.Addrs()[0]); err != nil {
		t.Fatal(err)
	}
	if ps := ln.Peers(); len(ps) != 1 || ps[0].Device != phone.DeviceID() {
		t.Fatalf("laptop's LAN peers %+v, want the phone", ps)
	}

	tbed.Deregister(t, r.URL, phone.DeviceID(), tablet.Token())
	deadline := time.Now().Add(time.Second)
	for len(ln.Peers()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("laptop still syncs with the revoked phone 1s after the revocation: %+v", ln.Peers())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := ln.Connect(ctx, pn.Addrs()[0]); !errors.Is(err, p2p.ErrRevoked) {
		t.Fatalf("laptop dialing the revoked phone: %v, want ErrRevoked", err)
	}
	if err := pn.Connect(ctx, ln.Addrs()[0]); err == nil {
		t.Fatal("the revoked phone got a LAN session with the laptop")
	}

	// After a restart, from the stored notice, with the relay gone.
	r.Stop()
	if err := ld.Close(); err != nil {
		t.Fatal(err)
	}
	ld2, err := laptop.OpenDocs(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ld2.Close() })
	ln2, err := ld2.StartLAN(ctx, nil, lan)
	if err != nil {
		t.Fatal(err)
	}
	if err := ln2.Connect(ctx, pn.Addrs()[0]); !errors.Is(err, p2p.ErrRevoked) {
		t.Fatalf("restarted laptop dialing the revoked phone: %v, want ErrRevoked", err)
	}
}

// shiftClock is the wall clock moved by an adjustable offset.
type shiftClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *shiftClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *shiftClock) set(d time.Duration) {
	c.mu.Lock()
	c.off = d
	c.mu.Unlock()
}

// TestDeviceCertRefresh: StartSync (and StartLAN, when the relay is
// reachable) replaces a stored device certificate
// older than CertRefreshAge (by the engine's clock) with a fresh one from
// the relay, so that LAN peers, which refuse certificates older than
// p2p.DefaultCertMaxAge, keep accepting a device that reaches the relay
// now and then; a younger one is kept.
func TestDeviceCertRefresh(t *testing.T) {
	r := tbed.NewRelay(t, tbed.DefaultOptions().WithDemoAlbum(false))
	for _, tc := range []struct {
		name    string
		age     time.Duration
		lan     bool // StartLAN instead of StartSync
		renewed bool
	}{
		{"younger than CertRefreshAge", core.CertRefreshAge - time.Hour, false, false},
		{"older than CertRefreshAge", core.CertRefreshAge + time.Hour, false, true},
		{"older than CertRefreshAge, StartLAN", core.CertRefreshAge + time.Hour, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			clk := &shiftClock{}
			e := tbed.Engine(t, core.DefaultOptions().WithOrigins(r.URL).WithClock(clk))
			tbed.Register(t, e, "alice", "phone")
			before, err := e.DeviceCert(ctx)
			if err != nil {
				t.Fatal(err)
			}
			clk.set(tc.age)
			d, err := e.OpenDocs(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			if tc.lan {
				if _, err := d.StartLAN(ctx, nil, p2p.DefaultOptions().WithListen("/ip4/127.0.0.1/tcp/0").WithMDNS(false, "")); err != nil {
					t.Fatal(err)
				}
			} else {
				if err := d.StartSync(ctx); err != nil {
					t.Fatal(err)
				}
				if err := d.WaitInSync(ctx); err != nil {
					t.Fatal(err)
				}
			}
			after, err := e.DeviceCert(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// A stored certificate has been verified for this device
			// (Engine.DeviceCert); only whether it changed matters here.
			if renewed := !bytes.Equal(before, after); renewed != tc.renewed {
				t.Fatalf("certificate renewed = %v, want %v", renewed, tc.renewed)
			}
		})
	}
}

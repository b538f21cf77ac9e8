package p2p_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/p2p"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// certNode starts a node of user on 127.0.0.1 whose certificate was
// issued at issued, with opts on top of the test defaults.
func certNode(t *testing.T, user model.UserID, seed byte, issued time.Time, opts p2p.Options) (*p2p.Node, model.DeviceID) {
	t.Helper()
	id, err := crypto.NewIdentity(bytes.NewReader(bytes.Repeat([]byte{seed}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := crypto.IssueDeviceCert(catalogKey, user, id.SignPublic(), issued)
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(t.Context(), store.NewMemory(), repo.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	n, err := p2p.New(t.Context(), id, cert, catalogKey.Public().(ed25519.PublicKey), peer.NewRepoAdapter(r),
		opts.WithListen("/ip4/127.0.0.1/tcp/0").WithMDNS(false, "").WithLANKeys(openKeys(user)...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n, id.DeviceID()
}

// TestCertificateAgeAndRevocation: a node refuses a peer whose
// certificate is older than WithCertMaxAge by its clock, or whose device
// it was told is revoked (WithRevoked at start, Revoke later, which also
// ends a running session at once).
func TestCertificateAgeAndRevocation(t *testing.T) {
	issued := time.Unix(1_700_000_000, 0)
	day := 24 * time.Hour
	tests := []struct {
		name    string
		age     time.Duration // the accepting node's clock minus the dialer's issue time
		revoked bool
		want    error
	}{
		{"fresh certificate", p2p.DefaultCertMaxAge - day, false, nil},
		{"certificate past the default lifetime", p2p.DefaultCertMaxAge + day, false, p2p.ErrCertExpired},
		{"revoked device", day, true, p2p.ErrRevoked},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := func() time.Time { return issued.Add(tc.age) }
			dialer, dialerDev := certNode(t, "alice", byte(10+2*i), issued, p2p.DefaultOptions().WithClock(clock))
			opts := p2p.DefaultOptions().WithClock(clock)
			if tc.revoked {
				opts = opts.WithRevoked(dialerDev)
			}
			acceptor, _ := certNode(t, "alice", byte(11+2*i), issued.Add(tc.age), opts)
			// Dialing checks the acceptor's certificate; the acceptor's
			// check of the dialer's resets the stream.
			err := dialer.Connect(t.Context(), acceptor.Addrs()[0])
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("connected, want refusal (%v)", tc.want)
			}
			// The acceptor dialing back names the reason.
			if err := acceptor.Connect(t.Context(), dialer.Addrs()[0]); !errors.Is(err, tc.want) {
				t.Fatalf("acceptor dialing: %v, want %v", err, tc.want)
			}
		})
	}

	t.Run("Revoke ends a running session", func(t *testing.T) {
		a, _ := certNode(t, "alice", 40, time.Now(), p2p.DefaultOptions())
		b, bDev := certNode(t, "alice", 41, time.Now(), p2p.DefaultOptions())
		if err := a.Connect(t.Context(), b.Addrs()[0]); err != nil {
			t.Fatal(err)
		}
		if n := a.Revoke(bDev); n != 1 {
			t.Fatalf("Revoke ended %d sessions, want 1", n)
		}
		eventually(t, "session with the revoked device gone", func() bool { return len(a.Peers()) == 0 })
		if err := a.Connect(t.Context(), b.Addrs()[0]); !errors.Is(err, p2p.ErrRevoked) {
			t.Fatalf("dialing the revoked device: %v, want ErrRevoked", err)
		}
	})
}

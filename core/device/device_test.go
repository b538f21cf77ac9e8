package device_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/device"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/store"
)

func newIdentity(t *testing.T) *crypto.Identity {
	t.Helper()
	id, err := crypto.NewIdentity(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestRegisterRequestVerifies(t *testing.T) {
	id := newIdentity(t)
	now := time.Date(2026, 12, 2, 10, 0, 0, 700_000_000, time.UTC)
	req := device.RegisterRequest(id, "ada", "pw", "phone", now)
	if req.Issued != now.Unix() || req.Username != "ada" || req.Name != "phone" {
		t.Fatalf("request %+v", req)
	}
	msg := crypto.DeviceProofMessage("ada", "phone", req.SignPub, req.HPKEPub, time.Unix(req.Issued, 0))
	if !ed25519.Verify(ed25519.PublicKey(req.SignPub), msg, req.Sig) {
		t.Fatal("proof does not verify under the device's key at the second the relay checks")
	}
	if !bytes.Equal(req.SignPub, id.SignPublic()) || !bytes.Equal(req.HPKEPub, id.HPKEPublic()) {
		t.Fatal("request carries other keys than the identity's")
	}
	other := crypto.DeviceProofMessage("eve", "phone", req.SignPub, req.HPKEPub, time.Unix(req.Issued, 0))
	if ed25519.Verify(ed25519.PublicKey(req.SignPub), other, req.Sig) {
		t.Fatal("proof verifies for another user name")
	}
}

func TestCheckRegistered(t *testing.T) {
	id := newIdentity(t)
	for _, tt := range []struct {
		name string
		out  api.RegisterResponse
		ok   bool
	}{
		{"token and own id", api.RegisterResponse{Token: "t", DeviceID: id.DeviceID()}, true},
		{"token, no id", api.RegisterResponse{Token: "t"}, true},
		{"no token", api.RegisterResponse{DeviceID: id.DeviceID()}, false},
		{"another device", api.RegisterResponse{Token: "t", DeviceID: "dvother"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := device.CheckRegistered(tt.out, id.DeviceID())
			if tt.ok != (err == nil) || err != nil && !errors.Is(err, device.ErrBadAnswer) {
				t.Fatalf("CheckRegistered = %v, want ok %v (else ErrBadAnswer)", err, tt.ok)
			}
		})
	}
}

func key(b byte) []byte { return bytes.Repeat([]byte{b}, ed25519.PublicKeySize) }

func TestPin(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	p, err := device.LoadPin(ctx, st, nil)
	if err != nil || p.Key() != nil {
		t.Fatalf("empty store: key %x, err %v", p.Key(), err)
	}
	steps := []struct {
		name       string
		k          []byte
		wantPinned bool
		wantErr    error
	}{
		{"short key refused", key(1)[:31], false, device.ErrBadAnswer},
		{"first key pinned", key(1), true, nil},
		{"same key again", key(1), false, nil},
		{"other key refused", key(2), false, device.ErrCatalogKeyMismatch},
	}
	for _, s := range steps {
		pinned, err := p.Set(ctx, s.k)
		if pinned != s.wantPinned || !errors.Is(err, s.wantErr) || (s.wantErr == nil) != (err == nil) {
			t.Fatalf("%s: pinned %v, err %v; want %v, %v", s.name, pinned, err, s.wantPinned, s.wantErr)
		}
	}
	again, err := device.LoadPin(ctx, st, nil)
	if err != nil || !bytes.Equal(again.Key(), key(1)) {
		t.Fatalf("reloaded pin: %x, %v", again.Key(), err)
	}
	if _, err := again.Set(ctx, key(2)); !errors.Is(err, device.ErrCatalogKeyMismatch) {
		t.Fatalf("reloaded pin accepted another key: %v", err)
	}
	fixed, err := device.LoadPin(ctx, st, key(3))
	if err != nil || !bytes.Equal(fixed.Key(), key(3)) {
		t.Fatalf("fixed key: %x, %v", fixed.Key(), err)
	}
	if _, err := device.LoadPin(ctx, st, key(3)[:5]); err == nil {
		t.Fatal("a fixed key of 5 bytes was accepted")
	}
	if err := st.Set(ctx, []byte(device.PinKey), []byte("short")); err != nil {
		t.Fatal(err)
	}
	if _, err := device.LoadPin(ctx, st, nil); err == nil {
		t.Fatal("a corrupt stored key was accepted")
	}
}

func TestPinResolve(t *testing.T) {
	ctx := context.Background()
	p, err := device.LoadPin(ctx, store.NewMemory(), nil)
	if err != nil {
		t.Fatal(err)
	}
	asked := 0
	ask := func(context.Context) ([]byte, error) { asked++; return key(7), nil }
	for range 3 {
		k, err := p.Resolve(ctx, ask)
		if err != nil || !bytes.Equal(k, key(7)) {
			t.Fatalf("Resolve = %x, %v", k, err)
		}
	}
	if asked != 1 {
		t.Fatalf("relay asked %d times, want once (then pinned)", asked)
	}
	failing, err := device.LoadPin(ctx, store.NewMemory(), nil)
	if err != nil {
		t.Fatal(err)
	}
	boom := errors.New("offline")
	if _, err := failing.Resolve(ctx, func(context.Context) ([]byte, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("Resolve with a failing relay = %v", err)
	}
	if failing.Key() != nil {
		t.Fatal("a failed ask pinned a key")
	}
}

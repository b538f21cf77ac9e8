// Package device holds what a device's engine needs to join a relay and
// trust its catalog, shared by the native engine (package core) and the
// web engine (wasm/engine): the signed registration request, the check of
// the relay's answer, and the catalog key pinned on first use. It has no
// cgo and no I/O of its own beyond the store.Store it is given, so it
// builds for GOOS=js.
//
//	req := device.RegisterRequest(id, user, pass, "phone", now)
//	// POST req to /v1/devices, decode into out (api.RegisterResponse)
//	if err := device.CheckRegistered(out, id.DeviceID()); err != nil { … }
//	pin, err := device.LoadPin(ctx, st, nil)
//	if err := pin.Set(ctx, out.CatalogKey); err != nil { … } // ErrCatalogKeyMismatch
package device

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/store"
)

var (
	// ErrCatalogKeyMismatch is returned when the relay presents a catalog
	// key other than the one this device pinned: the device keeps trusting
	// the pinned key and refuses the relay's.
	ErrCatalogKeyMismatch = errors.New("device: catalog key differs from the pinned key")
	// ErrBadAnswer is returned for a registration answer or catalog key
	// that cannot be right (no token, another device's id, a key of the
	// wrong size).
	ErrBadAnswer = errors.New("device: bad relay answer")
	// ErrBadPin is returned by LoadPin for a stored catalog key that
	// cannot be one (the wrong size).
	ErrBadPin = errors.New("device: damaged pinned catalog key")
)

// PinKey is the store key under which the catalog key is pinned.
const PinKey = "cfg/catalog-key"

// RegisterRequest returns the POST /v1/devices body registering id under
// the account user: the device's public keys and its Ed25519 signature
// over crypto.DeviceProofMessage at now (truncated to the second, the
// precision the relay checks). The password is in the returned value: do
// not log it.
func RegisterRequest(id *crypto.Identity, user, pass, name string, now time.Time) api.RegisterRequest {
	issued := now.Truncate(time.Second)
	signPub, hpkePub := id.SignPublic(), id.HPKEPublic()
	return api.RegisterRequest{Username: user, Password: pass, Name: name, SignPub: signPub, HPKEPub: hpkePub,
		Issued: issued.Unix(), Sig: id.Sign(crypto.DeviceProofMessage(user, name, signPub, hpkePub, issued))}
}

// CheckRegistered checks the relay's answer to a registration of device
// dev: it must carry a token, and any device id it names must be dev.
// Errors wrap ErrBadAnswer.
func CheckRegistered(out api.RegisterResponse, dev model.DeviceID) error {
	if out.Token == "" {
		return fmt.Errorf("%w: no token", ErrBadAnswer)
	}
	if out.DeviceID != "" && out.DeviceID != dev {
		return fmt.Errorf("%w: device id %q, want %q", ErrBadAnswer, out.DeviceID, dev)
	}
	return nil
}

// Pin is the catalog key a device trusts: configured, or pinned on first
// use and kept in the device's store at PinKey. It is safe for
// concurrent use; once a key is set it never changes.
type Pin struct {
	st  store.Store
	mu  sync.Mutex
	key ed25519.PublicKey
}

// LoadPin returns the pin kept in st. A non-nil fixed key is trusted
// instead of anything stored (an app that ships its relay's key); it must
// be an Ed25519 public key. A stored key of the wrong size is ErrBadPin,
// not a key to replace.
func LoadPin(ctx context.Context, st store.Store, fixed ed25519.PublicKey) (*Pin, error) {
	p := &Pin{st: st}
	if fixed != nil {
		if len(fixed) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("device: catalog key is %d bytes, want %d", len(fixed), ed25519.PublicKeySize)
		}
		p.key = append(ed25519.PublicKey(nil), fixed...)
		return p, nil
	}
	switch k, err := st.Get(ctx, []byte(PinKey)); {
	case err == nil && len(k) == ed25519.PublicKeySize:
		p.key = ed25519.PublicKey(k)
	case err == nil:
		return nil, fmt.Errorf("%w: %d bytes", ErrBadPin, len(k))
	case !errors.Is(err, store.ErrNotFound):
		return nil, fmt.Errorf("device: load pinned catalog key: %w", err)
	}
	return p, nil
}

// Key returns the trusted key, or nil before one is pinned. The caller
// must not modify it.
func (p *Pin) Key() ed25519.PublicKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.key
}

// Set pins k when no key is trusted yet (stored before it is trusted) and
// reports whether it did; with a key trusted, k must equal it
// (ErrCatalogKeyMismatch). A k of the wrong size wraps ErrBadAnswer.
func (p *Pin) Set(ctx context.Context, k []byte) (pinned bool, err error) {
	if len(k) != ed25519.PublicKeySize {
		return false, fmt.Errorf("%w: catalog key is %d bytes", ErrBadAnswer, len(k))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.key != nil {
		if !p.key.Equal(ed25519.PublicKey(k)) {
			return false, ErrCatalogKeyMismatch
		}
		return false, nil
	}
	if err := p.st.Set(ctx, []byte(PinKey), k); err != nil {
		return false, fmt.Errorf("device: pin catalog key: %w", err)
	}
	p.key = append(ed25519.PublicKey(nil), k...)
	return true, nil
}

// Resolve returns the trusted key; before one is pinned it asks ask (the
// relay's GET /v1/catalog/key) and pins the answer. It is the shape of a
// fetch.KeyFunc.
func (p *Pin) Resolve(ctx context.Context, ask func(context.Context) ([]byte, error)) (ed25519.PublicKey, error) {
	if k := p.Key(); k != nil {
		return k, nil
	}
	k, err := ask(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := p.Set(ctx, k); err != nil {
		return nil, err
	}
	return p.Key(), nil
}

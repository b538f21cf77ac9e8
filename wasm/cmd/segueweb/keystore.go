//go:build js && wasm

package main

import (
	"context"
	"errors"
	"fmt"
	"syscall/js"

	"github.com/segue-fm/segue/crypto"
)

// jsKeyStore is a crypto.KeyStore over the page's key store (segue.js
// keyStore): secrets are encrypted with a non-extractable AES-GCM
// WebCrypto key kept in IndexedDB, so they are never stored in clear and
// the wrapping key cannot be read out of the browser.
type jsKeyStore struct{ v js.Value }

// awaitPromise waits for a JS promise; a rejection is an error with its
// message, and a rejection whose name is "NotFound" matches
// crypto.ErrKeyNotFound, one whose name is "Exists" crypto.ErrKeyExists.
func awaitPromise(ctx context.Context, p js.Value) (js.Value, error) {
	type outcome struct {
		v   js.Value
		err error
	}
	ch := make(chan outcome, 1)
	ok := js.FuncOf(func(_ js.Value, a []js.Value) any {
		ch <- outcome{v: a[0]}
		return nil
	})
	fail := js.FuncOf(func(_ js.Value, a []js.Value) any {
		err := errors.New("rejected")
		if len(a) > 0 && a[0].Truthy() {
			if a[0].Get("name").String() == "NotFound" {
				err = crypto.ErrKeyNotFound
			} else if a[0].Get("name").String() == "Exists" {
				err = crypto.ErrKeyExists
			} else if msg := a[0].Get("message"); msg.Type() == js.TypeString && msg.String() != "" {
				err = errors.New(msg.String())
			} else {
				// A DOMException such as WebCrypto's OperationError may
				// have no message: its name is then the reason.
				err = errors.New(a[0].Get("name").String())
			}
		}
		ch <- outcome{err: err}
		return nil
	})
	defer ok.Release()
	defer fail.Release()
	p.Call("then", ok, fail)
	select {
	case o := <-ch:
		return o.v, o.err
	case <-ctx.Done():
		go func() { <-ch }()
		return js.Undefined(), ctx.Err()
	}
}

func (k jsKeyStore) Load(ctx context.Context, name string) ([]byte, error) {
	v, err := awaitPromise(ctx, k.v.Call("load", name))
	if err != nil {
		if errors.Is(err, crypto.ErrKeyNotFound) {
			return nil, fmt.Errorf("%w: %s", crypto.ErrKeyNotFound, name)
		}
		return nil, fmt.Errorf("key store: load %s: %w", name, err)
	}
	b := make([]byte, v.Length())
	js.CopyBytesToGo(b, v)
	return b, nil
}

func (k jsKeyStore) Save(ctx context.Context, name string, secret []byte) error {
	u := js.Global().Get("Uint8Array").New(len(secret))
	js.CopyBytesToJS(u, secret)
	if _, err := awaitPromise(ctx, k.v.Call("save", name, u)); err != nil {
		return fmt.Errorf("key store: save %s: %w", name, err)
	}
	return nil
}

// Create implements crypto.KeyCreator (the page key store's create: an
// IndexedDB add).
func (k jsKeyStore) Create(ctx context.Context, name string, secret []byte) error {
	u := js.Global().Get("Uint8Array").New(len(secret))
	js.CopyBytesToJS(u, secret)
	if _, err := awaitPromise(ctx, k.v.Call("create", name, u)); err != nil {
		if errors.Is(err, crypto.ErrKeyExists) {
			return fmt.Errorf("%w: %s", crypto.ErrKeyExists, name)
		}
		return fmt.Errorf("key store: create %s: %w", name, err)
	}
	return nil
}

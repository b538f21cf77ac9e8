//go:build js && wasm

package idbstore

import (
	"context"
	"fmt"
	"syscall/js"
)

// LockName returns the name of the Web Lock (navigator.locks) every
// Set, Delete and Update of the database name holds while it runs.
func LockName(name string) string { return "idbstore:" + name }

// WebLock waits for the exclusive Web Lock name (navigator.locks), shared
// by the tabs and workers of the page's origin, and returns its release.
// Without the Web Locks API (an old browser, a page not in a secure
// context) it takes nothing and returns a no-op. When ctx ends first, the
// request is withdrawn (or, if the lock was granted meanwhile, released)
// and ctx's error returned. The browser releases a lock whose tab closes.
func WebLock(ctx context.Context, name string) (release func(), err error) {
	nav := js.Global().Get("navigator")
	if !nav.Truthy() || !nav.Get("locks").Truthy() {
		return func() {}, nil
	}
	granted := make(chan js.Value, 1) // the resolve of the promise the lock is held by
	settled := make(chan struct{}, 1)
	var exec, cb, fin js.Func
	exec = js.FuncOf(func(_ js.Value, a []js.Value) any {
		granted <- a[0]
		return nil
	})
	cb = js.FuncOf(func(js.Value, []js.Value) any {
		return js.Global().Get("Promise").New(exec)
	})
	fin = js.FuncOf(func(js.Value, []js.Value) any {
		settled <- struct{}{}
		return nil
	})
	releaseFuncs := func() {
		exec.Release()
		cb.Release()
		fin.Release()
	}
	ac := js.Global().Get("AbortController").New()
	opts := js.Global().Get("Object").New()
	opts.Set("signal", ac.Get("signal"))
	p := nav.Get("locks").Call("request", name, opts, cb)
	p.Call("then", fin, fin)
	select {
	case resolve := <-granted:
		return func() {
			resolve.Invoke()
			// The request's promise settles once the lock is released.
			go func() { <-settled; releaseFuncs() }()
		}, nil
	case <-settled:
		releaseFuncs()
		return nil, fmt.Errorf("%w: web lock %q refused", ErrIndexedDB, name)
	case <-ctx.Done():
		ac.Call("abort")
		go func() {
			select {
			case resolve := <-granted:
				resolve.Invoke()
				<-settled
			case <-settled:
			}
			releaseFuncs()
		}()
		return nil, ctx.Err()
	}
}

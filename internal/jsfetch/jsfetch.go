//go:build js && wasm

package jsfetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall/js"
)

// ErrFetchFailed is wrapped by the error of a fetch the browser rejected
// (network failure, CORS refusal, aborted by the context) and of a body
// read that failed.
var ErrFetchFailed = errors.New("jsfetch: fetch failed")

// ErrBadResponse is returned for an answer whose Content-Length header is
// not a non-negative integer.
var ErrBadResponse = errors.New("jsfetch: bad response")

// WholeBodyMax is the largest declared Content-Length whose body is read
// with one arrayBuffer() call — one wait for the page's thread — instead
// of one stream read per network chunk and one more for the end (each a
// turn of the page's event loop between Go and JavaScript). Larger or
// undeclared lengths are streamed.
const WholeBodyMax = 1 << 20

// Client sends requests with the global fetch function. The zero value
// is ready to use and safe for concurrent use.
type Client struct{}

var (
	uint8Array      = js.Global().Get("Uint8Array")
	abortController = js.Global().Get("AbortController")
	headersCtor     = js.Global().Get("Headers")
	objectCtor      = js.Global().Get("Object")
	arrayCtor       = js.Global().Get("Array")
)

// settled is one outcome of a JS promise.
type settled struct {
	v   js.Value
	err error
}

// await waits for p to settle or for ctx to end; then it calls abort
// (when non-nil: the fetch's AbortController, which rejects p) and
// returns ctx's error. The callbacks release themselves when p settles.
func await(ctx context.Context, p js.Value, abort func()) (js.Value, error) {
	ch := make(chan settled, 1)
	var ok, fail js.Func
	release := func() { ok.Release(); fail.Release() }
	ok = js.FuncOf(func(_ js.Value, args []js.Value) any {
		release()
		ch <- settled{v: args[0]}
		return nil
	})
	fail = js.FuncOf(func(_ js.Value, args []js.Value) any {
		release()
		ch <- settled{err: jsError(args[0])}
		return nil
	})
	p.Call("then", ok, fail)
	select {
	case s := <-ch:
		return s.v, s.err
	case <-ctx.Done():
		if abort != nil {
			abort()
		}
		return js.Undefined(), ctx.Err()
	}
}

// jsError turns a rejection reason into an error wrapping ErrFetchFailed.
func jsError(v js.Value) error {
	msg := "unknown reason"
	switch {
	case v.Type() == js.TypeObject && v.Get("message").Type() == js.TypeString:
		msg = v.Get("message").String()
		if c := v.Get("cause"); c.Type() == js.TypeObject && c.Get("message").Type() == js.TypeString {
			msg += ": " + c.Get("message").String()
		}
	case v.Type() == js.TypeString:
		msg = v.String()
	}
	return fmt.Errorf("%w: %s", ErrFetchFailed, msg)
}

// Do sends req with fetch and returns the answer. Any status is a
// response, as with http.Client; the caller closes the body. req.Body,
// when non-nil, is read whole and closed.
func (Client) Do(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	opt := objectCtor.New()
	opt.Set("method", req.Method)
	opt.Set("credentials", "same-origin")
	var abort func()
	if !abortController.IsUndefined() {
		ac := abortController.New()
		opt.Set("signal", ac.Get("signal"))
		abort = func() { ac.Call("abort") }
	}
	h := headersCtor.New()
	for k, vs := range req.Header {
		for _, v := range vs {
			h.Call("append", k, v)
		}
	}
	opt.Set("headers", h)
	keepalive := Keepalive(ctx)
	if keepalive {
		opt.Set("keepalive", true)
	}
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("jsfetch: read request body: %w", err)
		}
		if keepalive && len(b) > KeepaliveMax {
			return nil, fmt.Errorf("%w: %d bytes", ErrKeepaliveBody, len(b))
		}
		if len(b) > 0 {
			a := uint8Array.New(len(b))
			js.CopyBytesToJS(a, b)
			opt.Set("body", a)
		}
	}
	res, err := await(ctx, js.Global().Call("fetch", req.URL.String(), opt), abort)
	if err != nil {
		return nil, err
	}
	header := headerOf(res.Get("headers"))
	length := int64(-1)
	if cl := header.Get("Content-Length"); cl != "" {
		if length, err = strconv.ParseInt(cl, 10, 64); err != nil || length < 0 {
			if b := res.Get("body"); b.Truthy() {
				b.Call("cancel")
			}
			return nil, fmt.Errorf("%w: Content-Length %q", ErrBadResponse, cl)
		}
	}
	uncompressed := false
	if ce := header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		// The browser has decoded the body; the declared length is the
		// encoded one.
		header.Del("Content-Encoding")
		header.Del("Content-Length")
		length, uncompressed = -1, true
	}
	code := res.Get("status").Int()
	resp := &http.Response{
		Status:        strconv.Itoa(code) + " " + http.StatusText(code),
		StatusCode:    code,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        header,
		ContentLength: length,
		Uncompressed:  uncompressed,
		Request:       req,
	}
	if b := res.Get("body"); b.Truthy() && (length < 0 || length > WholeBodyMax) {
		reader := b.Call("getReader")
		cancel := abort
		if cancel == nil {
			cancel = func() { reader.Call("cancel") }
		}
		resp.Body = &streamBody{ctx: ctx, reader: reader, abort: cancel}
	} else {
		resp.Body = &arrayBody{ctx: ctx, res: res, abort: abort}
	}
	return resp, nil
}

// headerOf returns the Fetch API Headers h as an http.Header, read in
// one crossing into JavaScript (Array.from(h).flat().join("\n")) rather
// than several per header: each crossing that returns an object costs the
// page's thread a js.Value and its finalizer (docs/BENCHMARKS.md, "Web
// player: response headers in one crossing"). Header names and values
// never contain a line feed (the Fetch API refuses them), so the joined
// list splits back exactly.
func headerOf(h js.Value) http.Header {
	header := http.Header{}
	flat := arrayCtor.Call("from", h).Call("flat").Call("join", "\n").String()
	if flat == "" {
		return header
	}
	kv := strings.Split(flat, "\n")
	for i := 0; i+1 < len(kv); i += 2 {
		header.Add(kv[i], kv[i+1])
	}
	return header
}

// errClosed is returned by a Read after Close.
var errClosed = errors.New("jsfetch: body closed")

// streamBody reads a response's ReadableStream chunk by chunk.
type streamBody struct {
	ctx     context.Context
	reader  js.Value
	abort   func()
	pending []byte
	err     error
}

func (b *streamBody) Read(p []byte) (int, error) {
	for len(b.pending) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		r, err := await(b.ctx, b.reader.Call("read"), b.abort)
		switch {
		case err != nil:
			b.err = err
		case r.Get("done").Bool():
			b.err = io.EOF
		default:
			v := r.Get("value")
			b.pending = make([]byte, v.Get("byteLength").Int())
			js.CopyBytesToGo(b.pending, v)
		}
	}
	n := copy(p, b.pending)
	b.pending = b.pending[n:]
	return n, nil
}

func (b *streamBody) Close() error {
	if b.err == nil {
		b.reader.Call("cancel")
	}
	b.err, b.pending = errClosed, nil
	return nil
}

// arrayBody reads a response whole: one of a declared length up to
// WholeBodyMax, or any without a stream (older browsers).
type arrayBody struct {
	ctx     context.Context
	res     js.Value // the Response; its arrayBuffer() is called by the first Read
	abort   func()
	read    bool
	pending []byte
	err     error
}

func (b *arrayBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if !b.read {
		b.read = true
		v, err := await(b.ctx, b.res.Call("arrayBuffer"), b.abort)
		if err != nil {
			b.err = err
			return 0, err
		}
		a := uint8Array.New(v)
		b.pending = make([]byte, a.Get("byteLength").Int())
		js.CopyBytesToGo(b.pending, a)
	}
	if len(b.pending) == 0 {
		return 0, io.EOF
	}
	n := copy(p, b.pending)
	b.pending = b.pending[n:]
	return n, nil
}

func (b *arrayBody) Close() error {
	if !b.read && b.abort != nil {
		b.abort() // not read: stop the transfer
	}
	b.read, b.err, b.pending = true, errClosed, nil
	return nil
}

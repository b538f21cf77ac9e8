package download_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
)

// cancelAfterAnswer is a transport that reads the whole answer of a
// request to path, then calls cancel (if set): the caller's context ends
// just after the relay answered.
type cancelAfterAnswer struct {
	path   string
	mu     sync.Mutex
	cancel context.CancelFunc
}

func (c *cancelAfterAnswer) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || req.URL.Path != c.path {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	c.mu.Lock()
	if c.cancel != nil {
		c.cancel()
	}
	c.mu.Unlock()
	return resp, nil
}

// TestAnswerAppliedAfterCancel: a renewal answer the relay gave is
// applied even when the caller's context ends as it arrives (the app
// closing, segue offline exiting): a signed revocation deletes the
// licenses, a renewed license is stored. Before, the store write failed
// with the cancelled context and the answer was dropped: the relay had
// revoked the device (or replaced its licenses) and the device went on
// as before; with segue offline, whose own renewal pass raced the
// command's exit, a deregistered device stayed unrevoked run after run.
func TestAnswerAppliedAfterCancel(t *testing.T) {
	cases := []struct {
		name       string
		deregister bool
	}{
		{"revoked", true},
		{"renewed", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, p := demoBed(t)
			ctx := waitCtx(t)
			dir := t.TempDir()
			d := b.openDevice(t, dir, "boot1", download.DefaultOptions())
			id := p.tracks[0]
			downloadOne(t, ctx, d, id)
			before, err := d.dl.Status(ctx)
			if err != nil || len(before.Licenses) != 1 {
				t.Fatalf("status: %+v, %v", before, err)
			}
			if tc.deregister {
				testbed.Deregister(t, b.url, d.e.DeviceID(), d.e.Token())
			}
			d.close()
			tr := &cancelAfterAnswer{path: "/v1/licenses/renew"}
			e, err := core.Open(ctx, dir, b.engineOptions().WithHTTPClient(&http.Client{Transport: tr, Timeout: 10 * time.Second}))
			if err != nil {
				t.Fatal(err)
			}
			defer e.Close()
			dl, err := e.OpenDownloads(ctx, download.DefaultOptions().WithClock(b.clock.Now, b.clock.Mono, "boot1"))
			if err != nil {
				t.Fatal(err)
			}
			b.clock.Advance(time.Hour) // the renewed license is a later one
			rctx, cancel := context.WithCancel(ctx)
			defer cancel()
			tr.mu.Lock()
			tr.cancel = cancel
			tr.mu.Unlock()
			err = dl.Renew(rctx)
			st, serr := dl.Status(ctx)
			if serr != nil {
				t.Fatal(serr)
			}
			if tc.deregister {
				if !errors.Is(err, download.ErrRevoked) || !st.Revoked {
					t.Fatalf("renewal answered revoked as the caller gave up: %v, revoked %v; want ErrRevoked, revoked", err, st.Revoked)
				}
				if _, err := dl.ContentKey(ctx, id, model.TierLow); !errors.Is(err, download.ErrRevoked) {
					t.Fatalf("content key: %v, want ErrRevoked", err)
				}
				return
			}
			if err != nil || len(st.Licenses) != 1 || st.Licenses[0].ID == before.Licenses[0].ID {
				t.Fatalf("renewal answered as the caller gave up: %v, licenses %+v; want the renewed one stored", err, st.Licenses)
			}
		})
	}
}

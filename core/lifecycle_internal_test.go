package core

import (
	"context"
	"net/http"
	"testing"

	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/store"
)

// TestHTTPClientPerEngine: engines opened from one Options value each
// make their own client (so each Close may close its connections), while
// a client given with WithHTTPClient is used as is and never counted as
// the engine's own.
func TestHTTPClientPerEngine(t *testing.T) {
	app := &http.Client{}
	tests := []struct {
		name    string
		opts    Options
		wantOwn bool
	}{
		{"default", DefaultOptions(), true},
		{"http1", DefaultOptions().WithHTTP2(false), true},
		{"app client", DefaultOptions().WithHTTPClient(app), false},
		{"app client, then WithHTTP2", DefaultOptions().WithHTTPClient(app).WithHTTP2(false), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := tc.opts.WithOrigins("http://127.0.0.1:1")
			open := func() *Engine {
				e, err := Open(context.Background(), "", opts.WithStore(store.NewMemory()).WithKeyStore(&crypto.MemoryKeyStore{}))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { e.Close() })
				return e
			}
			e1, e2 := open(), open()
			if e1.ownClient != tc.wantOwn || e2.ownClient != tc.wantOwn {
				t.Errorf("own client %v, %v; want %v", e1.ownClient, e2.ownClient, tc.wantOwn)
			}
			if tc.wantOwn && e1.client == e2.client {
				t.Error("two engines from one Options share a client")
			}
			if !tc.wantOwn && (e1.client != app || e2.client != app) {
				t.Error("the app's client was not used")
			}
		})
	}
}

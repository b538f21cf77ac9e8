package core_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/store"
)

// FuzzRelayAnswers serves arbitrary bodies as the relay's answers to
// registration and key requests: the engine must never panic, must fail
// with an error rather than accept a malformed answer, and must never
// pin a catalog key that is not 32 bytes.
func FuzzRelayAnswers(f *testing.F) {
	f.Add(201, []byte(`{"device_id":"","token":"tok","catalog_key":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}`), []byte(`{"wrapped":"AAAA"}`))
	f.Add(201, []byte(`{"token":""}`), []byte(`{}`))
	f.Add(200, []byte(`{"token":"x","catalog_key":"AAE="}`), []byte(`{"wrapped":null}`))
	f.Add(500, []byte(`{"error":"boom"}`), []byte(`not json`))
	f.Add(201, []byte(`[`), []byte(`{"wrapped":"`+string(make([]byte, 10))+`"}`))
	f.Fuzz(func(t *testing.T, status int, register, key []byte) {
		if status < 200 || status > 599 {
			status = 200
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch r.URL.Path {
			case "/v1/devices":
				w.WriteHeader(status)
				w.Write(register)
			case "/v1/keys/stream":
				w.Write(key)
			default:
				http.NotFound(w, r)
			}
		}))
		defer srv.Close()
		ctx := context.Background()
		st := store.NewMemory()
		e, err := core.Open(ctx, "", core.DefaultOptions().WithOrigins(srv.URL).WithStore(st).
			WithKeyStore(&crypto.MemoryKeyStore{}).WithLogger(quiet()))
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close()
		if err := e.Register(ctx, "ada", "password!", "fuzz"); err != nil {
			if e.Token() != "" {
				t.Fatal("token kept after a failed registration")
			}
			return
		}
		if e.Token() == "" {
			t.Fatal("registered without a token")
		}
		if k, err := st.Get(ctx, []byte("cfg/catalog-key")); err == nil && len(k) != 32 {
			t.Fatalf("pinned a %d-byte catalog key", len(k))
		}
		_, err = e.OpenTrack(ctx, "trfuzz", "high")
		if err == nil {
			t.Fatal("opened a track from a fuzzed relay")
		}
		if errors.Is(err, core.ErrClosed) {
			t.Fatal(err)
		}
	})
}

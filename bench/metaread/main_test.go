package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestLoadConn checks the hand-written load generator against net/http:
// it counts exactly the 200 answers the server gave on one keep-alive
// connection, sends the token, and stops at the first other status.
func TestLoadConn(t *testing.T) {
	var served, conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		served.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"id":"tr1","title":"x"}` + "\n"))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	host, path, err := splitURL(srv.URL + "/v1/tracks/tr1")
	if err != nil || path != "/v1/tracks/tr1" {
		t.Fatalf("splitURL: %q %q %v", host, path, err)
	}
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\nAuthorization: Bearer tok\r\n\r\n")
	n, err := loadConn(host, req, time.Now().Add(200*time.Millisecond))
	if err != nil || n == 0 || n != served.Load() || conns.Load() != 1 {
		t.Fatalf("loadConn: %d answers, %v; server served %d on %d connections", n, err, served.Load(), conns.Load())
	}
	bad := []byte(strings.Replace(string(req), "Bearer tok", "Bearer nope", 1))
	if n, err := loadConn(host, bad, time.Now().Add(time.Second)); err == nil || n != 0 || !strings.Contains(err.Error(), "status 401") {
		t.Fatalf("401: %d answers, %v; want an error naming the status", n, err)
	}
}

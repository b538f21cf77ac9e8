package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestCheckPprofAddr(t *testing.T) {
	cases := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:6060", true},
		{"127.0.0.1:0", true},
		{"[::1]:6060", true},
		{"localhost:6060", true},
		{"0.0.0.0:6060", false},
		{":6060", false},
		{"10.0.0.1:6060", false},
		{"example.com:6060", false},
		{"127.0.0.1", false},
		{"127.0.0.1:", false},
	}
	for _, c := range cases {
		t.Run(c.addr, func(t *testing.T) {
			err := checkPprofAddr(c.addr)
			if c.ok != (err == nil) {
				t.Fatalf("checkPprofAddr(%q) = %v, want ok %v", c.addr, err, c.ok)
			}
			if err != nil && !errors.Is(err, errPprofAddr) {
				t.Fatalf("err %v, want errPprofAddr", err)
			}
		})
	}
}

// TestStartPprofServesIndex: the profile index answers on the bound
// loopback address and the server stops with its context.
func TestStartPprofServesIndex(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	addr, err := startPprof(ctx, "127.0.0.1:0", slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr.String() + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if _, err := startPprof(ctx, "0.0.0.0:0", slog.Default()); !errors.Is(err, errPprofAddr) {
		t.Fatalf("non-loopback: err %v, want errPprofAddr", err)
	}
}

// TestRecordContention: after recordContention the mutex profile samples
// at contentionMutexFraction and the block profile records a goroutine's
// wait on a channel.
func TestRecordContention(t *testing.T) {
	t.Cleanup(func() {
		runtime.SetBlockProfileRate(0)
		runtime.SetMutexProfileFraction(0)
	})
	recordContention()
	if got := runtime.SetMutexProfileFraction(-1); got != contentionMutexFraction {
		t.Errorf("mutex profile fraction %d, want %d", got, contentionMutexFraction)
	}
	before, _ := runtime.BlockProfile(nil)
	var wg sync.WaitGroup
	ch := make(chan struct{})
	wg.Go(func() { <-ch })
	time.Sleep(5 * time.Millisecond)
	close(ch)
	wg.Wait()
	if after, _ := runtime.BlockProfile(nil); after <= before {
		t.Errorf("block profile records %d, %d before a 5 ms wait: want more", after, before)
	}
}

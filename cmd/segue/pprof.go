package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"runtime"
	"time"
)

// Sampling of --pprof-contention: a blocking event is recorded with
// probability (its duration / contentionBlockRate), so waits of 10 µs and
// more always; one contended lock in contentionMutexFraction.
const (
	contentionBlockRate     = int(10 * time.Microsecond)
	contentionMutexFraction = 10
)

// recordContention turns on the block and mutex profiles for the rest of
// the process (--pprof-contention): where goroutines wait off the CPU,
// which the CPU profile does not show.
func recordContention() {
	runtime.SetBlockProfileRate(contentionBlockRate)
	runtime.SetMutexProfileFraction(contentionMutexFraction)
}

// errPprofAddr is returned for a --pprof address that is not a loopback
// host:port.
var errPprofAddr = errors.New("pprof: address must be a loopback host:port")

// checkPprofAddr validates a --pprof address: the profiles expose the
// process's internals, so only a literal loopback IP (or "localhost")
// is accepted.
func checkPprofAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%w: %q: %v", errPprofAddr, addr, err)
	}
	if port == "" {
		return fmt.Errorf("%w: %q has no port", errPprofAddr, addr)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%w: %q", errPprofAddr, addr)
	}
	return nil
}

// startPprof serves net/http/pprof on addr (checked with checkPprofAddr)
// until ctx ends, on its own listener and mux, so nothing of it is
// reachable through the relay's public address. It returns the bound
// address.
func startPprof(ctx context.Context, addr string, log *slog.Logger) (net.Addr, error) {
	if err := checkPprofAddr(addr); err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pprof: listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("pprof: serve", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return ln.Addr(), nil
}

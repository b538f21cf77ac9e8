// Command loginflood measures the relay's memory and availability under a
// flood of wrong-password logins (issue 9, item 4). It builds the segue
// binary (or uses -bin), starts `segue relay` as a child process over a
// fresh data directory with the production Argon2id cost, signs up two
// accounts, then acts as the load generator: -n workers, spread over
// -addrs loopback source addresses (127.0.1.x), each keep one wrong
// password check in flight (half against an existing account, half
// against unknown usernames) for -for. Meanwhile a legitimate client on
// 127.0.0.2 logs in -legit times, honouring Retry-After on 429 and 503.
//
// It samples the relay's RSS from /proc every 10 ms and prints the
// baseline, the peak (and the kernel's VmHWM), the RSS once the flood
// has ended, the answers by status and the legitimate logins' latency. It
// exits 1 when the peak exceeds -max-rss or a legitimate login failed.
//
//	go run ./bench/loginflood
//
// Linux only (loopback source addresses, /proc).
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/crypto"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loginflood:", err)
		os.Exit(1)
	}
}

// config is the command line.
type config struct {
	bin    string
	n      int
	addrs  int
	dur    time.Duration
	legit  int
	maxRSS int64
}

func run() error {
	var cfg config
	flag.StringVar(&cfg.bin, "bin", "", "segue binary (default: go build ./cmd/segue into a temporary directory)")
	flag.IntVar(&cfg.n, "n", 1000, "concurrent wrong-password logins")
	flag.IntVar(&cfg.addrs, "addrs", 100, "loopback source addresses the flood comes from (1 to 250)")
	flag.DurationVar(&cfg.dur, "for", 20*time.Second, "how long the flood lasts")
	flag.IntVar(&cfg.legit, "legit", 5, "legitimate logins during the flood")
	flag.Int64Var(&cfg.maxRSS, "max-rss", 512<<20, "largest acceptable relay RSS in bytes")
	flag.Parse()
	if cfg.n < 1 || cfg.addrs < 1 || cfg.addrs > 250 || cfg.dur <= 0 {
		return errors.New("want -n ≥ 1, -addrs in 1..250 and -for > 0")
	}
	tmp, err := os.MkdirTemp("", "loginflood-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if cfg.bin == "" {
		cfg.bin = filepath.Join(tmp, "segue")
		if out, err := exec.Command("go", "build", "-o", cfg.bin, "github.com/segue-fm/segue/cmd/segue").CombinedOutput(); err != nil {
			return fmt.Errorf("go build: %v\n%s", err, out)
		}
	}
	rel, err := startRelay(cfg.bin, filepath.Join(tmp, "data"))
	if err != nil {
		return err
	}
	defer rel.stop()
	fmt.Printf("relay pid %d at %s; load average %s\n", rel.cmd.Process.Pid, rel.base, loadavg())

	legitClient := clientFrom("127.0.0.2")
	for _, u := range []string{"ada", "victim"} {
		code, _, err := post(legitClient, rel.base+"/v1/accounts", api.AccountRequest{Username: u, Password: "correct horse " + u})
		if err != nil || code != http.StatusCreated {
			return fmt.Errorf("sign up %s: %d %v", u, code, err)
		}
	}
	time.Sleep(time.Second)
	base, _ := rss(rel.cmd.Process.Pid, "VmRSS")

	samp := startSampler(rel.cmd.Process.Pid)
	ctx, cancel := context.WithTimeout(context.Background(), cfg.dur)
	defer cancel()
	statuses := floodStatuses{}
	var wg sync.WaitGroup
	clients := make([]*http.Client, cfg.addrs)
	for i := range clients {
		clients[i] = clientFrom(fmt.Sprintf("127.0.1.%d", i+1))
	}
	var seq atomic.Int64
	for w := range cfg.n {
		wg.Go(func() {
			client := clients[w%cfg.addrs]
			for ctx.Err() == nil {
				user := "victim"
				if w%2 == 1 {
					user = fmt.Sprintf("nobody%d", seq.Add(1))
				}
				code, _, err := postCtx(ctx, client, rel.base+"/v1/devices", badLogin(user))
				if ctx.Err() != nil {
					return
				}
				statuses.add(code, err)
			}
		})
	}
	time.Sleep(2 * time.Second)
	legit := make([]legitResult, 0, cfg.legit)
	for range cfg.legit {
		legit = append(legit, legitLogin(legitClient, rel.base, "ada", "correct horse ada", cfg.dur+30*time.Second))
	}
	wg.Wait()
	flood := time.Now()
	time.Sleep(3 * time.Second)
	after, _ := rss(rel.cmd.Process.Pid, "VmRSS")
	peak := samp.stop()
	hwm, _ := rss(rel.cmd.Process.Pid, "VmHWM")

	fmt.Printf("flood: %d concurrent wrong-password logins from %d addresses for %s\n", cfg.n, cfg.addrs, cfg.dur)
	fmt.Printf("answers: %s\n", statuses.String())
	fmt.Printf("RSS: baseline %s, peak %s (VmHWM %s), 3 s after the flood %s\n", mib(base), mib(peak), mib(hwm), mib(after))
	failed := false
	for i, l := range legit {
		fmt.Printf("legitimate login %d: status %d after %d attempts, %s\n", i+1, l.code, l.attempts, l.took.Round(time.Millisecond))
		failed = failed || l.code != http.StatusCreated
	}
	fmt.Printf("load average at the end %s (%s after the flood)\n", loadavg(), time.Since(flood).Round(time.Millisecond))
	if peak > cfg.maxRSS || hwm > cfg.maxRSS {
		return fmt.Errorf("peak RSS %s over %s", mib(max(peak, hwm)), mib(cfg.maxRSS))
	}
	if failed {
		return errors.New("a legitimate login failed")
	}
	return nil
}

// relayProc is the running `segue relay`.
type relayProc struct {
	cmd    *exec.Cmd
	base   string
	stderr *tail
}

func startRelay(bin, data string) (*relayProc, error) {
	cmd := exec.Command(bin, "relay", "-init", "-data", data, "-listen", "127.0.0.1:0", "-log-level", "warn")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	t := &tail{}
	cmd.Stderr = t
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	lines := bufio.NewScanner(out)
	if !lines.Scan() {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("relay printed no address; stderr:\n%s", t)
	}
	base, ok := strings.CutPrefix(lines.Text(), "relay listening on ")
	if !ok {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("unexpected relay output %q", lines.Text())
	}
	go io.Copy(io.Discard, out)
	return &relayProc{cmd: cmd, base: base, stderr: t}, nil
}

func (r *relayProc) stop() {
	r.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- r.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			fmt.Fprintf(os.Stderr, "relay exit: %v\nlast log lines:\n%s", err, r.stderr)
		}
	case <-time.After(15 * time.Second):
		r.cmd.Process.Kill()
		<-done
	}
}

// tail keeps the last 4 KiB written to it.
type tail struct {
	mu sync.Mutex
	b  []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

// clientFrom returns a client whose connections leave from ip.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{
		Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 1000},
		Timeout:   60 * time.Second,
	}
}

func post(client *http.Client, url string, body any) (int, http.Header, error) {
	return postCtx(context.Background(), client, url, body)
}

func postCtx(ctx context.Context, client *http.Client, url string, body any) (int, http.Header, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header, err
}

// badLogin is a device registration of user with a wrong password (the
// relay checks the password before the proof, so the proof is junk).
func badLogin(user string) api.RegisterRequest {
	return api.RegisterRequest{Username: user, Password: "not the password", Name: "x",
		SignPub: make([]byte, 32), HPKEPub: make([]byte, 32), Issued: time.Now().Unix(), Sig: make([]byte, 64)}
}

// legitResult is the outcome of one legitimate login.
type legitResult struct {
	code     int
	attempts int
	took     time.Duration
}

// legitLogin registers a new device of user, retrying on 429 and 503
// after the Retry-After the relay sent, for at most limit.
func legitLogin(client *http.Client, base, user, pw string, limit time.Duration) legitResult {
	id, err := crypto.NewIdentity(rand.Reader)
	if err != nil {
		return legitResult{}
	}
	start := time.Now()
	var res legitResult
	for time.Since(start) < limit {
		issued := time.Now()
		sp, hp := id.SignPublic(), id.HPKEPublic()
		req := api.RegisterRequest{Username: user, Password: pw, Name: "legit", SignPub: sp, HPKEPub: hp,
			Issued: issued.Unix(), Sig: id.Sign(crypto.DeviceProofMessage(user, "legit", sp, hp, issued))}
		code, hdr, err := post(client, base+"/v1/devices", req)
		res.attempts++
		res.code = code
		if err != nil || (code != http.StatusTooManyRequests && code != http.StatusServiceUnavailable) {
			break
		}
		wait, err := strconv.Atoi(hdr.Get("Retry-After"))
		if err != nil || wait < 1 {
			wait = 1
		}
		time.Sleep(time.Duration(wait) * time.Second)
	}
	res.took = time.Since(start)
	return res
}

// floodStatuses counts the flood's answers by status (0: transport error).
type floodStatuses struct {
	mu sync.Mutex
	m  map[int]int
}

func (f *floodStatuses) add(code int, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = make(map[int]int)
	}
	if err != nil {
		code = 0
	}
	f.m[code]++
}

func (f *floodStatuses) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var codes []int
	for c := range f.m {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", c, f.m[c]))
	}
	return strings.Join(parts, ", ")
}

// sampler polls a process's RSS and keeps the peak.
type sampler struct {
	stopc chan struct{}
	peak  chan int64
}

func startSampler(pid int) *sampler {
	s := &sampler{stopc: make(chan struct{}), peak: make(chan int64, 1)}
	go func() {
		var peak int64
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if n, err := rss(pid, "VmRSS"); err == nil {
				peak = max(peak, n)
			}
			select {
			case <-s.stopc:
				s.peak <- peak
				return
			case <-tick.C:
			}
		}
	}()
	return s
}

func (s *sampler) stop() int64 {
	close(s.stopc)
	return <-s.peak
}

// rss reads field (VmRSS, VmHWM) of /proc/<pid>/status in bytes.
func rss(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) < 1 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }

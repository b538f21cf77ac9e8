package relay_test

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestRelayProcess builds the real binary, runs `segue relay` on a free
// loopback port over a data directory holding a published track, waits
// for /healthz, signs up, then sends SIGTERM and checks a clean exit.
func TestRelayProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the segue binary")
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "segue")
	build := exec.Command("go", "build", "-o", bin, "github.com/segue-fm/segue/cmd/segue")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/segue: %v\n%s", err, out)
	}
	data := filepath.Join(tmp, "data")
	publishSynthetic(t, data, 2, 1000)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "relay", "-listen", "127.0.0.1:0", "-insecure-fast-passwords")
	cmd.Env = append(os.Environ(), "SEGUE_DATA="+data, "SEGUE_ADMIN_TOKEN="+adminToken)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("no listening line; stderr:\n%s", stderr.String())
	}
	base, ok := strings.CutPrefix(lines.Text(), "relay listening on ")
	if !ok {
		t.Fatalf("unexpected first line %q", lines.Text())
	}
	e := &env{base: base}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay never healthy: %v\n%s", err, stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if res := e.do(t, "POST", "/v1/accounts", map[string]string{"username": "ada", "password": "correct horse"}, ""); res.code != 201 {
		t.Fatalf("sign up: %d %s", res.code, res.body)
	}
	if res := e.do(t, "GET", "/v1/tracks/tr1", nil, ""); res.code != 401 {
		t.Fatalf("unauthenticated track: %d", res.code)
	}
	if res := e.do(t, "GET", "/metrics", nil, adminToken); res.code != 200 {
		t.Fatalf("metrics with the env admin token: %d", res.code)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) || err != nil {
		t.Fatalf("relay exit after SIGTERM: %v\nstderr:\n%s", err, stderr.String())
	}
	for _, want := range []string{"relay listening", "relay stopped", "route=/v1/accounts", "status=201"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, stderr.String())
		}
	}
	if strings.Contains(stderr.String(), "correct horse") {
		t.Error("log contains a password")
	}
}

func TestCLIUsageErrors(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the segue binary")
	}
	bin := filepath.Join(t.TempDir(), "segue")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/segue-fm/segue/cmd/segue").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, args := range [][]string{
		{"relay", "-token-ttl", "forever"},
		{"relay", "-open-signup", "maybe"},
		{"relay", "-no-such-flag"},
		{"relay", "extra"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			err := exec.Command(bin, args...).Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Fatalf("exit %v, want status 2", err)
			}
		})
	}
}

// Package s3test starts a real S3-compatible server for tests: SeaweedFS
// (`weed server -s3`, built by scripts/install-weed.sh) on loopback ports
// in a temporary directory. Tests that use it fail under CI=true when
// `weed` is missing and are skipped otherwise; scripts/test.sh runs them
// once `weed` is built.
package s3test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segue-fm/segue/server/blobstore/s3blob"
)

// AccessKey and SecretKey are the one identity of a server started by
// Start (a test identity, not a secret).
const AccessKey, SecretKey = "segue-test", "segue-test-secret"

// WeedPath finds the SeaweedFS binary (scripts/install-test-deps.sh puts
// it in $(go env GOPATH)/bin). Without it the test fails under CI=true
// and is skipped otherwise.
func WeedPath(t testing.TB) string {
	if p, err := exec.LookPath("weed"); err == nil {
		return p
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if home, err := os.UserHomeDir(); err == nil {
			gopath = filepath.Join(home, "go")
		}
	}
	if p := filepath.Join(gopath, "bin", "weed"); gopath != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("SeaweedFS `weed` not found: run scripts/install-test-deps.sh")
	}
	t.Skip("SeaweedFS `weed` not found (scripts/install-test-deps.sh installs it)")
	return ""
}

// freePort returns a loopback port that is free, and whose +10000 (the
// gRPC port SeaweedFS derives) is free too.
func freePort(t testing.TB, rng *rand.Rand) int {
	for range 200 {
		p := 20000 + rng.IntN(20000)
		ok := true
		for _, q := range []int{p, p + 10000} {
			ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(q))
			if err != nil {
				ok = false
				break
			}
			ln.Close()
		}
		if ok {
			return p
		}
	}
	t.Fatal("no free port pair")
	return 0
}

// Start runs `weed server -s3` (master, volume, filer, S3 gateway)
// in a temporary directory on loopback ports with one identity, waits
// until its S3 API answers, and stops it at the end of the test. It
// returns the S3 endpoint (host:port).
func Start(t testing.TB) string {
	weed := WeedPath(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "s3.json")
	identities := fmt.Sprintf(`{"identities":[{"name":"segue","credentials":[{"accessKey":%q,"secretKey":%q}],"actions":["Admin","Read","Write","List","Tagging"]}]}`, AccessKey, SecretKey)
	if err := os.WriteFile(cfg, []byte(identities), 0o600); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), uint64(os.Getpid())))
	master, volume, filer, s3 := freePort(t, rng), freePort(t, rng), freePort(t, rng), freePort(t, rng)
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(weed, "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-dir="+data,
		"-master.port="+strconv.Itoa(master), "-volume.port="+strconv.Itoa(volume),
		"-filer.port="+strconv.Itoa(filer), "-master.volumeSizeLimitMB=64", "-volume.max=32",
		"-s3", "-s3.port="+strconv.Itoa(s3), "-s3.config="+cfg)
	logf, err := os.Create(filepath.Join(dir, "weed.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var exited atomic.Bool
	done := make(chan struct{})
	go func() { cmd.Wait(); exited.Store(true); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
	})
	endpoint := "127.0.0.1:" + strconv.Itoa(s3)
	deadline := time.Now().Add(90 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := s3blob.New(ctx, s3blob.DefaultOptions(endpoint, "probe").WithInsecure(true).WithCredentials(AccessKey, SecretKey))
		cancel()
		if err == nil {
			return endpoint
		}
		if exited.Load() || time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "weed.log"))
			t.Fatalf("SeaweedFS S3 not ready (exited %v): %v\n%s", exited.Load(), err, tail(log, 3000))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

package s3blob_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
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

	"github.com/segue-fm/segue/server/blobstore"
	"github.com/segue-fm/segue/server/blobstore/blobstoretest"
	"github.com/segue-fm/segue/server/blobstore/s3blob"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/store"
)

const accessKey, secretKey = "segue-test", "segue-test-secret"

// weedPath finds the SeaweedFS binary (scripts/install-test-deps.sh puts
// it in $(go env GOPATH)/bin). Without it the test fails under CI=true
// and is skipped otherwise.
func weedPath(t *testing.T) string {
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
func freePort(t *testing.T, rng *rand.Rand) int {
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

// startSeaweed runs `weed server -s3` (master, volume, filer, S3 gateway)
// in a temporary directory on loopback ports with one identity, waits
// until its S3 API answers, and stops it at the end of the test. It
// returns the S3 endpoint (host:port).
func startSeaweed(t *testing.T) string {
	weed := weedPath(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "s3.json")
	identities := fmt.Sprintf(`{"identities":[{"name":"segue","credentials":[{"accessKey":%q,"secretKey":%q}],"actions":["Admin","Read","Write","List","Tagging"]}]}`, accessKey, secretKey)
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
		_, err := s3blob.New(ctx, s3blob.DefaultOptions(endpoint, "probe").WithInsecure(true).WithCredentials(accessKey, secretKey))
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

// TestSeaweedConformance runs the blob-store conformance suite against a
// real SeaweedFS S3 gateway, each subtest under a fresh key prefix of one
// bucket (a bucket per subtest exhausts the small test server's volumes:
// SeaweedFS then answers PutObject with an internal error).
func TestSeaweedConformance(t *testing.T) {
	endpoint := startSeaweed(t)
	var n atomic.Int64
	blobstoretest.Run(t, func(t *testing.T) blobstore.Store {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := s3blob.New(ctx, s3blob.DefaultOptions(endpoint, "conformance").
			WithInsecure(true).WithCredentials(accessKey, secretKey).WithPrefix(fmt.Sprintf("run%d/", n.Add(1))))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
	t.Run("Catalog", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		bs, err := s3blob.New(ctx, s3blob.DefaultOptions(endpoint, "conformance").WithPrefix("catalog/").WithInsecure(true).WithCredentials(accessKey, secretKey))
		if err != nil {
			t.Fatal(err)
		}
		c := catalog.NewWithBlobs(store.NewMemory(), catalog.AtRestKey{1}, bs)
		data := []byte("encrypted bytes of a chunk")
		h, err := c.PutBlob(ctx, data)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := c.Blob(ctx, h); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("catalog read back %q, %v", got, err)
		}
		if ok, err := bs.Has(ctx, h); err != nil || !ok {
			t.Fatalf("the blob is not in the bucket: %v %v", ok, err)
		}
		if _, err := c.Blob(ctx, [32]byte{1}); !errors.Is(err, catalog.ErrNotFound) {
			t.Fatalf("unknown blob: %v", err)
		}
		if _, err := c.GC(ctx); !errors.Is(err, catalog.ErrExternalGC) {
			t.Fatalf("GC: %v", err)
		}
	})
	t.Run("WrongCredentials", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s, err := s3blob.New(ctx, s3blob.DefaultOptions(endpoint, "conformance").WithInsecure(true).WithCredentials(accessKey, "wrong"))
		if err == nil {
			b := []byte("x")
			if err := s.Put(ctx, sha256.Sum256(b), b); err == nil {
				t.Fatal("a Put with a wrong secret succeeded")
			}
		}
	})
}

func TestNewBadOptions(t *testing.T) {
	for _, o := range []s3blob.Options{
		s3blob.DefaultOptions("", "b"),
		s3blob.DefaultOptions("http://host:9000", "b"),
		s3blob.DefaultOptions("host:9000", ""),
	} {
		if _, err := s3blob.New(context.Background(), o); !errors.Is(err, s3blob.ErrBadOptions) {
			t.Errorf("%+v: %v, want ErrBadOptions", o, err)
		}
	}
}

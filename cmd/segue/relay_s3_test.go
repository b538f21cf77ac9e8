package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/server/blobstore"
	"github.com/segue-fm/segue/server/blobstore/s3blob"
	"github.com/segue-fm/segue/server/blobstore/s3blob/s3test"
	"github.com/segue-fm/segue/server/catalog"
)

// TestRelayS3Flags: bad --blob-s3-* combinations are usage errors before
// anything is opened; an unreachable endpoint is a clear error within
// --blob-s3-timeout; the secret key never appears in errors or logs.
func TestRelayS3Flags(t *testing.T) {
	const secret = "do-not-print-this-secret-7f3a"
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("SEGUE_BLOB_S3_ENDPOINT", "")
	t.Setenv("SEGUE_BLOB_S3_BUCKET", "")
	ep := []string{"--blob-s3-endpoint", "127.0.0.1:9000", "--blob-s3-bucket", "segue"}
	cases := []struct {
		name    string
		args    []string
		usage   bool   // want errUsage
		errText string // and an error containing this
	}{
		{"bucket without endpoint", []string{"--blob-s3-bucket", "segue"}, true, "--blob-s3-bucket needs --blob-s3-endpoint"},
		{"insecure without endpoint", []string{"--blob-s3-insecure"}, true, "needs --blob-s3-endpoint"},
		{"secret without endpoint", []string{"--blob-s3-secret-key-file", secretFile}, true, "needs --blob-s3-endpoint"},
		{"endpoint without bucket", []string{"--blob-s3-endpoint", "127.0.0.1:9000"}, true, "required with --blob-s3-endpoint"},
		{"endpoint with scheme", []string{"--blob-s3-endpoint", "http://127.0.0.1:9000", "--blob-s3-bucket", "segue"}, true, "without a scheme"},
		{"endpoint with path", []string{"--blob-s3-endpoint", "host/x", "--blob-s3-bucket", "segue"}, true, "want host[:port]"},
		{"bucket name", append(ep[:2:2], "--blob-s3-bucket", "Bad_Bucket"), true, "lowercase letters"},
		{"short bucket", append(ep[:2:2], "--blob-s3-bucket", "ab"), true, "3 to 63"},
		{"prefix with slash", append(ep, "--blob-s3-prefix", "/x"), true, "--blob-s3-prefix"},
		{"zero timeout", append(ep, "--blob-s3-timeout", "0s"), true, "positive"},
		{"access key without secret", append(ep, "--blob-s3-access-key", "ak"), true, "go together"},
		{"secret without access key", append(ep, "--blob-s3-secret-key-file", secretFile), true, "go together"},
		{"missing secret file", append(ep, "--blob-s3-access-key", "ak", "--blob-s3-secret-key-file", secretFile+".none"), false, "--blob-s3-secret-key-file"},
		{"unreachable endpoint", []string{"--blob-s3-endpoint", "127.0.0.1:1", "--blob-s3-bucket", "segue", "--blob-s3-insecure",
			"--blob-s3-access-key", "ak", "--blob-s3-secret-key-file", secretFile, "--blob-s3-timeout", "2s"}, false, "blob store s3 endpoint 127.0.0.1:1 bucket segue: "},
	}
	// An unreachable endpoint's error also says why: minio-go retries a
	// refused connection with backoff, so the deadline usually ends it,
	// but its retries may run out first.
	anyOf := map[string][]string{"unreachable endpoint": {"no answer within 2s", "connection refused"}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			args := append([]string{"-init", "-data", data, "-listen", "127.0.0.1:0", "-insecure-fast-passwords"}, c.args...)
			var stdout, stderr bytes.Buffer
			start := time.Now()
			err := runRelay(context.Background(), args, &stdout, &stderr)
			if err == nil || errors.Is(err, errUsage) != c.usage || !strings.Contains(err.Error(), c.errText) {
				t.Fatalf("err %v (usage %v), want one containing %q (usage %v)", err, errors.Is(err, errUsage), c.errText, c.usage)
			}
			if want := anyOf[c.name]; want != nil && !slices.ContainsFunc(want, func(s string) bool { return strings.Contains(err.Error(), s) }) {
				t.Fatalf("err %v, want one containing one of %q", err, want)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Fatalf("refused after %v", d)
			}
			if strings.Contains(err.Error()+stdout.String()+stderr.String(), secret) {
				t.Fatal("the secret key was printed")
			}
			if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the refused relay made its data directory: %v", err)
			}
		})
	}
}

// startRelayS3 runs `segue relay` in-process with args and returns its
// URL and a function stopping it (also called when the test ends).
func startRelayS3(t *testing.T, args ...string) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, append([]string{"relay", "-listen", "127.0.0.1:0", "-insecure-fast-passwords", "-log-level", "warn"}, args...), &out, &errOut)
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if c := <-code; c != 0 {
			t.Errorf("segue relay exited %d: %s", c, errOut.String())
		}
	}
	t.Cleanup(stop)
	re := regexp.MustCompile(`relay listening on (http://\S+)`)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1], stop
		}
		select {
		case c := <-code:
			stopped = true
			t.Fatalf("segue relay exited %d: %s", c, errOut.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatal("segue relay did not start")
	return "", nil
}

// TestRelayOnS3 runs `segue relay --blob-s3-*` against a real SeaweedFS:
// the demo album ingested through the relay's admin endpoint lands in the
// bucket and not in Badger, a device plays a track through the engine,
// the relay refuses to start without the bucket or with another prefix,
// and `segue ingest --gc` removes an orphan from the bucket and keeps
// every referenced blob.
func TestRelayOnS3(t *testing.T) {
	if testing.Short() {
		t.Skip("starts SeaweedFS and ingests the demo album")
	}
	endpoint := s3test.Start(t)
	t.Setenv("AWS_ACCESS_KEY_ID", s3test.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", s3test.SecretKey)
	const bucket, prefix, admin = "segue-relay", "blobs/", "s3-admin-token-0123456789abc"
	s3args := []string{"--blob-s3-endpoint", endpoint, "--blob-s3-bucket", bucket, "--blob-s3-prefix", prefix, "--blob-s3-insecure"}
	data := filepath.Join(t.TempDir(), "relay")
	url, stop := startRelayS3(t, append([]string{"-init", "-data", data, "-admin-token", admin}, s3args...)...)
	ctx := context.Background()

	var out, errOut bytes.Buffer
	if err := runIngest(ctx, []string{"--relay", url, "--admin-token", admin, "--album", demoAlbumDir(t)}, &out, &errOut); err != nil {
		t.Fatalf("ingest through the relay: %v\n%s", err, errOut.String())
	}
	var track string
	for _, l := range strings.Split(out.String(), "\n") {
		if f := strings.Split(l, "\t"); len(f) == 4 && f[1] == "ingested" {
			track = f[0]
			break
		}
	}
	if track == "" {
		t.Fatalf("no ingested track in:\n%s", out.String())
	}
	wav := filepath.Join(t.TempDir(), "x.wav")
	code, stdout, stderr := runCmd("play", "track", track, "--data", filepath.Join(t.TempDir(), "device"), "--relay", url,
		"--user", "ada", "--password", "correct horse battery", "--signup", "--tier", "low", "--gain", "off", "--out", wav)
	if code != 0 {
		t.Fatalf("play from the S3 relay: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if st, err := os.Stat(wav); err != nil || st.Size() < 100_000 {
		t.Fatalf("played WAV: %v (%v)", st, err)
	}
	stop()

	bs, err := s3blob.New(ctx, s3blob.DefaultOptions(endpoint, bucket).WithPrefix(prefix).WithInsecure(true).WithCredentials(s3test.AccessKey, s3test.SecretKey))
	if err != nil {
		t.Fatal(err)
	}
	dd, err := catalog.OpenDataDirWith(ctx, data, catalog.DefaultDataDirOptions().WithBlobs(bs, "s3:"+bucket+"/"+prefix))
	if err != nil {
		t.Fatal(err)
	}
	inBadger := 0
	dd.Store.Iterate(ctx, []byte(blobstore.KVPrefix), false, func(_, _ []byte) error { inBadger++; return nil })
	referenced := map[[32]byte]bool{}
	err = dd.Store.Iterate(ctx, []byte("aud/ref/"), false, func(k, _ []byte) error {
		h, ok := blobstore.ParseName(strings.SplitN(string(k[len("aud/ref/"):]), "/", 2)[0])
		if !ok {
			t.Fatalf("bad reference key %q", k)
		}
		referenced[h] = true
		return nil
	})
	dd.Close()
	if err != nil {
		t.Fatal(err)
	}
	inBucket := map[[32]byte]bool{}
	if err := bs.List(ctx, func(in blobstore.Info) error { inBucket[in.Hash] = true; return nil }); err != nil {
		t.Fatal(err)
	}
	if inBadger != 0 || len(referenced) < 20 || len(inBucket) != len(referenced) {
		t.Fatalf("%d blobs in Badger (want 0), %d referenced, %d in the bucket (want all referenced)", inBadger, len(referenced), len(inBucket))
	}
	for h := range referenced {
		if !inBucket[h] {
			t.Fatalf("referenced blob %x is not in the bucket", h)
		}
	}

	err = runRelay(ctx, []string{"-data", data, "-listen", "127.0.0.1:0", "-insecure-fast-passwords"}, &bytes.Buffer{}, &bytes.Buffer{})
	if !errors.Is(err, catalog.ErrBlobsNotOpened) || !strings.Contains(err.Error(), "s3:"+bucket+"/"+prefix) {
		t.Fatalf("relay without the bucket: %v, want ErrBlobsNotOpened naming it", err)
	}
	other := append(s3args[:len(s3args):len(s3args)], "--blob-s3-prefix", "other/")
	err = runRelay(ctx, append([]string{"-data", data, "-listen", "127.0.0.1:0", "-insecure-fast-passwords"}, other...), &bytes.Buffer{}, &bytes.Buffer{})
	if !errors.Is(err, catalog.ErrBlobStore) {
		t.Fatalf("relay with another prefix: %v, want ErrBlobStore", err)
	}

	orphan := []byte("an orphan left by a failed ingest")
	oh := sha256.Sum256(orphan)
	if err := bs.Put(ctx, oh, orphan); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := runIngest(ctx, append([]string{"--data", data, "--gc"}, s3args...), &out, &errOut); err != nil || !strings.Contains(out.String(), "gc: removed 0 unreferenced blobs") {
		t.Fatalf("gc within the grace period: %v\n%s", err, out.String())
	}
	out.Reset()
	if err := runIngest(ctx, append([]string{"--data", data, "--gc", "--gc-grace", "0s"}, s3args...), &out, &errOut); err != nil || !strings.Contains(out.String(), "gc: removed 1 unreferenced blobs") {
		t.Fatalf("gc: %v\n%s", err, out.String())
	}
	if ok, err := bs.Has(ctx, oh); err != nil || ok {
		t.Fatalf("the orphan is still in the bucket: %v %v", ok, err)
	}
	for h := range referenced {
		if ok, err := bs.Has(ctx, h); err != nil || !ok {
			t.Fatalf("gc removed referenced blob %x: %v", h, err)
		}
	}
}

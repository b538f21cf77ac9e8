package main

import (
	"bufio"
	"bytes"
	"context"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/internal/dirhash"
)

// buildSegue builds the segue binary into a temporary directory.
func buildSegue(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "segue")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// demoAlbumDir copies the demo album (album.json and its Ogg tiers) to a
// temporary directory and returns the album.json path.
func demoAlbumDir(t *testing.T) string {
	t.Helper()
	src := t.TempDir()
	sub, err := fs.Sub(demoalbum.FS, "data")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(src, sub); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(src, "album.json")
}

// runBin runs the binary to completion (bounded by 60 s) and returns its
// exit code and stderr.
func runBin(t *testing.T, bin string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("%v: still running after 60 s (it should have refused to start)\n%s", args, stderr.String())
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), stderr.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, stderr.String()
}

func sum(t *testing.T, dir string) string {
	t.Helper()
	s, err := dirhash.Sum(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRelayRefusesDamagedData runs the real `segue relay` on a data
// directory holding the ingested demo album, damaged the ways that used to
// start an empty relay, regenerate keys or panic: each run must exit
// non-zero naming the file and leave every byte of the directory as it was.
// An empty or absent directory is refused without --init, and --init
// refuses a non-empty one.
func TestRelayRefusesDamagedData(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the segue binary")
	}
	bin := buildSegue(t)
	template := filepath.Join(t.TempDir(), "relay")
	if code, errOut := runBin(t, bin, "ingest", "--data", template, "--quiet", "--album", demoAlbumDir(t)); code != 0 {
		t.Fatalf("ingest: exit %d\n%s", code, errOut)
	}
	dbFile := func(t *testing.T, dir, glob string) string {
		m, _ := filepath.Glob(filepath.Join(dir, "db", glob))
		if len(m) == 0 {
			t.Fatalf("no %s in %s/db", glob, dir)
		}
		return m[0]
	}
	truncate := func(t *testing.T, p string) {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(p, st.Size()/2); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string) string // returns the file the message must name
	}{
		{"delete MANIFEST", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "db", "MANIFEST")
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{"truncate MANIFEST", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "db", "MANIFEST")
			truncate(t, p)
			return p
		}},
		{"delete the catalog signing key", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "keys", "catalog-signing.key")
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{"truncate a table", func(t *testing.T, dir string) string {
			p := dbFile(t, dir, "*.sst")
			truncate(t, p)
			return p
		}},
		{"garbage in the at-rest key", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "keys", "catalog-at-rest.key")
			if err := os.WriteFile(p, bytes.Repeat([]byte{0x5a}, 37), 0o600); err != nil {
				t.Fatal(err)
			}
			return p
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "relay")
			if err := os.CopyFS(dir, os.DirFS(template)); err != nil {
				t.Fatal(err)
			}
			file := tc.damage(t, dir)
			before := sum(t, dir)
			code, errOut := runBin(t, bin, "relay", "--data", dir, "--listen", "127.0.0.1:0", "--insecure-fast-passwords")
			if code == 0 || !strings.Contains(errOut, file) {
				t.Fatalf("exit %d, want non-zero with a message naming %s:\n%s", code, file, errOut)
			}
			if strings.Contains(errOut, "panic") {
				t.Fatalf("relay panicked:\n%s", errOut)
			}
			if sum(t, dir) != before {
				t.Fatal("the refused start changed the data directory")
			}
		})
	}

	t.Run("empty dir without --init", func(t *testing.T) {
		for _, dir := range []string{t.TempDir(), filepath.Join(t.TempDir(), "absent")} {
			code, errOut := runBin(t, bin, "relay", "--data", dir, "--listen", "127.0.0.1:0")
			if code == 0 || !strings.Contains(errOut, "segue relay --init --data "+dir) {
				t.Fatalf("%s: exit %d, want a refusal telling to use --init:\n%s", dir, code, errOut)
			}
			if entries, err := os.ReadDir(dir); len(entries) > 0 || (err != nil && !os.IsNotExist(err)) {
				t.Fatalf("%s: the refused start wrote %d entries (%v)", dir, len(entries), err)
			}
		}
	})
	t.Run("--init on a non-empty dir", func(t *testing.T) {
		before := sum(t, template)
		code, errOut := runBin(t, bin, "relay", "--init", "--data", template, "--listen", "127.0.0.1:0")
		if code == 0 || !strings.Contains(errOut, "not empty") || !strings.Contains(errOut, "drop --init") {
			t.Fatalf("exit %d, want a refusal:\n%s", code, errOut)
		}
		if sum(t, template) != before {
			t.Fatal("the refused --init changed the data directory")
		}
	})
}

// startRelayBin runs the real `segue relay` with args on a free port and
// returns its URL; it is stopped (SIGTERM) when the test ends.
func startRelayBin(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"relay", "--listen", "127.0.0.1:0", "--insecure-fast-passwords", "--log-level", "warn"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		if err := cmd.Wait(); err != nil {
			t.Errorf("segue relay: %v\n%s", err, stderr.String())
		}
	})
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() {
		t.Fatalf("segue relay printed no address:\n%s", stderr.String())
	}
	url, ok := strings.CutPrefix(lines.Text(), "relay listening on ")
	if !ok {
		t.Fatalf("unexpected first line %q", lines.Text())
	}
	return url
}

// TestIngestWhileRelayRuns starts a new relay with `segue relay --init`,
// checks a direct ingest into its locked directory says how to ingest
// through the relay, ingests the demo album through the relay's admin
// endpoint (printing the album id), and plays one of its tracks from a
// device.
func TestIngestWhileRelayRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the segue binary")
	}
	bin := buildSegue(t)
	data := filepath.Join(t.TempDir(), "relay")
	const admin = "ingest-admin-token-0123456789"
	url := startRelayBin(t, bin, "--init", "--data", data, "--admin-token", admin)
	album := demoAlbumDir(t)
	ctx := context.Background()

	var out, errOut bytes.Buffer
	err := runIngest(ctx, []string{"--data", data, "--quiet", "--album", album}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "--relay URL --admin-token TOKEN") {
		t.Fatalf("ingest into the running relay's directory: %v, want a message naming --relay and --admin-token", err)
	}
	if err := runIngest(ctx, []string{"--relay", url, "--admin-token", "wrong", "--album", album}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("ingest with a wrong admin token: %v, want 401", err)
	}
	out.Reset()
	if err := runIngest(ctx, []string{"--relay", url, "--admin-token", admin, "--album", album}, &out, &errOut); err != nil {
		t.Fatalf("ingest through the relay: %v\n%s", err, errOut.String())
	}
	if n := strings.Count(out.String(), "\tingested\t"); n != 4 {
		t.Fatalf("%d tracks ingested, want 4:\n%s", n, out.String())
	}
	var track, albumID string
	for _, l := range strings.Split(out.String(), "\n") {
		f := strings.Split(l, "\t")
		switch {
		case len(f) == 3 && f[0] == "album":
			albumID = f[1]
		case len(f) == 4 && track == "":
			track = f[0]
		}
	}
	if !strings.HasPrefix(albumID, "al") || track == "" {
		t.Fatalf("no album id or track id in:\n%s", out.String())
	}
	wav := filepath.Join(t.TempDir(), "x.wav")
	code, stdout, stderr := runCmd("play", "track", track, "--data", filepath.Join(t.TempDir(), "device"), "--relay", url,
		"--user", "ada", "--password", "correct horse battery", "--signup", "--tier", "low", "--gain", "off", "--out", wav)
	if code != 0 {
		t.Fatalf("play the uploaded track: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if st, err := os.Stat(wav); err != nil || st.Size() < 100_000 {
		t.Fatalf("played WAV: %v (%v)", st, err)
	}
}

// TestRelayInitListenTaken: `segue relay --init` with its listen address
// taken created the relay (keys, database) and only then failed to
// listen, so running it again once the address was free was refused as
// "data directory is not empty". It now fails before writing anything.
func TestRelayInitListenTaken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := filepath.Join(t.TempDir(), "relay")
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"relay", "--init", "--data", dir, "--listen", ln.Addr().String()}, &out, &errb)
	if code == 0 || !strings.Contains(errb.String(), "address already in use") {
		t.Fatalf("exit %d, want a refusal naming the taken address:\n%s", code, errb.String())
	}
	if entries, err := os.ReadDir(dir); len(entries) > 0 || (err != nil && !os.IsNotExist(err)) {
		t.Fatalf("the refused start wrote %d entries in %s (%v)", len(entries), dir, err)
	}
}

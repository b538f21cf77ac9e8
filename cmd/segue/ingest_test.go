package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segue-fm/segue/internal/demoalbum"
	"github.com/segue-fm/segue/internal/testtool"
	"github.com/segue-fm/segue/player/wav"
	"github.com/segue-fm/segue/server/catalog"
)

func TestIngestCommand(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	sub, err := fs.Sub(demoalbum.FS, "data")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(src, sub); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(t.TempDir(), "relay")
	album := filepath.Join(src, "album.json")
	for i, want := range []string{"ingested", "already present"} {
		var out, errOut bytes.Buffer
		if err := runIngest(ctx, []string{"--data", data, "--quiet", "--album", album}, &out, &errOut); err != nil {
			t.Fatalf("run %d: %v\n%s", i, err, errOut.String())
		}
		if n := strings.Count(out.String(), "\t"+want+"\t"); n != 4 {
			t.Fatalf("run %d: %d tracks %s:\n%s", i, n, want, out.String())
		}
		if !strings.Contains(out.String(), "album\tal") || !strings.Contains(out.String(), `"Segue Demo"`) {
			t.Fatalf("run %d: no album id line:\n%s", i, out.String())
		}
	}
	usage := [][]string{
		{},
		{"--album", album},
		{"--data", data},
		{"--data", data, "--album", album, "x.wav"},
		{"--bogus"},
		// A --relay that is no http(s) URL failed the upload, exit 1.
		{"--relay", "garbage", "--admin-token", "t", "--album", album},
		{"--relay", "ftp://relay", "--admin-token", "t", "--album", album},
	}
	for _, args := range usage {
		if err := runIngest(ctx, args, &bytes.Buffer{}, &bytes.Buffer{}); !errors.Is(err, errUsage) {
			t.Errorf("args %q: err = %v, want a usage error", args, err)
		}
	}
	var out bytes.Buffer
	err = runIngest(ctx, []string{"--data", data, "--quiet", filepath.Join(src, "missing.wav")}, &out, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "missing.wav") {
		t.Fatalf("missing master: err = %v, want one naming the file", err)
	}
}

// writeMaster writes a one-second 44.1 kHz stereo sine of hz to path,
// with a sidecar naming an artist.
func writeMaster(t *testing.T, path string, hz float64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := wav.NewWriter(f, 44100, 2, wav.S16)
	if err != nil {
		t.Fatal(err)
	}
	s := make([]float32, 2*44100)
	for i := range s {
		s[i] = float32(0.25 * math.Sin(2*math.Pi*hz*float64(i/2)/44100))
	}
	if err := w.WriteFloat32(s); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path+".json", []byte(`{"artists":["X"]}`), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestIngestNamesFilesAsGiven: `segue ingest` names master files as they
// were typed, absolute (with its leading /) or relative, in its progress,
// its result lines and its errors (it printed tmp/x/a.wav for
// /tmp/x/a.wav, and the absolute path for a relative one).
func TestIngestNamesFilesAsGiven(t *testing.T) {
	testtool.Need(t, "oggenc")
	ctx := context.Background()
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.Mkdir("in", 0o755); err != nil {
		t.Fatal(err)
	}
	abs := filepath.Join(dir, "in", "abs.wav")
	rel := filepath.Join("in", "rel.wav")
	writeMaster(t, abs, 440)
	writeMaster(t, rel, 660)
	var out, errOut bytes.Buffer
	if err := runIngest(ctx, []string{"--data", filepath.Join(dir, "relay"), abs, rel}, &out, &errOut); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	for _, want := range []string{"\t\"abs\"\t" + abs + "\n", "\t\"rel\"\t" + rel + "\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out.String())
		}
	}
	for _, want := range []string{"hash", "decode", "encode", "done"} {
		for _, f := range []string{abs, rel} {
			if !regexp.MustCompile(`\] ` + want + ` .* ` + regexp.QuoteMeta(f) + `\n`).MatchString(errOut.String()) {
				t.Errorf("no %s progress naming %s:\n%s", want, f, errOut.String())
			}
		}
	}
	if unrooted := strings.TrimPrefix(abs, "/"); strings.Contains(out.String()+errOut.String(), " "+unrooted) || strings.Contains(out.String(), "\t"+unrooted) {
		t.Errorf("a file named without its leading /:\n%s%s", out.String(), errOut.String())
	}
	for _, missing := range []string{filepath.Join(dir, "in", "gone.wav"), filepath.Join("in", "gone.wav")} {
		err := runIngest(ctx, []string{"--data", filepath.Join(dir, "relay"), "--quiet", missing}, &bytes.Buffer{}, &bytes.Buffer{})
		if want := "ingest " + missing + ": open " + missing + ": "; err == nil || !strings.HasPrefix(err.Error(), want) || !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("missing master %s: err = %v, want one starting %q", missing, err, want)
		}
	}
}

// TestIngestNamesAlbumAsGiven: an --album sidecar that is missing,
// damaged or a directory was named by its base name only ("load album
// nonexistent.json: open nonexistent.json: …", "load album tmp: …" for
// --album /tmp); errors now name it as typed.
func TestIngestNamesAlbumAsGiven(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, album := range []string{filepath.Join(dir, "missing", "album.json"), bad, dir} {
		err := runIngest(context.Background(), []string{"--data", filepath.Join(dir, "relay"), "--album", album}, &bytes.Buffer{}, &bytes.Buffer{})
		if want := "load album " + album + ": "; err == nil || !strings.HasPrefix(err.Error(), want) || strings.Count(err.Error(), album) < 2 {
			t.Errorf("--album %s: err = %v, want one starting %q and naming it twice", album, err, want)
		}
	}
}

// TestIngestKilledLeavesNoStaleFiles: a `segue ingest` killed with
// SIGKILL while its encoder runs leaves its temporary files (≈ the
// master's size and more) in the data directory's tmp, none in TMPDIR,
// and the next command that opens the data directory removes them.
func TestIngestKilledLeavesNoStaleFiles(t *testing.T) {
	bin := buildSegue(t)
	dir := t.TempDir()
	master, data, sysTmp, fake := filepath.Join(dir, "a.wav"), filepath.Join(dir, "relay"), filepath.Join(dir, "systmp"), filepath.Join(dir, "bin")
	writeMaster(t, master, 440)
	for _, d := range []string{sysTmp, fake} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The encoder says it started, then hangs until killed.
	marker := filepath.Join(dir, "encoding")
	script := "#!/bin/sh\n: > '" + marker + "'\nexec sleep 60\n"
	if err := os.WriteFile(filepath.Join(fake, "oggenc"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "ingest", "--data", data, "--quiet", master)
	cmd.Env = append(os.Environ(), "PATH="+fake+string(os.PathListSeparator)+os.Getenv("PATH"), "TMPDIR="+sysTmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // the encoder dies with it
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(30 * time.Second)
	for started := false; !started; {
		select {
		case err := <-exited:
			t.Fatalf("segue ingest ended before its encoder started: %v\n%s", err, stderr.String())
		case <-deadline:
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
			t.Fatal("the encoder did not start within 30 s")
		case <-time.After(10 * time.Millisecond):
			_, err := os.Stat(marker)
			started = err == nil
		}
	}
	if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	tmp := filepath.Join(data, catalog.TempDirName)
	left, err := os.ReadDir(tmp)
	if err != nil || len(left) == 0 {
		t.Fatalf("after the kill, %s holds %v (%v); want the ingest's files", tmp, left, err)
	}
	if inSys, _ := os.ReadDir(sysTmp); len(inSys) != 0 {
		t.Fatalf("TMPDIR holds %v", inSys)
	}
	if out, err := exec.Command(bin, "ingest", "--data", data, "--gc").CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if left, err := os.ReadDir(tmp); err != nil || len(left) != 0 {
		t.Fatalf("after the next run, %s holds %v (%v); want it empty", tmp, left, err)
	}
}

// TestIngestArgsBeforeDataDir: `segue ingest --data NEW adir` (a
// directory, or a missing master) initialised a new relay in NEW and
// only then failed, and --parallel -3 or 1000000 was taken (clamped to
// 1, or as many encoders as tracks). Each now fails before the data
// directory exists.
func TestIngestArgsBeforeDataDir(t *testing.T) {
	dir := t.TempDir()
	master := filepath.Join(dir, "a.wav")
	if err := os.WriteFile(master, []byte("RIFF"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		usage bool
		says  string
	}{
		{"directory", []string{dir}, false, "ingest " + dir + ": is a directory"},
		{"missing", []string{filepath.Join(dir, "gone.wav")}, false, "no such file"},
		{"device", []string{"/dev/null"}, false, "not a regular file (a character device)"},
		{"parallel 0", []string{"--parallel", "0", master}, true, "--parallel 0: want 1…256"},
		{"parallel -3", []string{"--parallel", "-3", master}, true, "--parallel -3: want 1…256"},
		{"parallel huge", []string{"--parallel", "1000000", master}, true, "--parallel 1000000: want 1…256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "relay")
			err := runIngest(t.Context(), append([]string{"--data", data, "--quiet"}, tc.args...), &bytes.Buffer{}, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.says) || errors.Is(err, errUsage) != tc.usage {
				t.Errorf("err = %v; want one saying %q, usage error %v", err, tc.says, tc.usage)
			}
			if _, err := os.Stat(data); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the data directory exists after the failure (%v)", err)
			}
		})
	}
}

// TestIngestRelayCutOff: a relay that closes the connection of an upload
// before answering (SIGTERM past its shutdown grace period, a crash)
// makes segue ingest --relay say so, that the album is published whole
// or not at all, and to run it again. Before, it said only
// "upload to URL: Post ...: EOF".
func TestIngestRelayCutOff(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.CopyN(io.Discard, r.Body, 1<<10)
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		conn.Close()
	}))
	defer srv.Close()
	var out, errOut bytes.Buffer
	err := runIngest(t.Context(), []string{"--relay", srv.URL, "--admin-token", "cut-off-admin-token-0123456789", "--album", demoAlbumDir(t)}, &out, &errOut)
	if !errors.Is(err, errIngestCutOff) || !strings.Contains(err.Error(), "run the ingest again") {
		t.Fatalf("ingest into a relay that closed the connection: %v, want errIngestCutOff", err)
	}
}

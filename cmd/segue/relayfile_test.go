package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segue-fm/segue/internal/testbed"
)

// TestDeviceRemembersRelay: a device registered with --relay talks to
// that relay in later commands that name none (no --relay, no
// $SEGUE_RELAY); before, they went to the default 127.0.0.1:7474 and
// said the relay was unreachable, after waiting. --relay still wins, and
// a damaged record is a warning that names the file.
func TestDeviceRemembersRelay(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions())
	dir := filepath.Join(t.TempDir(), "dev")
	if code, out, errOut := runCmd("playlist", "-data", dir, "-relay", r.URL, "-user", "ada", "-password", "correct horse battery", "-signup", "create", "Road"); code != 0 {
		t.Fatalf("register and create: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	t.Setenv("SEGUE_RELAY", "") // restored after the test
	os.Unsetenv("SEGUE_RELAY")
	if code, out, errOut := runCmd("sync", "-data", dir, "now"); code != 0 {
		t.Fatalf("sync now without --relay: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	// --relay names another relay: it is the one asked (none listens there).
	code, out, errOut := runCmd("sync", "-data", dir, "-relay", "http://127.0.0.1:1", "-wait", "1s", "now")
	if code == 0 || !strings.Contains(out+errOut, "127.0.0.1:1") {
		t.Fatalf("sync now with --relay of no relay: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	for _, damaged := range []string{"not a url\n", "ftp://host/\n", strings.Repeat("x", maxRelayFile+1)} {
		if err := os.WriteFile(filepath.Join(dir, relayFile), []byte(damaged), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, errOut := runCmd("playlist", "-data", dir, "list")
		if !strings.Contains(errOut, "warning: the recorded relay in "+filepath.Join(dir, relayFile)+" is damaged") {
			t.Errorf("record %.20q: stderr %s, want a warning naming the file", damaged, errOut)
		}
	}
}

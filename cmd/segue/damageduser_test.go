package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segue-fm/segue/core"
)

// TestDamagedRecordedUser: a cli/user record that is not an account name
// fails a device command with an error naming the key and the way out
// (--user), and the same command given --user records the account again,
// after which commands need no --user. Before, every command failed with
// "read recorded account: N bytes that are not an account name", --user
// or not.
func TestDamagedRecordedUser(t *testing.T) {
	relayDir := filepath.Join(t.TempDir(), "relay")
	publishAlbum(t, relayDir, 1)
	url := startRelayCmd(t, relayDir, "cli-admin-token-0123456789")
	for _, value := range []string{"\x00", "", "UPPER", strings.Repeat("a", 65)} {
		dev := filepath.Join(t.TempDir(), "device")
		if code, _, errOut := runCmd("sync", "login", "-data", dev, "-relay", url, "-user", "ada", "-password", "correct horse battery", "-signup"); code != 0 {
			t.Fatalf("login: exit %d: %s", code, errOut)
		}
		e, err := core.Open(context.Background(), dev, core.DefaultOptions().WithOrigins(url).WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Store().Set(context.Background(), []byte("cli/user"), []byte(value)); err != nil {
			t.Fatal(err)
		}
		e.Close()
		if code, _, errOut := runCmd("playlist", "list", "-data", dev, "-relay", url); code != 1 || !strings.Contains(errOut, "cli/user") || !strings.Contains(errOut, "--user") {
			t.Fatalf("%q: list without --user: exit %d, want 1 naming the key and --user: %s", value, code, errOut)
		}
		if code, _, errOut := runCmd("playlist", "list", "-data", dev, "-relay", url, "-user", "ada"); code != 0 {
			t.Fatalf("%q: list with --user: exit %d: %s", value, code, errOut)
		}
		if code, _, errOut := runCmd("playlist", "list", "-data", dev, "-relay", url); code != 0 {
			t.Fatalf("%q: list after the account was recorded again: exit %d: %s", value, code, errOut)
		}
	}
}

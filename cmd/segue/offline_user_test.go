package main

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/internal/testbed"
)

// TestOfflineUnrecordedAccount: segue offline on a device registered by
// another program (segue demo, an app: its account is not recorded on
// the device) says the account is not recorded; its status line read
// "user ," with nothing after it.
func TestOfflineUnrecordedAccount(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithLicenses(true))
	dir := filepath.Join(t.TempDir(), "dev")
	e, err := core.Open(context.Background(), dir, core.DefaultOptions().WithOrigins(r.URL).WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	testbed.Register(t, e, "ada", "phone")
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd("offline", "-data", dir, "-relay", r.URL)
	if code != 0 || strings.Contains(out, "user ,") || !strings.Contains(out, ", account not recorded on this device (registered by another program), trusted time ") {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
}

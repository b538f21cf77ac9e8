package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/gonum/mat"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/recs/relayrecs"
	"github.com/segue-fm/segue/server/recs/sparkals"
	"github.com/segue-fm/segue/server/relay"
)

// TestRecsRun: `segue recs run` validates its arguments (exit 2) and
// asks a real relay for the week's Discover Weekly; a second run of the
// same week delivers nothing new.
func TestRecsRun(t *testing.T) {
	const admin = "recs-cli-admin-token-0123456789"
	r := testbed.NewRelay(t, testbed.DefaultOptions().
		WithRelayOptions(func(o relay.Options) relay.Options { return o.WithAdminToken(admin) }).
		WithMount(func(dd *catalog.DataDir, srv *relay.Server) {
			plays := func(context.Context, time.Time, time.Time) (map[model.UserID]map[model.TrackID]uint64, error) {
				return map[model.UserID]map[model.TrackID]uint64{}, nil
			}
			relayrecs.New(dd.Store, dd.Catalog, srv.Docs(), plays, relayrecs.DefaultOptions().
				WithLogger(slog.New(slog.DiscardHandler))).Mount(srv)
		}))
	testbed.Device(t, r, "alice")
	week := relayrecs.ISOWeek(time.Now().UTC())
	cases := []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"no subcommand", []string{"recs", "--week", week}, 2, ""},
		{"bad week", []string{"recs", "run", "--week", "2026-49", "--relay", r.URL, "--admin-token", admin}, 2, ""},
		{"no token", []string{"recs", "run", "--week", week, "--relay", r.URL, "--admin-token", ""}, 2, ""},
		{"bad relay URL", []string{"recs", "run", "--week", week, "--relay", "ftp://x", "--admin-token", admin}, 2, ""},
		// A --timeout of 0 or less failed at once with exit 1, "context
		// deadline exceeded", as if the relay had not answered.
		{"zero timeout", []string{"recs", "run", "--week", week, "--relay", r.URL, "--admin-token", admin, "--timeout", "0s"}, 2, ""},
		{"negative timeout", []string{"recs", "run", "--week", week, "--relay", r.URL, "--admin-token", admin, "--timeout", "-1s"}, 2, ""},
		{"wrong token", []string{"recs", "run", "--week", week, "--relay", r.URL, "--admin-token", "nope"}, 1, ""},
		{"run", []string{"recs", "run", "--week", week, "--relay", r.URL, "--admin-token", admin}, 0, "1 delivered, 0 already up to date"},
		{"again", []string{"recs", "run", "--week", week, "--relay", r.URL, "--admin-token", admin}, 0, "0 delivered, 1 already up to date"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(t.Context(), c.args, &out, &errb); code != c.code || !strings.Contains(out.String(), c.out) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, c.code, out.String(), errb.String())
			}
		})
	}
}

// TestRecsCheck: `segue recs check --factors DIR` accepts a factor
// directory as Spark writes it and refuses a malformed one.
func TestRecsCheck(t *testing.T) {
	good := t.TempDir()
	users := sparkals.NewTable([]string{"alice"}, mat.NewDense(1, 2, []float64{1, 2}))
	items := sparkals.NewTable([]string{"t1", "t2"}, mat.NewDense(2, 2, []float64{1, 0, 0, 1}))
	if err := sparkals.Write(good, sparkals.Manifest{RunID: "r7"}, users, items, sparkals.Float32); err != nil {
		t.Fatal(err)
	}
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, sparkals.ManifestFile), []byte(`{"format":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"no dir", []string{"recs", "check"}, 2, ""},
		{"good", []string{"recs", "check", "--factors", good}, 0, `run "r7"`},
		{"malformed", []string{"recs", "check", "--factors", bad}, 1, ""},
		{"missing", []string{"recs", "check", "--factors", filepath.Join(bad, "nope")}, 1, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(t.Context(), c.args, &out, &errb); code != c.code || !strings.Contains(out.String(), c.out) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, c.code, out.String(), errb.String())
			}
		})
	}
}

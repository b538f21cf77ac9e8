package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/server/recs/relayrecs"
	"github.com/segue-fm/segue/server/recs/sparkals"
)

func init() {
	register("recs", "run recommendations on a relay: deliver Discover Weekly for an ISO week (admin); check a Spark factor directory", runRecs)
}

// maxRecsAnswer bounds the relay's answer to `segue recs run`.
const maxRecsAnswer = 64 << 10

// runRecs implements `segue recs run --week 2026-W49 [--relay URL]
// [--admin-token T]`: it asks the running relay (POST
// /v1/admin/recs/run) to deliver Discover Weekly for the week to every
// listener not yet served for it, and prints how many were delivered,
// skipped and failed. The relay owns its data directory, so the run
// happens there and reaches devices through sync at once.
func runRecs(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("recs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	week := fs.String("week", "", "ISO week to deliver, e.g. 2026-W49")
	relayURL := fs.String("relay", envOr("SEGUE_RELAY", defaultRelay), "relay base URL (env SEGUE_RELAY)")
	token := fs.String("admin-token", envOr("SEGUE_ADMIN_TOKEN", ""), "the relay's admin token (env SEGUE_ADMIN_TOKEN)")
	timeout := fs.Duration("timeout", 10*time.Minute, "how long to wait for the run")
	factors := fs.String("factors", "", "check: a Spark factor directory to validate (docs/ARCHITECTURE.md §9)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: segue recs run --week YYYY-Www [--relay URL] [--admin-token TOKEN]")
		fmt.Fprintln(stderr, "       segue recs check --factors DIR")
		fs.PrintDefaults()
	}
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 1 && rest[0] == "check" {
		return checkFactors(ctx, *factors, stdout)
	}
	if len(rest) != 1 || rest[0] != "run" {
		fs.Usage()
		return fmt.Errorf("%w: want the subcommand run or check", errUsage)
	}
	if _, err := relayrecs.ParseWeek(*week, time.UTC); err != nil {
		return fmt.Errorf("%w: --week: %w", errUsage, err)
	}
	if *token == "" {
		return fmt.Errorf("%w: --admin-token (or SEGUE_ADMIN_TOKEN) is required", errUsage)
	}
	u, err := url.Parse(*relayURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: --relay %q: want an http(s) URL", errUsage, *relayURL)
	}
	if *timeout <= 0 {
		return fmt.Errorf("%w: --timeout %s: want a positive duration", errUsage, *timeout)
	}
	body, _ := json.Marshal(api.RecsRunRequest{Week: *week})
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(*relayURL, "/")+"/v1/admin/recs/run", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+*token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("ask the relay: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxRecsAnswer))
	if err != nil {
		return fmt.Errorf("read the relay's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e api.ErrorBody
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("relay answered %d: %s", resp.StatusCode, e.Error)
		}
		return fmt.Errorf("relay answered %d", resp.StatusCode)
	}
	var out api.RecsRunResponse
	if err := json.Unmarshal(b, &out); err != nil {
		return fmt.Errorf("decode the relay's answer (is %s a Segue relay?): %w", *relayURL, err)
	}
	if out.Week != *week { // a relay echoes the week it ran
		return fmt.Errorf("the relay's answer is for week %q, not %s (is %s a Segue relay?)", out.Week, *week, *relayURL)
	}
	fmt.Fprintf(stdout, "Discover Weekly %s: %d delivered, %d already up to date, %d failed\n", out.Week, out.Delivered, out.Skipped, out.Failed)
	if out.Failed > 0 {
		return fmt.Errorf("%d listeners failed (the relay's log names them; their previous playlist stays)", out.Failed)
	}
	return nil
}

// checkFactors implements `segue recs check --factors DIR`: it loads DIR
// as the relay's -recs-factors would (sparkals.Load, default limits) and
// prints the manifest and row counts, so a Spark run can be checked
// before it is published to the relay.
func checkFactors(ctx context.Context, dir string, stdout io.Writer) error {
	if dir == "" {
		return fmt.Errorf("%w: check needs --factors DIR", errUsage)
	}
	f, err := sparkals.Load(ctx, dir, sparkals.DefaultLimits())
	if err != nil {
		return err
	}
	m := f.Manifest
	fmt.Fprintf(stdout, "factors OK: run %q (export %q, created %s), rank %d, %d users, %d tracks\n",
		m.RunID, m.ExportID, m.Created.UTC().Format(time.RFC3339), m.Rank, len(f.Users.IDs), len(f.Items.IDs))
	return nil
}

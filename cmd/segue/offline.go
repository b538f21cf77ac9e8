package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
)

func init() {
	register("offline", "offline downloads: status, space used, license expiry; renew or remove", runOffline)
}

func runOffline(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("offline", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var df deviceFlags
	df.register(fs)
	renew := fs.Bool("renew", false, "renew every license now (one request)")
	remove := fs.String("remove", "", "remove a download: track:<id> or album:<id>")
	tier := fs.String("tier", "high", "tier of the download to remove")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	e, m, err := df.open(ctx, download.DefaultOptions())
	if err != nil {
		return err
	}
	defer closeEngine(e)
	if *remove != "" {
		kind, id, ok := strings.Cut(*remove, ":")
		t, terr := model.ParseTier(*tier)
		if !ok || id == "" || terr != nil {
			return fmt.Errorf("%w: -remove %q -tier %q", errUsage, *remove, *tier)
		}
		if err := m.Remove(ctx, download.Ref{Kind: download.Kind(kind), ID: id, Tier: t}); err != nil {
			return err
		}
	}
	if *renew {
		if err := m.Renew(ctx); err != nil {
			fmt.Fprintf(stdout, "renewal: %v\n", err)
		} else {
			fmt.Fprintln(stdout, "renewal: all licenses renewed")
		}
	}
	st, err := m.Status(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "device %s, trusted time %s\n", e.DeviceID(), st.TrustedNow.Format(time.RFC3339))
	fmt.Fprintf(stdout, "%d of %d tracks downloaded, %s used\n", st.TracksDone, st.Tracks, humanBytes(st.Bytes))
	for _, it := range st.Items {
		line := fmt.Sprintf("  %-40s %d/%d", it.Ref.String(), it.TracksDone, it.Tracks)
		if it.Err != "" {
			line += "  error: " + it.Err
		}
		fmt.Fprintln(stdout, line)
	}
	switch {
	case st.Revoked:
		fmt.Fprintln(stdout, "licenses: revoked (device deregistered)")
	case st.Refused != "":
		fmt.Fprintf(stdout, "licenses: renewal refused (%s)\n", st.Refused)
	}
	for _, l := range st.Licenses {
		state := "valid"
		switch {
		case !st.TrustedNow.Before(l.Until):
			state = "expired: connect to verify your subscription"
		case !st.TrustedNow.Before(l.Expires):
			state = "in grace period"
		}
		fmt.Fprintf(stdout, "  license %s: %d tracks, expires %s, plays until %s (%s)\n",
			l.ID, l.Entries, l.Expires.Format(time.RFC3339), l.Until.Format(time.RFC3339), state)
	}
	if st.Paused != "" {
		fmt.Fprintf(stdout, "downloads paused: %s\n", st.Paused)
	}
	return nil
}

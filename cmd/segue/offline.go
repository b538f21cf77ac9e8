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

// runOffline implements `segue offline [device flags] [--deregister ID]
// [--renew] [--remove KIND:<id> --tier T] [--devices]`: the device's
// downloads, space used and license state, after an optional
// deregistration of a device of the account, renewal or removal, and
// with --devices the account's devices holding an offline slot. Tracks
// count once whatever their tiers (with the counts per tier when there
// are several); each request lists its tracks at its tier, the ones left
// out as unavailable, the cause of its last failure, and the tracks
// whose last download failed with its cause (kept across runs). A renewal that failed (relay unreachable,
// refused, revoked) exits 1 after the status.
func runOffline(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("offline", flag.ContinueOnError)
	fs.SetOutput(stderr)
	da := addDeviceFlags(fs)
	renew := fs.Bool("renew", false, "renew every license now (one request)")
	remove := fs.String("remove", "", "remove a download: track:<id>, album:<id> or playlist:<id>")
	tier := fs.String("tier", "high", "tier of the download to remove")
	devices := fs.Bool("devices", false, "also list the account's devices holding an offline slot (the relay's limit counts them)")
	deregister := fs.String("deregister", "", "deregister device ID of this account first (frees its offline slot; its tokens and licenses stop working)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: segue offline [flags]")
		fmt.Fprintln(stderr, "  this device's downloads, space used and licenses, after --renew or --remove")
		fs.PrintDefaults()
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, pos)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case set["remove"] && *remove == "":
		return fmt.Errorf("%w: --remove is empty: want track:<id>, album:<id> or playlist:<id>", errUsage)
	case set["tier"] && !set["remove"]:
		return fmt.Errorf("%w: --tier goes with --remove (it names the download to remove)", errUsage)
	}
	var ref download.Ref
	if *remove != "" {
		kind, id, ok := strings.Cut(*remove, ":")
		t, terr := model.ParseTier(*tier)
		k := download.Kind(kind)
		if !ok || !model.ValidID(id) || terr != nil || (k != download.KindTrack && k != download.KindAlbum && k != download.KindPlaylist) {
			return fmt.Errorf("%w: --remove %s --tier %s: want track:<id>, album:<id> or playlist:<id> and a tier", errUsage, quoteArg(*remove), quoteArg(*tier))
		}
		ref = download.Ref{Kind: download.Kind(kind), ID: id, Tier: t}
	}
	if *deregister != "" && !model.ValidID(*deregister) {
		return fmt.Errorf("%w: --deregister %s: not a device id", errUsage, quoteArg(*deregister))
	}
	log := newStepLog(stderr)
	dev, err := da.open(ctx)
	if err != nil {
		return err
	}
	defer dev.closeInto(&err)
	e := dev.e
	log.step("device open")
	if *deregister != "" {
		id := model.DeviceID(*deregister)
		if err := e.Deregister(ctx, id); err != nil {
			return err
		}
		log.step("deregistered device %s", id)
		if id == e.DeviceID() {
			fmt.Fprintln(stdout, "this device is deregistered: `segue sync login` registers it again")
			return nil
		}
	}
	m, err := dev.downloads(ctx, download.DefaultOptions(), "")
	if err != nil {
		return err
	}
	if *remove != "" {
		if err := m.Remove(ctx, ref); err != nil {
			return err
		}
		log.step("removed %s", ref)
	}
	var renewErr error
	if *renew {
		start := time.Now()
		renewErr = m.Renew(ctx)
		if renewErr != nil {
			log.step("renewal failed after %s", seconds(time.Since(start)))
			fmt.Fprintf(stdout, "renewal: %v\n", renewErr)
		} else {
			log.step("renewal answered in %s", seconds(time.Since(start)))
			fmt.Fprintln(stdout, "renewal: all licenses renewed")
		}
	}
	st, err := m.Status(ctx)
	if err != nil {
		return err
	}
	who := "user " + string(dev.user)
	if dev.user == "" {
		who = "account not recorded on this device (registered by another program)"
	}
	fmt.Fprintf(stdout, "device %s, %s, trusted time %s\n", e.DeviceID(), who, st.TrustedNow.Format(time.RFC3339))
	tiers := ""
	if len(st.Tiers) > 1 {
		var per []string
		for _, ts := range st.Tiers {
			per = append(per, fmt.Sprintf("%s %d/%d", ts.Tier, ts.TracksDone, ts.Tracks))
		}
		tiers = " (" + strings.Join(per, ", ") + ")"
	}
	fmt.Fprintf(stdout, "%d of %d tracks downloaded%s, %s used\n", st.TracksDone, st.Tracks, tiers, humanBytes(st.Bytes))
	for _, it := range st.Items {
		line := fmt.Sprintf("  %-40s %d/%d", it.Ref.String(), it.TracksDone, it.Tracks)
		if !it.Resolved && it.Err == "" {
			line += "  not resolved yet"
		}
		if it.Err != "" {
			line += "  error: " + it.Err
		}
		if it.Unlicensed > 0 {
			line += fmt.Sprintf("  %d without a license: not playable offline", it.Unlicensed)
		}
		fmt.Fprintln(stdout, line)
		for _, u := range it.Unavailable {
			fmt.Fprintf(stdout, "    %s unavailable (%s): left out\n", u.Track, u.Reason)
		}
		for _, f := range it.Failed {
			fmt.Fprintf(stdout, "    %s failed %s: %s\n", f.Track, f.At.UTC().Format(time.RFC3339), f.Cause)
		}
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
	if *devices {
		od, err := e.OfflineDevices(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "offline devices: %d of %d\n", len(od.Devices), od.Limit)
		for _, d := range od.Devices {
			me := ""
			if d.DeviceID == e.DeviceID() {
				me = "  (this device)"
			}
			fmt.Fprintf(stdout, "  %s  %q  since %s%s\n", d.DeviceID, d.Name, time.UnixMilli(d.Since).UTC().Format(time.RFC3339), me)
		}
	}
	if renewErr != nil {
		return fmt.Errorf("renewal: %w", renewErr)
	}
	return nil
}

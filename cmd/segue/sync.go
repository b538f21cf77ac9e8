package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/sync/client"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/p2p"
	"github.com/segue-fm/segue/sync/wire/peer"
)

func init() {
	register("sync", "sync documents: login (register again), status, now (relay), peers (LAN, mDNS + manual --peer)", runSync)
}

// errSyncRefused is returned by `segue sync now` when the relay refused
// documents (each is printed with the relay's reason).
var errSyncRefused = errors.New("the relay refused documents")

// errNotInSync is returned by `segue sync now` when --wait ran out before
// the device was in sync with the relay.
var errNotInSync = errors.New("not in sync")

// syncUsage lists the sync subcommands.
const syncUsage = "sync login | status | now | peers"

// syncSubs are the sync subcommands, in the order usage lists them.
var syncSubs = []subcommand{
	{"login", "", 0, "register this device again (--user and --password)"},
	{"status", "", 0, "this device's account and number of documents"},
	{"now", "", 0, "sync the account's documents with the relay once and send it the plays this device holds; prints the documents received, the time it took and the plays sent"},
	{"peers", "", 0, "sync with LAN peers (mDNS, or --peer) for --wait"},
}

// runSync implements `segue sync [device flags] login|status|now|peers`:
// login registers the device again (with --user and --password), the
// others sync the account's documents with the relay or LAN peers; now
// also sends the relay the plays the device holds (uploadPlays).
func runSync(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	da := addDeviceFlags(fs)
	wait := fs.Duration("wait", 10*time.Second, "how long 'sync now' (which returns once in sync; more than 0) and 'sync peers' (0 or more) run at most; 'sync now' then sends the plays within as long again")
	peerAddr := fs.String("peer", "", "'sync peers': a LAN peer multiaddr to connect to (…/p2p/<id>)")
	cert := fs.String("cert", "", "'sync peers': optional file holding a relay-signed device certificate to use instead of the one the relay issued at login")
	listen := fs.String("listen", "", "'sync peers': comma-separated listen multiaddrs (default TCP and QUIC on every IPv4 interface)")
	mdns := fs.Bool("mdns", true, "'sync peers': discover peers with mDNS")
	stableID := fs.Bool("stable-peer-id", false, "'sync peers': keep the same peer id (and listening addresses) at every run, so a --peer address given to another device stays good; it then tells everyone on the network that this device is back (default: a new one per run)")
	fs.Usage = func() {} // printed below, for the subcommand named before the flag
	pos, err := parseArgs(fs, args)
	if err != nil {
		printSubUsage(stderr, fs, "sync", syncSubs, pos)
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: %s", errUsage, syncUsage)
	}
	sub := pos[0]
	if findSub(syncSubs, sub) == nil {
		return fmt.Errorf("%w: unknown sync command %q", errUsage, sub)
	}
	// A --wait of 0 or less ended `sync now` at once with "not in sync:
	// relay unreachable" about a relay it never gave a chance.
	switch {
	case sub == "now" && *wait <= 0:
		return fmt.Errorf("%w: --wait %s: want a positive duration for sync now", errUsage, *wait)
	case *wait < 0:
		return fmt.Errorf("%w: --wait %s: want 0 or more", errUsage, *wait)
	}
	if *peerAddr != "" {
		if err := p2p.CheckAddr(*peerAddr); err != nil {
			return fmt.Errorf("%w: --peer: %w", errUsage, err)
		}
	}
	if *listen != "" {
		if err := p2p.CheckListen(strings.Split(*listen, ",")...); err != nil {
			return fmt.Errorf("%w: --listen: %w", errUsage, err)
		}
	}
	if sub == "login" {
		dev, lerr := da.login(ctx)
		if lerr != nil {
			return lerr
		}
		defer dev.closeInto(&err)
		fmt.Fprintf(stdout, "device %s registered to %s at %s\n", dev.e.DeviceID(), dev.user, da.relay)
		return nil
	}
	dev, err := da.open(ctx)
	if err != nil {
		return err
	}
	defer dev.closeInto(&err)
	d, err := dev.docs(ctx)
	if err != nil {
		return err
	}
	switch sub {
	case "status":
		st, err := d.Status(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "device %s, user %s: %d documents\n", dev.e.DeviceID(), d.User(), st.Documents)
		return warnSetAside(ctx, newStepLog(stderr), d)
	case "now":
		log := newStepLog(stderr)
		events, stop := d.Subscribe()
		defer stop()
		counted := make(chan int, 1)
		go func() { // documents the relay changed, until stop closes events
			received := map[docs.DocumentID]bool{}
			for ev := range events {
				if ev.Remote {
					received[ev.Doc] = true
				}
			}
			counted <- len(received)
		}()
		start := time.Now()
		if err := d.StartSync(ctx); err != nil {
			return err
		}
		log.step("syncing %d documents with %s", docCount(ctx, d), da.relay)
		wctx, cancel := context.WithTimeout(ctx, *wait)
		defer cancel()
		err := d.WaitInSync(wctx)
		took := time.Since(start)
		stop()
		received := <-counted
		st, _ := d.Status(ctx)
		log.step("sync ended after %s: %d documents changed by the relay", seconds(took), received)
		fmt.Fprintf(stdout, "relay connected=%v last sync=%s documents=%d received=%d time=%s error=%q\n",
			st.Relay.Connected, st.Relay.LastSync.Format(time.RFC3339), st.Documents, received, seconds(took), st.Relay.LastError)
		if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
			err = notInSync(*wait, da.relay, st.Relay.Connected, st.Relay.LastError)
		}
		refused := 0
		for _, r := range st.Relay.Refused {
			if unwanted(ctx, d, r) {
				fmt.Fprintf(stdout, "not shared with you: %s (not followed; this device keeps its copy as it was)\n", r.Doc)
				continue
			}
			refused++
			fmt.Fprintf(stdout, "refused %s: %s\n", r.Doc, r.Reason)
			if r.SetAside > 0 {
				fmt.Fprintf(stdout, "  %d local change(s) set aside: the document was rebuilt without them\n", r.SetAside)
			}
		}
		if err == nil && refused > 0 {
			err = fmt.Errorf("%w: %d document(s), listed above", errSyncRefused, refused)
		}
		if werr := warnSetAside(ctx, log, d); werr != nil {
			err = errors.Join(err, werr)
		}
		plays := uploadPlays(ctx, dev.e, *wait)
		plays.printSyncLine(stdout)
		if plays.err != nil {
			err = errors.Join(err, fmt.Errorf("send plays (kept on this device for the next sync): %w", plays.err))
		}
		return err
	default: // peers
		var raw []byte // nil: the certificate stored at login (re-fetched from the relay when missing)
		if *cert != "" {
			if raw, err = readFileLimited(*cert, crypto.MaxDeviceCertSize); err != nil {
				return err
			}
		}
		opts := p2p.DefaultOptions().WithMDNS(*mdns, "").WithStablePeerID(*stableID)
		if *listen != "" {
			opts = opts.WithListen(strings.Split(*listen, ",")...)
		}
		n, err := d.StartLAN(ctx, raw, opts)
		if err != nil {
			return err
		}
		for _, a := range n.Addrs() {
			fmt.Fprintln(stdout, "listening", a)
		}
		deadline := time.Now().Add(*wait)
		if *peerAddr != "" {
			if err := connectUntil(ctx, n, *peerAddr, deadline, stderr); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(deadline)):
		}
		for _, p := range n.Peers() {
			fmt.Fprintf(stdout, "peer %s user=%s device=%s addr=%s last sync=%s\n", p.ID, p.User, p.Device, p.Addr, p.LastSync.Format(time.RFC3339))
		}
		return nil
	}
}

// peerRetry is how often `segue sync peers --peer` dials a peer that is
// unreachable again, until --wait ends.
const peerRetry = time.Second

// connectUntil dials addr with n, again every peerRetry while the peer
// is unreachable (p2p.ErrUnreachable) until deadline: two devices each
// given the other's --peer start at about the same time, and the first
// found nothing listening yet. Any other error ends it at once.
func connectUntil(ctx context.Context, n *p2p.Node, addr string, deadline time.Time, stderr io.Writer) error {
	for first := true; ; first = false {
		err := n.Connect(ctx, addr)
		if err == nil || !errors.Is(err, p2p.ErrUnreachable) || time.Until(deadline) <= 0 {
			return err
		}
		if first {
			fmt.Fprintf(stderr, "%v\ndialling again every %s until --wait ends\n", err, peerRetry)
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(min(peerRetry, time.Until(deadline))):
		}
	}
}

// unwanted reports whether refusal r is the relay saying it will not share
// a playlist this account neither owns nor follows (any more): a
// collaborator removed from a private playlist, or a playlist made
// private, that the user then unfollowed. The device keeps its copy and
// offers it at every sync; without this `segue sync now` failed on it for
// ever, whatever the user did.
func unwanted(ctx context.Context, d *core.Docs, r client.Refusal) bool {
	if r.Reason != peer.ReasonUnavailable || r.SetAside > 0 {
		return false
	}
	v, err := d.Playlists().Get(ctx, r.Doc)
	if err != nil || v.Info.Owner == d.User() {
		return false
	}
	lib, err := d.Library().Get(ctx)
	return err == nil && !slices.Contains(lib.Playlists, r.Doc)
}

// docCount returns the number of documents d holds, or -1 when its
// status cannot be read.
func docCount(ctx context.Context, d *core.Docs) int {
	st, err := d.Status(ctx)
	if err != nil {
		return -1
	}
	return st.Documents
}

// readFileLimited reads a small file, refusing one larger than max bytes.
func readFileLimited(name string, max int) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > max {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, max)
	}
	return b, nil
}

// notInSync explains a `sync now` whose --wait ran out, instead of a bare
// "context deadline exceeded": the relay unreachable (with the last
// connection error) or connected but not done.
func notInSync(wait time.Duration, relay string, connected bool, lastErr string) error {
	switch {
	case !connected && lastErr != "":
		return fmt.Errorf("%w after %s: relay %s unreachable: %s", errNotInSync, wait, relay, lastErr)
	case !connected:
		return fmt.Errorf("%w after %s: relay %s unreachable", errNotInSync, wait, relay)
	default:
		return fmt.Errorf("%w after %s with relay %s (a longer --wait may let it finish)", errNotInSync, wait, relay)
	}
}

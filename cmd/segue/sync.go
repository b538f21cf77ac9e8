package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/sync/p2p"
)

func init() {
	register("sync", "sync documents: login (register again), status, now (relay), peers (LAN, mDNS + manual --peer)", runSync)
}

// syncUsage lists the sync subcommands.
const syncUsage = "sync login | status | now | peers"

// runSync implements `segue sync [device flags] login|status|now|peers`:
// login registers the device again (with --user and --password), the
// others sync the account's documents with the relay or LAN peers.
func runSync(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sync", flag.ContinueOnError)
	fs.SetOutput(stderr)
	da := addDeviceFlags(fs)
	wait := fs.Duration("wait", 10*time.Second, "how long `sync now` (which returns once in sync) and `sync peers` run at most")
	peerAddr := fs.String("peer", "", "`sync peers`: a LAN peer multiaddr to connect to (…/p2p/<id>)")
	cert := fs.String("cert", "", "`sync peers`: optional file holding a relay-signed device certificate to use instead of the one the relay issued at login")
	listen := fs.String("listen", "", "`sync peers`: comma-separated listen multiaddrs (default TCP and QUIC on every IPv4 interface)")
	mdns := fs.Bool("mdns", true, "`sync peers`: discover peers with mDNS")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: segue "+syncUsage+" [flags]")
		fs.PrintDefaults()
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: %s", errUsage, syncUsage)
	}
	sub := pos[0]
	switch sub {
	case "login", "status", "now", "peers":
	default:
		return fmt.Errorf("%w: unknown sync command %q", errUsage, sub)
	}
	if sub == "login" {
		dev, err := da.login(ctx)
		if err != nil {
			return err
		}
		defer dev.close()
		fmt.Fprintf(stdout, "device %s registered to %s at %s\n", dev.e.DeviceID(), dev.user, da.relay)
		return nil
	}
	dev, err := da.open(ctx)
	if err != nil {
		return err
	}
	defer dev.close()
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
		return nil
	case "now":
		if err := d.StartSync(ctx); err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, *wait)
		defer cancel()
		err := d.WaitInSync(wctx)
		st, _ := d.Status(ctx)
		fmt.Fprintf(stdout, "relay connected=%v last sync=%s documents=%d error=%q\n",
			st.Relay.Connected, st.Relay.LastSync.Format(time.RFC3339), st.Documents, st.Relay.LastError)
		return err
	default: // peers
		var raw []byte // nil: the certificate stored at login (re-fetched from the relay when missing)
		if *cert != "" {
			if raw, err = readFileLimited(*cert, crypto.MaxDeviceCertSize); err != nil {
				return err
			}
		}
		opts := p2p.DefaultOptions().WithMDNS(*mdns, "")
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
		if *peerAddr != "" {
			if err := n.Connect(ctx, *peerAddr); err != nil {
				return err
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(*wait):
		}
		for _, p := range n.Peers() {
			fmt.Fprintf(stdout, "peer %s user=%s device=%s addr=%s last sync=%s\n", p.ID, p.User, p.Device, p.Addr, p.LastSync.Format(time.RFC3339))
		}
		return nil
	}
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

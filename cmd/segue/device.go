package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/download"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/store"
)

// The device-side commands (play, playlist, sync, offline, download) share
// one device: the engine data directory named by --data, registered once
// with the relay named by --relay. This file holds the flags they all
// register and the one way they open that device.

// defaultRelay is the relay every device command talks to unless --relay
// or $SEGUE_RELAY says otherwise: `segue relay`'s default listen address
// (relay.DefaultOptions).
const defaultRelay = "http://127.0.0.1:7474"

// errUserDamaged: the account recorded at registration (userKey) is not
// an account name; --user records it again.
var errUserDamaged = errors.New("recorded account damaged")

// errNotRegistered is the usage error of a device command run on a device
// that has no relay token and was given no credentials to get one.
var errNotRegistered = errors.New("device not registered: pass --user and --password once (with --signup to create the account)")

// userKey is the engine store key at which the CLI records the account it
// registered the device to (ARCHITECTURE §5), so later commands need no
// --user.
var userKey = []byte("cli/user")

// checkUsername returns nil when name is an account name
// (model.ValidUserID, the relay's syntax), else an error saying what is
// wrong with it.
func checkUsername(name string) error {
	switch {
	case name == "":
		return errors.New("user name is empty")
	case len(name) > model.MaxUserIDLen:
		return fmt.Errorf("user name is too long: %d bytes, at most %d", len(name), model.MaxUserIDLen)
	case !model.ValidUserID(model.UserID(name)):
		return fmt.Errorf("user name %q: want lowercase letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// deviceArgs are the flags every device command registers with
// addDeviceFlags. The password is never printed: its flag has no default
// (the environment is read after parsing) and no error message quotes it.
type deviceArgs struct {
	fs                *flag.FlagSet // where the flags were registered
	data, relay, user string
	password          string
	signup            bool
	logLevel          string
	level             slog.Level // logLevel parsed by check
	stderr            io.Writer  // the flag set's output, for logs
}

// addDeviceFlags registers --data, --relay, --user, --password,
// --signup and --log-level on fs and returns where their values land after fs.Parse.
// Flags win over the environment, which wins over the defaults. Call it
// after fs.SetOutput: the device's logs go to that writer.
func addDeviceFlags(fs *flag.FlagSet) *deviceArgs {
	a := &deviceArgs{fs: fs, stderr: fs.Output()}
	home, _ := os.UserHomeDir()
	fs.StringVar(&a.data, "data", envOr("SEGUE_DEVICE", deviceDirFor(os.Getenv("XDG_DATA_HOME"), home)),
		"device data directory (env SEGUE_DEVICE)")
	fs.StringVar(&a.relay, "relay", envOr("SEGUE_RELAY", defaultRelay),
		"relay base URL (env SEGUE_RELAY); without either, a registered device talks to the relay it registered with")
	fs.StringVar(&a.user, "user", envOr("SEGUE_USER", ""),
		"account name; needed once, to register this device (env SEGUE_USER)")
	fs.StringVar(&a.password, "password", "", "account password; needed once, to register this device (env SEGUE_PASSWORD)")
	fs.BoolVar(&a.signup, "signup", false, "create the account on the relay if it does not exist yet, when registering this device (no effect once registered)")
	fs.StringVar(&a.logLevel, "log-level", envOr("SEGUE_LOG_LEVEL", "error"),
		"engine log records shown: debug, info, warn, error (env SEGUE_LOG_LEVEL); the default hides the engine's warnings, such as each relay request that failed while the command went on offline")
	return a
}

// deviceDirFor returns the default device data directory:
// $XDG_DATA_HOME/segue/device when xdg is an absolute path (the XDG base
// directory rules ignore relative ones), else HOME/.local/share/segue/device,
// else "" when home is unknown too.
func deviceDirFor(xdg, home string) string {
	switch {
	case filepath.IsAbs(xdg):
		return filepath.Join(xdg, "segue", "device")
	case home != "":
		return filepath.Join(home, ".local", "share", "segue", "device")
	}
	return ""
}

// clockMarkFileFor returns the file outside the device data directory
// that keeps device id's trusted-time mark (download's
// WithClockMarkFile), so copying an old data directory back does not
// carry the mark back: $XDG_STATE_HOME/segue/clock/<id> when xdg is an
// absolute path, else HOME/.local/state/segue/clock/<id>, else "" (none)
// when home is unknown too.
func clockMarkFileFor(xdg, home string, id model.DeviceID) string {
	switch {
	case filepath.IsAbs(xdg):
		return filepath.Join(xdg, "segue", "clock", string(id))
	case home != "":
		return filepath.Join(home, ".local", "state", "segue", "clock", string(id))
	}
	return ""
}

// check validates the parsed flags and fills the password from
// $SEGUE_PASSWORD; every error it returns wraps errUsage.
func (a *deviceArgs) check() error {
	if a.password == "" {
		a.password = os.Getenv("SEGUE_PASSWORD")
	}
	if a.data == "" {
		return fmt.Errorf("%w: --data is empty (and no home directory to default to)", errUsage)
	}
	if _, err := os.Lstat(filepath.Join(a.data, catalog.IdentityFile)); err == nil {
		// Opening it would write a device's keys and records into the
		// relay's keys directory and store.
		return fmt.Errorf("%w: --data %s is a relay data directory (it holds %s), not a device's", errUsage, a.data, catalog.IdentityFile)
	}
	if !a.relayGiven() {
		switch rec, err := readRelayFile(a.data); {
		case err != nil:
			fmt.Fprintf(a.stderr, "warning: %v; talking to %s (--relay names another)\n", err, a.relay)
		case rec != "":
			a.relay = rec
		}
	}
	if err := checkRelayURL(a.relay); err != nil {
		return fmt.Errorf("%w: --relay %q: %w", errUsage, a.relay, err)
	}
	if a.user != "" {
		if err := checkUsername(a.user); err != nil {
			return fmt.Errorf("%w: --user: %w", errUsage, err)
		}
	}
	if err := a.level.UnmarshalText([]byte(a.logLevel)); err != nil {
		return fmt.Errorf("%w: --log-level: %v", errUsage, err)
	}
	return nil
}

// relayGiven reports whether --relay or $SEGUE_RELAY named the relay.
func (a *deviceArgs) relayGiven() bool {
	given := false
	a.fs.Visit(func(f *flag.Flag) { given = given || f.Name == "relay" })
	_, env := os.LookupEnv("SEGUE_RELAY")
	return given || env
}

// relayFile is the file in a device data directory recording the relay
// the device registered with (its URL, at most maxRelayFile bytes):
// device commands talk to it when neither --relay nor $SEGUE_RELAY
// names a relay. Written whole (a temporary file renamed over it) at
// each registration.
const (
	relayFile    = "relay-url"
	maxRelayFile = 2048
)

// checkRelayURL reports whether u is an http:// or https:// URL with a
// host, the relay URLs devices take.
func checkRelayURL(u string) error {
	p, err := url.Parse(u)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return errors.New("want an http:// or https:// URL")
	}
	return nil
}

// readRelayFile returns the relay recorded in dir, "" when none is; an
// unreadable or malformed record is an error naming the file.
func readRelayFile(dir string) (string, error) {
	name := filepath.Join(dir, relayFile)
	f, err := os.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the recorded relay: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRelayFile+1))
	if err != nil {
		return "", fmt.Errorf("read the recorded relay: %w", err)
	}
	u := strings.TrimSpace(string(b))
	if len(b) > maxRelayFile || checkRelayURL(u) != nil {
		return "", fmt.Errorf("the recorded relay in %s is damaged (not a relay URL)", name)
	}
	return u, nil
}

// writeRelayFile records relay in dir (relayFile), replacing any earlier
// record whole.
func writeRelayFile(dir, relay string) error {
	tmp, err := os.CreateTemp(dir, relayFile+".*")
	if err != nil {
		return err
	}
	_, err = tmp.WriteString(relay + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, relayFile))
	}
	if err != nil {
		return errors.Join(err, os.Remove(tmp.Name()))
	}
	return nil
}

// device is an engine open on the --data directory, registered with the
// relay, and the account it acts for.
type device struct {
	e *core.Engine
	// user is the account the device is registered to, as recorded at
	// registration or else given with --user; "" when neither is known.
	user model.UserID
	// opened is the account's documents once docs opened them.
	opened *core.Docs
}

// open opens the device, registering it on first use: a device without a
// relay token needs --user and --password, else the error wraps errUsage
// and errNotRegistered. With --signup the account is created first when
// it does not exist (a sign-up that fails is not an error when the
// registration then succeeds: the account existed, with that password).
// The engine's warnings and a registration notice go to the flag set's
// output. The caller closes the device.
func (a *deviceArgs) open(ctx context.Context) (*device, error) {
	return a.openDevice(ctx, false)
}

// login opens the device and registers it now, even when it holds a
// token already (an expired one, say): it needs --user and --password.
func (a *deviceArgs) login(ctx context.Context) (*device, error) {
	return a.openDevice(ctx, true)
}

func (a *deviceArgs) openDevice(ctx context.Context, force bool) (*device, error) {
	if err := a.check(); err != nil {
		return nil, err
	}
	if err := a.canOpen(force); err != nil {
		return nil, err
	}
	undo := undoCreate(a.data)
	log := slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: a.level}))
	e, err := core.Open(ctx, a.data, core.DefaultOptions().WithOrigins(a.relay).WithLogger(log))
	if errors.Is(err, core.ErrLocked) {
		// Another process has the device open: what is there is its.
		return nil, err
	}
	if err != nil {
		return nil, errors.Join(err, undo())
	}
	d := &device{e: e}
	if err := d.setUp(ctx, a, force); err != nil {
		if e.Token() != "" {
			// Registered (recording the account failed after): the
			// relay knows this identity, keep it.
			return nil, errors.Join(err, e.Close())
		}
		return nil, errors.Join(err, e.Close(), undo())
	}
	return d, nil
}

// undoCreate returns a function that removes what opening a device in
// dir creates from now on, for a device that does not end registered
// (the relay down or refusing the credentials, often on a mistyped
// --data): dir and the parents it lacks when dir does not exist yet,
// else the entries dir does not hold yet. Entries dir holds now are
// never removed, and nothing is in a directory that holds a device
// already (its keys directory).
func undoCreate(dir string) func() error {
	none := func() error { return nil }
	abs, err := filepath.Abs(dir)
	if err != nil {
		return none
	}
	top := ""
	for p := abs; ; p = filepath.Dir(p) {
		if _, err := os.Lstat(p); err == nil {
			break
		} else if !errors.Is(err, os.ErrNotExist) {
			return none
		}
		top = p
		if filepath.Dir(p) == p {
			break
		}
	}
	if top != "" {
		return func() error {
			if err := os.RemoveAll(top); err != nil {
				return fmt.Errorf("remove the device directory it created: %w", err)
			}
			return nil
		}
	}
	ents, err := os.ReadDir(abs)
	if err != nil {
		return none
	}
	had := make(map[string]bool, len(ents))
	for _, e := range ents {
		if e.Name() == "keys" {
			return none
		}
		had[e.Name()] = true
	}
	return func() error {
		ents, err := os.ReadDir(abs)
		if err != nil {
			return fmt.Errorf("remove what it created in the device directory: %w", err)
		}
		var errs []error
		for _, e := range ents {
			if !had[e.Name()] {
				if err := os.RemoveAll(filepath.Join(abs, e.Name())); err != nil {
					errs = append(errs, fmt.Errorf("remove what it created in the device directory: %w", err))
				}
			}
		}
		return errors.Join(errs...)
	}
}

// canOpen refuses, before anything is created, to open a device that
// cannot end registered: login without --user and --password, or a
// --data that holds no device (no keys directory: it never registered)
// without them. A mistyped --data is thus left as it was, not made a
// device directory.
func (a *deviceArgs) canOpen(force bool) error {
	if a.user != "" && a.password != "" {
		return nil
	}
	if force {
		return fmt.Errorf("%w: login needs --user and --password", errUsage)
	}
	if _, err := os.Lstat(filepath.Join(a.data, "keys")); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %w", errUsage, errNotRegistered)
	}
	return nil
}

// setUp registers the device when it must and settles which account it
// acts for.
func (d *device) setUp(ctx context.Context, a *deviceArgs, force bool) error {
	registered := d.e.Token() != ""
	recorded, err := d.recordedUser(ctx)
	if errors.Is(err, errUserDamaged) && a.user != "" {
		// The user names the account: a registered device records it
		// again; one not registered records it when registration succeeds.
		if registered {
			if err := d.e.Store().Set(ctx, userKey, []byte(a.user)); err != nil {
				return fmt.Errorf("record account: %w", err)
			}
			fmt.Fprintf(a.stderr, "recorded account was damaged; recorded %s (--user) again\n", a.user)
		}
		recorded, err = "", nil
	}
	if err != nil {
		return err
	}
	if registered && recorded != "" && a.user != "" && model.UserID(a.user) != recorded {
		// Logging in again as another account too: the relay refuses
		// the device to it, after --signup created the account.
		return fmt.Errorf("%w: --user %s: this device is registered to %s (use another --data for another account)", errUsage, a.user, recorded)
	}
	if registered && !force {
		switch {
		case recorded != "":
			d.user = recorded
		default:
			d.user = model.UserID(a.user)
		}
		return nil
	}
	if a.user == "" || a.password == "" {
		// canOpen refused login without them.
		return fmt.Errorf("%w: %w", errUsage, errNotRegistered)
	}
	var signupErr error
	if a.signup {
		signupErr = d.e.SignUp(ctx, a.user, a.password)
	}
	name := "segue cli"
	if host, err := os.Hostname(); err == nil && host != "" {
		name += " on " + host
	}
	if err := d.e.Register(ctx, a.user, a.password, name); err != nil {
		switch {
		case signupErr != nil:
			// The account could be neither created nor used: both
			// reasons (wrong password, name taken, signup closed…).
			return fmt.Errorf("register as %s: %w; sign up: %w", a.user, err, signupErr)
		case errors.Is(err, core.ErrUnauthorized) && !a.signup:
			return fmt.Errorf("register as %s: wrong password or no such account (--signup creates it): %w", a.user, err)
		}
		return err
	}
	if err := d.e.Store().Set(ctx, userKey, []byte(a.user)); err != nil {
		return fmt.Errorf("record account: %w", err)
	}
	d.user = model.UserID(a.user)
	fmt.Fprintf(a.stderr, "registered device %s to %s at %s\n", d.e.DeviceID(), a.user, a.relay)
	if err := writeRelayFile(a.data, a.relay); err != nil {
		fmt.Fprintf(a.stderr, "warning: record the relay in %s: %v; pass --relay to later commands\n", a.data, err)
	}
	return nil
}

// recordedUser returns the account recorded at registration, or "" when
// none is (a fresh device, or one registered by another program).
func (d *device) recordedUser(ctx context.Context) (model.UserID, error) {
	b, err := d.e.Store().Get(ctx, userKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("read recorded account: %w", err)
	case !model.ValidUserID(model.UserID(b)):
		return "", fmt.Errorf("%w (store key %s): %d bytes that are not an account name; pass --user with the account this device is registered to, which records it again", errUserDamaged, userKey, len(b))
	}
	return model.UserID(b), nil
}

// docs opens the account's documents (playlists, library) on the device
// the first time, and returns the same ones later; closing the device
// closes them.
func (d *device) docs(ctx context.Context) (*core.Docs, error) {
	if d.opened != nil {
		return d.opened, nil
	}
	if d.user == "" {
		return nil, fmt.Errorf("%w: --user is needed: this device was registered by another program and its account is not recorded", errUsage)
	}
	docs, err := d.e.OpenDocs(ctx, d.user)
	if err != nil {
		return nil, err
	}
	d.opened = docs
	return docs, nil
}

// downloads opens the engine's downloads manager with opts, paused with
// reason pause unless it is "", and, when it holds playlist downloads,
// lets it resolve them from this device's replica of the account's
// documents (Engine.ResolvePlaylists: no network, and resolved downloads
// are left as they are), so every command that opens the manager can
// resolve playlists. On a device whose account is not recorded
// (registered by another program, no --user) they wait instead, with the
// cause of their last failure.
func (d *device) downloads(ctx context.Context, opts download.Options, pause string) (*download.Manager, error) {
	home, _ := os.UserHomeDir()
	if p := clockMarkFileFor(os.Getenv("XDG_STATE_HOME"), home, d.e.DeviceID()); p != "" {
		opts = opts.WithClockMarkFile(p)
	}
	m, err := d.e.OpenDownloads(ctx, opts)
	if err != nil {
		return nil, err
	}
	if pause != "" {
		m.SetPaused(pause)
	}
	if len(m.Playlists()) == 0 || d.user == "" {
		return m, nil
	}
	docs, err := d.docs(ctx)
	if err != nil {
		return nil, err
	}
	if err := d.e.ResolvePlaylists(ctx, docs); err != nil {
		return nil, err
	}
	return m, nil
}

// close closes the engine and everything opened on it (player,
// downloads, documents).
func (d *device) close() error { return d.e.Close() }

// closeInto closes the device, for a deferred call in a command with
// named result err, and joins the close's error into *err: a store that
// fails to close (its directory removed or moved while the command ran,
// badgerstore.ErrDirGone) may have lost the command's last writes, so
// the command must not report success.
func (d *device) closeInto(err *error) {
	if cerr := d.close(); cerr != nil {
		*err = errors.Join(*err, fmt.Errorf("close device: %w", cerr))
	}
}

// parseArgs parses args with fs, letting flags and positional arguments
// mix (`segue play playlist ID --out x.wav`); after a `--` every argument
// is positional. It returns the positional arguments; errors wrap
// errUsage and the flag package's error (flag.ErrHelp for -h, -help or
// --help), and come with the positional arguments seen before the failing
// flag (a subcommand whose help was asked for, say).
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return pos, fmt.Errorf("%w: %w", errUsage, err)
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(pos, rest...), nil
		}
		if len(rest) == 0 {
			return pos, nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

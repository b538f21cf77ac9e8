// Command segue is Segue's one binary: the relay server, the ingest
// pipeline, the demo, and tools for listeners and developers.
//
//	segue demo                 ingest the demo album, start a relay, stream and play it
//	segue relay [flags]        run the relay server
//	segue ingest [flags] ...   ingest masters into a relay data directory
//	segue decode IN.ogg OUT.wav
//
// Run `segue help` for every subcommand.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/libp2p/go-libp2p/gologshim"
)

// command is one subcommand. run receives the arguments after the
// subcommand name; it returns errUsage (wrapped or not) for bad arguments.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

// register adds a subcommand; each subcommand's file calls it from init.
func register(name, summary string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	if _, dup := commands[name]; dup {
		panic("segue: duplicate subcommand " + name)
	}
	commands[name] = command{summary: summary, run: run}
}

// errUsage marks an error caused by bad command-line arguments (exit 2).
var errUsage = errors.New("usage")

func main() {
	quietLibp2p()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first Ctrl-C or SIGTERM cancels ctx and the command winds down;
	// the next one ends the process at once, as without a handler. Before,
	// every later one was swallowed too: a command blocked where no
	// context reaches (opening a FIFO, reading a pipe whose writer is
	// stuck) could only be killed with SIGKILL.
	context.AfterFunc(ctx, stop)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// quietLibp2p drops go-libp2p's own log records (gologshim: to stderr,
// each naming a source file of the build machine) unless
// GOLOG_LOG_LEVEL, go-libp2p's setting, asks for them: the errors they
// report come back to the command, which prints each once.
func quietLibp2p() {
	if os.Getenv("GOLOG_LOG_LEVEL") == "" {
		gologshim.SetDefaultHandler(slog.DiscardHandler)
	}
}

// run is the whole command line: it returns the exit code. Help asked
// for (`segue help CMD [SUB]`, or -h, -help or --help anywhere before a
// `--`) is the command's output: its usage goes to stdout and it exits 0.
// No command at all is a usage error: the usage goes to stderr, exit 2.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, "segue: no command\n\n")
		usage(stderr)
		return 2
	}
	if isHelpFlag(args[0]) || args[0] == "help" && (len(args) == 1 || isHelpFlag(args[1])) {
		usage(stdout)
		return 0
	}
	if args[0] == "help" { // segue help playlist show = segue playlist show --help
		args = append(args[1:len(args):len(args)], "--help")
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "segue: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	help := wantsHelp(args[1:])
	cmdErr := stderr
	if help {
		cmdErr = stdout
	}
	if err := c.run(ctx, args[1:], stdout, cmdErr); err != nil {
		if help && errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			// Ctrl-C or SIGTERM: say so; the rest of err says where.
			fmt.Fprintf(stderr, "segue %s: interrupted: %v\n", args[0], err)
			return 1
		}
		fmt.Fprintf(stderr, "segue %s: %v\n", args[0], err)
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	return 0
}

// isHelpFlag reports whether a is one of the flag package's help flags.
func isHelpFlag(a string) bool {
	switch a {
	case "-h", "-help", "--h", "--help":
		return true
	}
	return false
}

// wantsHelp reports whether args hold a help flag before any `--`. The
// flag package decides whether it really is one (not, say, the value of
// --out); this only picks where the usage goes.
func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if isHelpFlag(a) {
			return true
		}
	}
	return false
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: segue <command> [arguments]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
}

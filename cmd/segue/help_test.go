package main

import (
	"bytes"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestHelp runs the built binary as a user would with -h, -help, --help
// and `segue help CMD [SUB]` for every command and every subcommand of
// playlist and sync: each prints its usage on stdout, nothing on stderr,
// and exits 0. Asking for help about an unknown command, or no command
// at all, exits 2 with the usage on stderr.
// flagPlaceholder matches a flag line of the flag package's usage whose
// value name has a space in it.
var flagPlaceholder = regexp.MustCompile(`(?m)^  -[\w-]+ \S+ [^\n]*$`)

func TestHelp(t *testing.T) {
	bin := buildSegue(t)
	type tc struct {
		args []string
		want []string // substrings of stdout
		not  []string // not substrings of stdout
	}
	var cases []tc
	for _, a := range [][]string{{"help"}, {"-h"}, {"--help"}, {"help", "-h"}} {
		cases = append(cases, tc{a, []string{"usage: segue <command>", "playlist", "download"}, nil})
	}
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		want := []string{"segue " + n}
		if n == "relay" { // the flag package's default usage
			want = []string{"Usage of relay:", "-listen"}
		}
		for _, a := range [][]string{{n, "--help"}, {n, "-h"}, {n, "-help"}, {"help", n}} {
			cases = append(cases, tc{a, want, nil})
		}
	}
	// Help after other flags and arguments, as a user edits a command line.
	cases = append(cases,
		tc{[]string{"download", "--tier", "low", "album:x", "--help"}, []string{"usage: segue download", "-workers"}, nil},
		tc{[]string{"play", "track", "x", "-h"}, []string{"usage: segue play", "-tier"}, nil},
		tc{[]string{"playlist", "--data", "/nonexistent", "-h"}, []string{"usage: segue playlist SUBCOMMAND", "show ID", "-relay"}, nil},
		// The tier defaults to the downloaded one, so the help prints no
		// fixed default after saying so (it printed (default "high")).
		tc{[]string{"play", "-h"}, []string{"(default: the highest tier the first track is downloaded at, else high)\n"}, []string{`(default "high")`}},
	)
	for _, sub := range playlistSubs {
		want := []string{"usage: segue playlist " + sub.name + " " + sub.args, sub.summary, "-data"}
		cases = append(cases, tc{[]string{"playlist", sub.name, "--help"}, want, nil}, tc{[]string{"help", "playlist", sub.name}, want, nil})
	}
	for _, sub := range syncSubs {
		want := []string{"usage: segue sync " + sub.name, sub.summary, "-wait"}
		cases = append(cases, tc{[]string{"sync", sub.name, "-h"}, want, nil}, tc{[]string{"help", "sync", sub.name}, want, nil})
	}
	for _, c := range cases {
		t.Run(strings.Join(append([]string{"segue"}, c.args...), " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			cmd := exec.Command(bin, c.args...)
			cmd.Stdout, cmd.Stderr = &out, &errOut
			if err := cmd.Run(); err != nil {
				t.Fatalf("%v\nstdout: %s\nstderr: %s", err, out.String(), errOut.String())
			}
			if errOut.Len() != 0 {
				t.Errorf("stderr is not empty: %q", errOut.String())
			}
			for _, w := range c.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			for _, n := range c.not {
				if strings.Contains(out.String(), n) {
					t.Errorf("stdout has %q:\n%s", n, out.String())
				}
			}
			// The flag package names a flag's value after the first
			// `quoted` words of its usage: "-wait sync now" read as if
			// the flag took the words "sync now".
			if m := flagPlaceholder.FindString(out.String()); m != "" {
				t.Errorf("a flag's value is named by back-quoted usage text: %q", m)
			}
		})
	}
	// No command at all is a usage error like an unknown one (it exited 0).
	for _, args := range [][]string{{}, {"help", "bogus"}, {"bogus", "--help"}} {
		cmd := exec.Command(bin, args...)
		var errOut bytes.Buffer
		cmd.Stderr = &errOut
		out, err := cmd.Output()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || len(out) != 0 || !strings.Contains(errOut.String(), "usage: segue <command>") {
			t.Errorf("segue %q: %v, stdout %q; want exit 2 and usage on stderr only", args, err, out)
		}
	}
}

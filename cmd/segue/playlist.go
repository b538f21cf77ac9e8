package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
)

func init() {
	register("playlist", "edit playlists offline: list, create, show, add, remove, move, rename, describe, collab, public, follow, unfollow", runPlaylist)
}

// playlistUsage lists the playlist subcommands and their arguments.
const playlistUsage = "playlist list|create NAME|show ID|add ID TRACK…|remove ID ENTRY…|move ID ENTRY INDEX|rename ID NAME|describe ID TEXT|collab ID USER…|public ID true|false|follow ID|unfollow ID"

// subcommand is one subcommand of a command with subcommands (playlist,
// sync): its arguments, how many it needs at least, and what it does.
type subcommand struct {
	name, args string
	need       int
	summary    string
}

// playlistSubs are the playlist subcommands, in the order usage lists them.
var playlistSubs = []subcommand{
	{"list", "", 0, "list the account's playlists on this device"},
	{"create", "NAME", 1, "create a playlist; prints only its id on stdout"},
	{"show", "ID", 1, "show a playlist: title, artists and duration of each entry (from the relay, else from this device's downloads)"},
	{"add", "ID TRACK…", 2, "append tracks"},
	{"remove", "ID ENTRY…", 2, "remove entries (entry ids, as show prints them)"},
	{"move", "ID ENTRY INDEX", 3, "move an entry to an index"},
	{"rename", "ID NAME", 2, "rename"},
	{"describe", "ID TEXT", 2, "set the description"},
	{"collab", "ID USER…", 1, "set the collaborators (none: only the owner edits)"},
	{"public", "ID true|false", 2, "make the playlist public or private"},
	{"follow", "ID", 1, "follow a playlist shared with this account"},
	{"unfollow", "ID", 1, "stop following a playlist"},
}

// findSub returns the subcommand named name, or nil.
func findSub(subs []subcommand, name string) *subcommand {
	for i := range subs {
		if subs[i].name == name {
			return &subs[i]
		}
	}
	return nil
}

// printSubUsage writes the usage of `segue cmd SUB` when pos names one of
// subs, else of `segue cmd` with every subcommand, then fs's flags.
func printSubUsage(w io.Writer, fs *flag.FlagSet, cmd string, subs []subcommand, pos []string) {
	if len(pos) > 0 {
		if sc := findSub(subs, pos[0]); sc != nil {
			fmt.Fprintf(w, "usage: segue %s %s %s [flags]\n  %s\n\nflags:\n", cmd, sc.name, sc.args, sc.summary)
			fs.PrintDefaults()
			return
		}
	}
	fmt.Fprintf(w, "usage: segue %s SUBCOMMAND [arguments] [flags]\n\nsubcommands:\n", cmd)
	for _, sc := range subs {
		fmt.Fprintf(w, "  %-28s %s\n", strings.TrimSpace(sc.name+" "+sc.args), sc.summary)
	}
	fmt.Fprintln(w, "\nflags:")
	fs.PrintDefaults()
}

// runPlaylist implements `segue playlist [device flags] SUBCOMMAND …`:
// edits of the account's playlist documents on this device, offline;
// `segue sync now` sends them to the relay. Every edit prints the
// playlist as it now is.
func runPlaylist(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("playlist", flag.ContinueOnError)
	fs.SetOutput(stderr)
	da := addDeviceFlags(fs)
	fs.Usage = func() {} // printed below, for the subcommand named before the flag
	rest, err := parseArgs(fs, args)
	if err != nil {
		printSubUsage(stderr, fs, "playlist", playlistSubs, rest)
		return err
	}
	if len(rest) == 0 {
		return fmt.Errorf("%w: %s", errUsage, playlistUsage)
	}
	sub, rest := rest[0], rest[1:]
	sc := findSub(playlistSubs, sub)
	if sc == nil {
		return fmt.Errorf("%w: unknown playlist command %q", errUsage, sub)
	}
	if len(rest) < sc.need {
		return fmt.Errorf("%w: playlist %s needs %d argument(s)", errUsage, sub, sc.need)
	}
	var id docs.DocumentID
	if sub != "list" && sub != "create" {
		if id, err = parseDocID(rest[0]); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		rest = rest[1:]
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
	pl := d.Playlists()
	switch sub {
	case "list":
		vs, err := pl.List(ctx)
		if err != nil {
			return err
		}
		for _, v := range vs {
			fmt.Fprintf(stdout, "%s\t%s\t%d entries\towner %s\n", v.ID, v.Info.Name, len(v.Entries), v.Info.Owner)
		}
		return nil
	case "create":
		id, err := pl.Create(ctx, strings.Join(rest, " "))
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, id)
		return nil
	case "show":
		return showPlaylist(ctx, stdout, pl, id)
	case "add":
		tracks := make([]model.TrackID, len(rest))
		for i, s := range rest {
			tracks[i] = model.TrackID(s)
		}
		_, err = pl.Add(ctx, id, docs.AtEnd(), tracks...)
	case "remove":
		es := make([]docs.EntryID, len(rest))
		for i, s := range rest {
			es[i] = docs.EntryID(s)
		}
		err = pl.Remove(ctx, id, es...)
	case "move":
		i, perr := strconv.Atoi(rest[1])
		if perr != nil || i < 0 {
			return fmt.Errorf("%w: move index %q", errUsage, rest[1])
		}
		err = pl.Move(ctx, id, docs.EntryID(rest[0]), docs.AtIndex(i))
	case "rename":
		err = pl.Rename(ctx, id, strings.Join(rest, " "))
	case "describe":
		err = pl.Describe(ctx, id, strings.Join(rest, " "))
	case "collab":
		us := make([]model.UserID, len(rest))
		for i, s := range rest {
			us[i] = model.UserID(s)
		}
		err = pl.SetCollaborators(ctx, id, us...)
	case "public":
		b, perr := strconv.ParseBool(rest[0])
		if perr != nil {
			return fmt.Errorf("%w: public %q: want true or false", errUsage, rest[0])
		}
		err = pl.SetPublic(ctx, id, b)
	case "follow":
		err = pl.Follow(ctx, id)
	case "unfollow":
		err = pl.Unfollow(ctx, id)
	}
	if err != nil {
		return err
	}
	if sub == "follow" || sub == "unfollow" {
		return nil
	}
	return showPlaylist(ctx, stdout, pl, id)
}

// parseDocID accepts a playlist document id or its automerge: URL.
func parseDocID(s string) (docs.DocumentID, error) {
	if strings.HasPrefix(s, docs.URLPrefix) {
		return docs.ParseURL(s)
	}
	return docs.ParseDocumentID(s)
}

// showPlaylist prints the playlist id's header line and one line per
// entry.
func showPlaylist(ctx context.Context, w io.Writer, pl core.Playlists, id docs.DocumentID) error {
	v, err := pl.Get(ctx, id)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s %q owner=%s collaborators=%v public=%v\n", id.URL(), v.Info.Name, v.Info.Owner, v.Info.Collaborators, v.Info.Public)
	for i, e := range v.Entries {
		fmt.Fprintf(w, "%3d  %s  %s  (%s)\n", i, e.ID, e.Track, e.AddedBy)
	}
	return nil
}

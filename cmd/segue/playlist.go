package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/safetext"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/repo"
)

func init() {
	register("playlist", "edit playlists offline: list, create, show, add, remove, move, rename, describe, collab, public, follow, unfollow, discard", runPlaylist)
}

// playlistUsage lists the playlist subcommands and their arguments.
const playlistUsage = "playlist list|create NAME|show ID|add ID TRACK…|remove ID ENTRY…|move ID ENTRY INDEX|rename ID NAME|describe ID TEXT|collab ID USER…|public ID true|false|follow ID|unfollow ID|discard ID"

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
	{"show", "ID", 1, "show a playlist: title, artists and duration of each entry (from the relay, else as this device last resolved them)"},
	{"add", "ID TRACK…", 2, "append tracks"},
	{"remove", "ID ENTRY…", 2, "remove entries (entry ids, as show prints them)"},
	{"move", "ID ENTRY INDEX", 3, "move an entry to an index"},
	{"rename", "ID NAME", 2, "rename"},
	{"describe", "ID TEXT", 2, "set the description"},
	{"collab", "ID USER…", 1, "set the collaborators (none: only the owner edits)"},
	{"public", "ID true|false", 2, "make the playlist public or private"},
	{"follow", "ID", 1, "follow a playlist shared with this account"},
	{"unfollow", "ID", 1, "stop following a playlist"},
	{"discard", "ID", 1, "delete the records of a playlist set aside as damaged (list names them), and changes only they held"},
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
func runPlaylist(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
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
	if err := checkPlaylistArgs(sub, rest); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	log := newStepLog(stderr)
	dev, err := da.open(ctx)
	if err != nil {
		return err
	}
	defer dev.closeInto(&err)
	d, err := dev.docs(ctx)
	if err != nil {
		return err
	}
	log.step("device open")
	if sub == "discard" {
		if err := d.DiscardSetAside(ctx, id); err != nil {
			if errors.Is(err, repo.ErrNotFound) {
				return fmt.Errorf("%w: playlist %s: nothing set aside on this device (playlist list names what is)", errUsage, id)
			}
			return err
		}
		log.step("discarded the records of %s set aside on this device", id)
		return nil
	}
	pl := d.Playlists()
	switch sub {
	case "list":
		vs, err := pl.List(ctx)
		if err != nil {
			return err
		}
		for _, v := range vs {
			fmt.Fprintf(stdout, "%s\t%s\t%d entries\towner %s\n", v.ID, shown(v.Info.Name), len(v.Entries), shown(string(v.Info.Owner)))
		}
		return warnSetAside(ctx, log, d)
	case "create":
		id, err := pl.Create(ctx, strings.Join(rest, " "))
		if err != nil {
			return err
		}
		log.step("created playlist %s on this device (segue sync now sends it to the relay)", id)
		fmt.Fprintln(stdout, id)
		return nil
	case "show":
		return showPlaylist(ctx, stdout, log, dev.e, pl, id)
	case "add":
		tracks := make([]model.TrackID, len(rest))
		for i, s := range rest {
			tracks[i] = model.TrackID(s)
		}
		_, err = pl.Add(ctx, id, docs.AtEnd(), tracks...)
		if err == nil {
			_, errs := dev.e.TrackInfos(ctx, tracks)
			unknown, _ := sortLookups(rest, errs)
			if len(unknown) > 0 {
				log.step("warning: not in the relay's catalog, added anyway (play skips them): %s", strings.Join(unknown, ", "))
			}
		}
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
		errs := make([]error, len(rest))
		for i, s := range rest {
			us[i] = model.UserID(s)
			_, errs[i] = dev.e.Profile(ctx, us[i])
		}
		if unknown, _ := sortLookups(rest, errs); len(unknown) > 0 {
			// A relay without the social service answers 404 for
			// every user, this account's own profile too: it cannot
			// tell, so none is unknown.
			if _, err := dev.e.Profile(ctx, d.User()); err != nil {
				for i := range errs {
					errs[i] = errNoDirectory
				}
			}
		}
		if err := checkUsers(log, rest, errs); err != nil {
			return err
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
	log.step("%s done on this device (segue sync now sends it to the relay)", sub)
	if sub == "follow" || sub == "unfollow" {
		return nil
	}
	return showPlaylist(ctx, stdout, log, dev.e, pl, id)
}

// checkPlaylistArgs checks what the device can check of a playlist
// subcommand's arguments (after the playlist id) before it opens the
// device: a name or description docs would refuse (docs.ErrBadText) or
// an empty name, and collaborators that are not account names (the
// relay's syntax, checkUsername). Whether the users exist is not known
// offline.
func checkPlaylistArgs(sub string, rest []string) error {
	switch sub {
	case "create", "rename":
		name := strings.Join(rest, " ")
		if strings.TrimSpace(name) == "" {
			return errors.New("playlist name is empty")
		}
		return docs.CheckName(name)
	case "describe":
		return docs.CheckDescription(strings.Join(rest, " "))
	case "collab":
		for _, u := range rest {
			if err := checkUsername(u); err != nil {
				return fmt.Errorf("collaborator: %w", err)
			}
		}
	case "add":
		for _, s := range rest {
			if !model.ValidID(s) {
				return fmt.Errorf("track id %s: not a catalog id (1-%d bytes without '/')", quoteArg(s), model.MaxIDLen)
			}
		}
	}
	return nil
}

// parseDocID accepts a playlist document id or its automerge: URL; its
// error names the argument and what a playlist id looks like.
func parseDocID(s string) (docs.DocumentID, error) {
	parse := docs.ParseDocumentID
	if strings.HasPrefix(s, docs.URLPrefix) {
		parse = docs.ParseURL
	}
	id, err := parse(s)
	if err != nil {
		return id, fmt.Errorf("playlist id %q: not a Segue playlist id (expected automerge:<base58check> or the bare id printed by 'segue playlist create')", s)
	}
	return id, nil
}

// showPlaylist prints the playlist id's header line and one line per
// entry: index, entry id, track id, then title, artists and duration
// (metaResolver: from the relay, else from this device's records), and
// who added it.
func showPlaylist(ctx context.Context, w io.Writer, log *stepLog, e *core.Engine, pl core.Playlists, id docs.DocumentID) error {
	v, err := pl.Get(ctx, id)
	if err != nil {
		return err
	}
	r := newMetaResolver(e)
	ids := make([]model.TrackID, len(v.Entries))
	for i, en := range v.Entries {
		ids[i] = en.Track
	}
	r.prefetch(ctx, ids)
	lines := make([]string, len(v.Entries))
	var total time.Duration
	for i, en := range v.Entries {
		var d time.Duration
		lines[i], d = r.trackLine(ctx, en.Track)
		total += d
	}
	from := "the relay"
	if r.offline {
		from = "this device (relay unreachable)"
	}
	log.step("%d entries named from %s", len(v.Entries), from)
	collabs := make([]string, len(v.Info.Collaborators))
	for i, c := range v.Info.Collaborators {
		collabs[i] = shown(string(c))
	}
	fmt.Fprintf(w, "%s %q owner=%s collaborators=%v public=%v  %d entries, %s\n", id.URL(), v.Info.Name, shown(string(v.Info.Owner)), collabs, v.Info.Public, len(v.Entries), mmss(total))
	for i, en := range v.Entries {
		fmt.Fprintf(w, "%3d  %s  %s  %s  (%s)\n", i, shown(string(en.ID)), shown(string(en.Track)), shown(lines[i]), shown(string(en.AddedBy)))
	}
	return nil
}

// shown returns s as the terminal may print it: unchanged when
// safetext.Check passes it, else quoted with its control and
// bidirectional formatting characters escaped. A playlist's text comes
// from whoever wrote the document (collaborators, a foreign client, the
// owner of a followed public playlist), which neither the relay nor this
// device filters, and an ESC or U+202E in it would rewrite the terminal.
func shown(s string) string {
	if safetext.Check(s) == nil {
		return s
	}
	return strconv.QuoteToGraphic(s)
}

// errUnknownUser reports a collaborator the relay has no account for:
// named before the account exists, it would let whoever signs up under
// that name edit the playlist.
var errUnknownUser = errors.New("unknown user")

// errNoDirectory marks a collaborator not checked because the relay
// answers no user's profile, not even this account's own.
var errNoDirectory = errors.New("the relay has no user directory")

// checkUsers refuses collaborators (ids, errs[i] the profile lookup's
// error for ids[i]) the relay answered 404 for, naming each; those it
// could not check (offline, relay down) are let through with a note, as
// an offline edit must be.
func checkUsers(log *stepLog, ids []string, errs []error) error {
	unknown, unchecked := sortLookups(ids, errs)
	if len(unknown) > 0 {
		return fmt.Errorf("%w: %s: no such account on the relay; nothing changed", errUnknownUser, strings.Join(unknown, ", "))
	}
	if len(unchecked) > 0 {
		why := "offline?"
		if errors.Is(errs[0], errNoDirectory) {
			why = errNoDirectory.Error()
		}
		log.step("could not check %s with the relay (%s): kept as given", strings.Join(unchecked, ", "), why)
	}
	return nil
}

// sortLookups returns the ids (shown for a terminal) whose lookup the
// relay answered 404 (errs[i] for ids[i]), and those it could not look up.
func sortLookups(ids []string, errs []error) (unknown, unchecked []string) {
	for i, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, fetch.ErrNotFound):
			unknown = append(unknown, shown(ids[i]))
		default:
			unchecked = append(unchecked, shown(ids[i]))
		}
	}
	return unknown, unchecked
}

// warnSetAside writes a line to log for each document of d set aside
// because its records on this device did not load (core.Docs.SetAside),
// saying what the user can do about it.
func warnSetAside(ctx context.Context, log *stepLog, d *core.Docs) error {
	asides, err := d.SetAside(ctx)
	if err != nil {
		return err
	}
	for _, a := range asides {
		kept := fmt.Sprintf("%d records kept under docbad/%s/", a.Keys, a.ID)
		switch {
		case a.Back:
			log.step("note: document %s was set aside and received again from the relay; changes made on this device and not sent before are only in the %s (segue playlist discard %s deletes them)", a.ID, kept, a.ID)
		case a.Synced:
			log.step("warning: document %s did not load (damaged on this device: %s) and was set aside; segue sync now receives it again from the relay (changes not sent before are only in the %s)", a.ID, a.Cause, kept)
		default:
			log.step("warning: document %s did not load (damaged on this device: %s) and was set aside; it was never synced, so the relay cannot send it again: its changes are only in the %s; segue playlist unfollow %s stops asking the relay for it, and segue playlist discard %s deletes what was kept", a.ID, a.Cause, kept, a.ID, a.ID)
		}
	}
	return nil
}

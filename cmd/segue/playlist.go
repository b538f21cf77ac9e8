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

// runPlaylist implements `segue playlist [device flags] SUBCOMMAND …`:
// edits of the account's playlist documents on this device, offline;
// `segue sync now` sends them to the relay. Every edit prints the
// playlist as it now is.
func runPlaylist(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("playlist", flag.ContinueOnError)
	fs.SetOutput(stderr)
	da := addDeviceFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: segue "+playlistUsage+" [flags]")
		fs.PrintDefaults()
	}
	rest, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(rest) == 0 {
		return fmt.Errorf("%w: %s", errUsage, playlistUsage)
	}
	sub, rest := rest[0], rest[1:]
	need := map[string]int{"list": 0, "create": 1, "show": 1, "add": 2, "remove": 2, "move": 3, "rename": 2, "describe": 2, "collab": 1, "public": 2, "follow": 1, "unfollow": 1}
	n, ok := need[sub]
	if !ok {
		return fmt.Errorf("%w: unknown playlist command %q", errUsage, sub)
	}
	if len(rest) < n {
		return fmt.Errorf("%w: playlist %s needs %d argument(s)", errUsage, sub, n)
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

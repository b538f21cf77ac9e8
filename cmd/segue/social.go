package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
)

func init() {
	register("follow", "follow a user (mutual follows are friends); unfollow, block and unblock likewise", socialEdit("follow"))
	register("unfollow", "stop following a user", socialEdit("unfollow"))
	register("block", "block a user: follows both ways end, neither sees the other", socialEdit("block"))
	register("unblock", "lift a block", socialEdit("unblock"))
	register("profile", "show a user's profile, or set your display name and privacy settings", runProfile)
	register("friends", "print your friends' latest activity; --follow streams it live", runFriends)
	register("private", "private session on|off: while on, nothing you play is published to friends", runPrivate)
	register("share", "share link of a track, album or playlist (share revoke TOKEN, share accept TOKEN, share invite PLAYLIST)", runShare)
}

// socialEdit implements `segue follow|unfollow|block|unblock [device flags] USER`.
func socialEdit(verb string) func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
		fs := flag.NewFlagSet(verb, flag.ContinueOnError)
		fs.SetOutput(stderr)
		da := addDeviceFlags(fs)
		fs.Usage = func() {
			fmt.Fprintf(stderr, "usage: segue %s [flags] USER\n", verb)
			fs.PrintDefaults()
		}
		pos, err := parseArgs(fs, args)
		if err != nil {
			return err
		}
		if len(pos) != 1 {
			fs.Usage()
			return fmt.Errorf("%w: want one user name", errUsage)
		}
		if err := checkUsername(pos[0]); err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
		d, err := da.open(ctx)
		if err != nil {
			return err
		}
		defer d.closeInto(&err)
		user := model.UserID(pos[0])
		ops := map[string]func(context.Context, model.UserID) error{
			"follow": d.e.Follow, "unfollow": d.e.Unfollow, "block": d.e.Block, "unblock": d.e.Unblock,
		}
		if err := ops[verb](ctx, user); err != nil {
			return fmt.Errorf("%s %s: %w", verb, user, err)
		}
		fmt.Fprintf(stdout, "%sed %s\n", verb, user)
		return nil
	}
}

// runProfile implements
// `segue profile [device flags] [--name NAME] [--hide-activity=BOOL] [--show-top-artists=BOOL] [USER]`.
func runProfile(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("profile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	da := addDeviceFlags(fs)
	var set api.ProfileSettings
	fs.Func("name", "set your display name", func(s string) error { set.DisplayName = &s; return nil })
	fs.BoolFunc("hide-activity", "hide what you play from everyone (=false to show it again)", func(s string) error {
		v, err := parseBool(s)
		set.HideActivity = &v
		return err
	})
	fs.BoolFunc("show-top-artists", "list your top artists on your profile (=false to stop)", func(s string) error {
		v, err := parseBool(s)
		set.ShowTopArtists = &v
		return err
	})
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: segue profile [flags] [USER]   (no USER: your own; the setting flags change yours)")
		fs.PrintDefaults()
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		fs.Usage()
		return fmt.Errorf("%w: want at most one user name", errUsage)
	}
	if len(pos) == 1 {
		if err := checkUsername(pos[0]); err != nil {
			return fmt.Errorf("%w: %w", errUsage, err)
		}
	}
	d, err := da.open(ctx)
	if err != nil {
		return err
	}
	defer d.closeInto(&err)
	if set != (api.ProfileSettings{}) {
		if err := d.e.SetProfile(ctx, set); err != nil {
			return err
		}
	}
	user := d.user
	if len(pos) == 1 {
		user = model.UserID(pos[0])
	}
	if user == "" {
		return fmt.Errorf("%w: name the user (this device does not know its account)", errUsage)
	}
	p, err := d.e.Profile(ctx, user)
	if err != nil {
		return err
	}
	rel := ""
	switch {
	case p.Friends:
		rel = " · friends"
	case p.YouFollow:
		rel = " · you follow"
	case p.FollowsYou:
		rel = " · follows you"
	}
	fmt.Fprintf(stdout, "%s (%s) · %d followers · %d following%s\n", p.DisplayName, p.User, p.Followers, p.Following, rel)
	if p.HideActivity != nil {
		fmt.Fprintf(stdout, "activity hidden: %v · top artists shown: %v\n", *p.HideActivity, *p.ShowTopArtists)
	}
	for _, pl := range p.PublicPlaylists {
		fmt.Fprintf(stdout, "playlist %s  %s\n", pl.ID, pl.Name)
	}
	for _, a := range p.TopArtists {
		fmt.Fprintf(stdout, "top artist %s (%d plays)\n", a.Name, a.Plays)
	}
	return nil
}

func parseBool(s string) (bool, error) {
	switch s {
	case "true", "1", "on":
		return true, nil
	case "false", "0", "off":
		return false, nil
	}
	return false, fmt.Errorf("want true or false, not %q", s)
}

// activityLine formats one friend's activity for the terminal. Every
// user-controlled string is quoted with %q so control characters cannot
// drive the terminal.
func activityLine(a api.Activity, now time.Time) string {
	verb := "played"
	if a.Playing {
		verb = "is playing"
	}
	ctx := ""
	if a.Context.Kind != "" {
		ctx = fmt.Sprintf(" (from %s %s)", a.Context.Kind, a.Context.ID)
	}
	ago := now.Sub(a.At).Round(time.Second)
	return fmt.Sprintf("%q %s %q by %q%s · %s ago · track %s", a.DisplayName, verb, a.Title, strings.Join(a.Artists, ", "), ctx, max(ago, 0), a.Track)
}

// runFriends implements `segue friends [device flags] [--follow]`.
func runFriends(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("friends", flag.ContinueOnError)
	fs.SetOutput(stderr)
	da := addDeviceFlags(fs)
	follow := fs.Bool("follow", false, "stay connected and print each friend's activity as it happens (Ctrl-C ends)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: segue friends [flags]")
		fs.PrintDefaults()
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		fs.Usage()
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, pos)
	}
	d, err := da.open(ctx)
	if err != nil {
		return err
	}
	defer d.closeInto(&err)
	if !*follow {
		feed, err := d.e.FriendActivity(ctx)
		if err != nil {
			return err
		}
		if len(feed) == 0 {
			fmt.Fprintln(stdout, "no friend activity (friends are users you follow who follow you back)")
		}
		now := time.Now()
		for _, a := range feed {
			fmt.Fprintln(stdout, activityLine(a, now))
		}
		return nil
	}
	// The device's sync connection carries the feed (one connection for
	// both); without a recorded account, the SSE stream.
	if d.user != "" {
		docs, err := d.docs(ctx)
		if err != nil {
			return err
		}
		if err := docs.StartSync(ctx); err != nil {
			return err
		}
	}
	for {
		err := d.e.WatchFriends(ctx, func(a api.Activity) { fmt.Fprintln(stdout, activityLine(a, time.Now())) })
		if ctx.Err() != nil {
			return nil
		}
		fmt.Fprintf(stderr, "activity stream ended (%v); reconnecting in 2 s\n", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
}

// runPrivate implements `segue private [device flags] [on|off]`.
func runPrivate(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("private", flag.ContinueOnError)
	fs.SetOutput(stderr)
	da := addDeviceFlags(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: segue private [flags] [on|off]   (no argument: print the state)")
		fs.PrintDefaults()
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 || (len(pos) == 1 && pos[0] != "on" && pos[0] != "off") {
		fs.Usage()
		return fmt.Errorf("%w: want on or off", errUsage)
	}
	d, err := da.open(ctx)
	if err != nil {
		return err
	}
	defer d.closeInto(&err)
	if len(pos) == 1 {
		if err := d.e.SetPrivateSession(ctx, pos[0] == "on"); err != nil {
			return err
		}
	}
	on, err := d.e.PrivateSession(ctx)
	if err != nil {
		return err
	}
	state := "off: friends see what you play"
	if on {
		state = "on: nothing you play is published"
	}
	fmt.Fprintf(stdout, "private session %s\n", state)
	return nil
}

// runShare implements `segue share [device flags] track|album|playlist ID`,
// `segue share invite [--ttl D] PLAYLIST`, `segue share revoke TOKEN` and
// `segue share accept TOKEN`.
func runShare(ctx context.Context, args []string, stdout, stderr io.Writer) (err error) {
	fs := flag.NewFlagSet("share", flag.ContinueOnError)
	fs.SetOutput(stderr)
	da := addDeviceFlags(fs)
	ttl := fs.Duration("ttl", 0, "invite: how long the link works (default and at most the relay's, 7 days)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: segue share [flags] track|album|playlist ID | invite PLAYLIST | revoke TOKEN | accept TOKEN")
		fs.PrintDefaults()
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		fs.Usage()
		return fmt.Errorf("%w: want a kind and an id", errUsage)
	}
	kind, id := pos[0], pos[1]
	switch {
	case *ttl < 0 || *ttl > 0 && *ttl < time.Second:
		// The relay counts whole seconds: 500ms was sent as 0, the
		// relay's longest (7 days).
		return fmt.Errorf("%w: --ttl %s: want 1s or more (none: the relay's longest)", errUsage, *ttl)
	case *ttl != 0 && kind != "invite":
		return fmt.Errorf("%w: --ttl goes with share invite (other share links do not expire)", errUsage)
	}
	switch kind {
	case api.ShareTrack, api.ShareAlbum, "revoke", "accept":
	case api.SharePlaylist, "invite":
		doc, err := parseDocID(id)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		id = doc.String()
	default:
		fs.Usage()
		return fmt.Errorf("%w: unknown %q", errUsage, kind)
	}
	d, err := da.open(ctx)
	if err != nil {
		return err
	}
	defer d.closeInto(&err)
	switch kind {
	case "revoke":
		if err := d.e.RevokeShare(ctx, id); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "revoked")
		return nil
	case "accept":
		acc, err := d.e.AcceptShare(ctx, id)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %s · followed %v · collaborator %v\n", acc.Kind, acc.ID, acc.Followed, acc.Collaborator)
		return nil
	}
	var sh api.Share
	if kind == "invite" {
		sh, err = d.e.InviteLink(ctx, id, *ttl)
	} else {
		sh, err = d.e.Share(ctx, kind, id)
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, sh.URL)
	if sh.Expires != nil {
		fmt.Fprintf(stderr, "expires %s\n", sh.Expires.Format(time.RFC3339))
	}
	fmt.Fprintf(stderr, "card image: %s.png · revoke: segue share revoke %s\n", sh.URL, sh.Token)
	return nil
}

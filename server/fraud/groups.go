package fraud

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/segue-fm/segue/core/model"
)

// GroupOptions configures Extractor.Groups, the group-level check of the
// light accounts: too light to be scored alone, or scored on little
// behaviour. DefaultGroupOptions: light accounts have fewer than 100
// streams in the span (5 times DefaultMinPlays: a farm whose accounts
// stream just over the scorer's minimum is checked too); a group has at
// least 5 accounts; its tracks took at least 90% of their streams in the
// span from light accounts; each of its accounts has at least half of its
// streams on them; no group is looked for when the light accounts made
// more than a quarter of the span's streams.
type GroupOptions struct {
	maxStreams   int
	minAccounts  int
	trackShare   float64
	accountShare float64
	maxLight     float64
}

// DefaultGroupOptions returns the defaults above.
func DefaultGroupOptions() GroupOptions {
	return GroupOptions{maxStreams: 100, minAccounts: 5, trackShare: 0.9, accountShare: 0.5, maxLight: 0.25}
}

// WithMinAccounts sets the fewest accounts of a group (≥ 2).
func (o GroupOptions) WithMinAccounts(n int) GroupOptions { o.minAccounts = n; return o }

// WithMaxStreams sets the streams in the span under which an account is
// light (≥ 2).
func (o GroupOptions) WithMaxStreams(n int) GroupOptions { o.maxStreams = n; return o }

// MaxStreams returns the streams in the span under which an account is
// light.
func (o GroupOptions) MaxStreams() int { return o.maxStreams }

// Group is a set of light accounts (fewer streams in the span than
// GroupOptions.MaxStreams) streaming the same few tracks, which hardly
// anyone else streams: a bot farm spreading its streams over many
// accounts to stay under the per-account scoring.
type Group struct {
	// Accounts are the group's accounts, sorted.
	Accounts []model.UserID
	// Tracks are the group's tracks, most streamed by the group first
	// (ties by id).
	Tracks []model.TrackID
	// Streams is the accounts' streams in the span; OnTracks those of
	// them on Tracks.
	Streams, OnTracks int
	// TrackStreams is every account's streams of Tracks in the span.
	TrackStreams int
	// MaxStreams is the streams the accounts are under
	// (GroupOptions.MaxStreams).
	MaxStreams int
}

// Explain renders the group evidence for one of its accounts, e.g. "group
// of 10 accounts under 100 streams each: 91 of their 104 streams on 4
// tracks (a, b, c, +1), which took 100% of those tracks' 91 streams; this
// account 9 of 12".
func (g Group) Explain(x *Extractor, user model.UserID) string {
	var b strings.Builder
	fmt.Fprintf(&b, "group of %d accounts under %d streams each: %d of their %d streams on %d tracks (", len(g.Accounts), g.MaxStreams, g.OnTracks, g.Streams, len(g.Tracks))
	for i, t := range g.Tracks[:min(3, len(g.Tracks))] {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(string(t))
	}
	if len(g.Tracks) > 3 {
		fmt.Fprintf(&b, ", +%d", len(g.Tracks)-3)
	}
	fmt.Fprintf(&b, "), which took %.0f%% of those tracks' %d streams", 100*share(g.OnTracks, g.TrackStreams), g.TrackStreams)
	if a := x.accts[user]; a != nil {
		fmt.Fprintf(&b, "; this account %d of %d", g.onTracks(x, user), a.plays)
	}
	return b.String()
}

// onTracks returns user's streams on the group's tracks.
func (g Group) onTracks(x *Extractor, user model.UserID) int {
	on := 0
	if a := x.accts[user]; a != nil {
		for _, t := range g.Tracks {
			on += a.tracks[t]
		}
	}
	return on
}

// Groups finds the groups among the light accounts: those with at least
// one and fewer than MaxStreams streams in the span. light is their share
// of the span's streams; checked is false, and no group is looked for,
// when that share is over a quarter: early in a month, or on a relay
// whose listeners are mostly new, popular tracks too are streamed mostly
// by light accounts, and the check would take listeners for a farm. A
// track is a group track when at least MinAccounts light accounts
// streamed it and they made at least 90% of its streams; an account
// belongs when at least half of its streams are on group tracks; the
// accounts kept are grouped by the tracks they share (connected
// components), keeping groups of at least MinAccounts. Humans with few
// streams stream popular tracks, which heavier listeners stream too, and
// are rarely many on one obscure track; a farm's accounts must put their
// streams on the few tracks it is paid to promote.
//
// MaxStreams or MinAccounts under 2 finds no group (Scan refuses such
// options). Deterministic: the result depends on the plays added, not on
// their order, and is sorted by first account. Memory beyond the
// extractor's: a few words per light account and per distinct track the
// light accounts streamed (at most their streams: under MaxStreams per
// light account).
func (x *Extractor) Groups(opts GroupOptions) (groups []Group, light float64, checked bool) {
	if opts.maxStreams < 2 || opts.minAccounts < 2 {
		return nil, 0, false
	}
	var users []model.UserID
	lightStreams, all := 0, 0
	for u, a := range x.accts {
		all += a.plays
		if a.plays < opts.maxStreams {
			users = append(users, u)
			lightStreams += a.plays
		}
	}
	light = share(lightStreams, all)
	if light > opts.maxLight {
		return nil, light, false
	}
	slices.Sort(users)
	// The group tracks: streamed by at least MinAccounts light accounts,
	// which made at least trackShare of their streams.
	type tally struct{ accounts, streams, total int }
	tracks := map[model.TrackID]*tally{}
	for _, u := range users {
		for t, n := range x.accts[u].tracks {
			c := tracks[t]
			if c == nil {
				c = &tally{}
				tracks[t] = c
			}
			c.accounts++
			c.streams += n
		}
	}
	for t, c := range tracks {
		if c.accounts < opts.minAccounts {
			delete(tracks, t)
		}
	}
	for _, a := range x.accts { // every account's streams of the remaining tracks
		if len(a.tracks) < len(tracks) {
			for t, n := range a.tracks {
				if c := tracks[t]; c != nil {
					c.total += n
				}
			}
			continue
		}
		for t, c := range tracks {
			c.total += a.tracks[t]
		}
	}
	for t, c := range tracks {
		if float64(c.streams) < opts.trackShare*float64(c.total) {
			delete(tracks, t)
		}
	}
	// The members: light accounts with at least accountShare of their
	// streams on group tracks.
	var members []model.UserID
	for _, u := range users {
		a, on := x.accts[u], 0
		for t, n := range a.tracks {
			if tracks[t] != nil {
				on += n
			}
		}
		if on > 0 && float64(on) >= opts.accountShare*float64(a.plays) {
			members = append(members, u)
		}
	}
	// Connected components of the members through the tracks they share.
	parent := make([]int, len(members))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	firstOf := map[model.TrackID]int{}
	for i, u := range members {
		for t := range x.accts[u].tracks {
			if tracks[t] == nil {
				continue
			}
			if j, ok := firstOf[t]; ok {
				ri, rj := find(i), find(j)
				parent[max(ri, rj)] = min(ri, rj)
			} else {
				firstOf[t] = i
			}
		}
	}
	byRoot := map[int][]int{}
	for i := range members {
		r := find(i)
		byRoot[r] = append(byRoot[r], i)
	}
	var out []Group
	for _, idx := range byRoot {
		if len(idx) < opts.minAccounts {
			continue
		}
		g := Group{MaxStreams: opts.maxStreams}
		on := map[model.TrackID]int{}
		for _, i := range idx {
			a := x.accts[members[i]]
			g.Accounts = append(g.Accounts, members[i])
			g.Streams += a.plays
			for t, n := range a.tracks {
				if tracks[t] != nil {
					on[t] += n
					g.OnTracks += n
				}
			}
		}
		for t := range on {
			g.Tracks = append(g.Tracks, t)
			g.TrackStreams += tracks[t].total
		}
		slices.SortFunc(g.Tracks, func(a, b model.TrackID) int {
			return cmp.Or(cmp.Compare(on[b], on[a]), cmp.Compare(a, b))
		})
		out = append(out, g) // members are sorted, so g.Accounts is
	}
	slices.SortFunc(out, func(a, b Group) int { return cmp.Compare(a.Accounts[0], b.Accounts[0]) })
	return out, light, true
}

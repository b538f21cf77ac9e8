package fraud

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/segue-fm/segue/core/model"
)

// maxRounds bounds the rounds of Extractor.Groups that leave the streams
// on group tracks out of the heavier accounts' share and look again.
const maxRounds = 8

// GroupOptions configures Extractor.Groups, the group-level check of the
// light accounts: too light to be scored alone, or scored on little
// behaviour. DefaultGroupOptions: light accounts have fewer than 100
// streams in the span (5 times DefaultMinPlays: a farm whose accounts
// stream just over the scorer's minimum is checked too); a group has at
// least 5 accounts, which made three quarters of its tracks' streams;
// each track was streamed by at least 2 light accounts, and heavier
// accounts made at most a tenth of their share of the span's streams of
// it, of which they would have made at least 5 at that share; each
// account has at least half of its streams on the group's tracks; no
// group is looked for when that share is under three quarters.
type GroupOptions struct {
	maxStreams    int
	minAccounts   int
	trackAccounts int
	heavyFactor   float64
	minExpected   float64
	accountShare  float64
	groupShare    float64
	minHeavy      float64
}

// DefaultGroupOptions returns the defaults above.
func DefaultGroupOptions() GroupOptions {
	return GroupOptions{maxStreams: 100, minAccounts: 5, trackAccounts: 2, heavyFactor: 0.1, minExpected: 5, accountShare: 0.5, groupShare: 0.75, minHeavy: 0.75}
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
	// TrackStreams is every account's streams of Tracks in the span;
	// HeavyStreams those of them by accounts of MaxStreams or more.
	TrackStreams, HeavyStreams int
	// MaxStreams is the streams the accounts are under
	// (GroupOptions.MaxStreams).
	MaxStreams int
	// Heavy is the heavier accounts' share of the span's streams outside
	// groups, their ordinary share (Extractor.Groups).
	Heavy float64
}

// Explain renders the group evidence for one of its accounts, e.g. "group
// of 10 accounts under 100 streams each: 91 of their 104 streams on 4
// tracks (a, b, c, +1), which took 100% of those tracks' 91 streams
// (accounts of 100 streams or more made 0% of them, against 87% of the
// other streams); this account 9 of 12".
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
	fmt.Fprintf(&b, "), which took %.0f%% of those tracks' %d streams (accounts of %d streams or more made %.0f%% of them, against %.0f%% of the other streams)",
		100*share(g.OnTracks, g.TrackStreams), g.TrackStreams, g.MaxStreams, 100*share(g.HeavyStreams, g.TrackStreams), 100*g.Heavy)
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
// one and fewer than MaxStreams streams in the span. heavy is the heavier
// accounts' (MaxStreams or more) share of the span's streams, the light
// accounts' streams on group tracks left out. A track is a group track
// when at least 2 light accounts streamed it and the heavier accounts made
// at most a tenth of heavy of its streams, and it has enough streams that
// at heavy they would have made at least 5 (their absence is then
// evidence). Leaving the group tracks' light streams out of heavy raises
// it, which can add group tracks: the check repeats until none is added
// (at most maxRounds rounds). An account belongs when at least half of
// its streams are on group tracks; the accounts kept are grouped by the
// tracks they share (connected components), keeping groups of at least
// MinAccounts whose accounts made at least three quarters of their
// tracks' streams (a track that many other light accounts stream now and
// then is popular, not promoted). Humans with few streams stream popular
// tracks, which heavier listeners stream too, and are rarely many on the
// same obscure tracks; a farm's accounts must put their streams on the
// few tracks it is paid to promote.
//
// checked is false, and no group is looked for, when heavy is under
// three quarters (or no account reached MaxStreams): early in a month, or
// on a relay whose listeners are mostly new, light accounts stream
// popular tracks, and niche ones, that the few heavier accounts happen not
// to, and the check would take listeners for a farm. Before, the switch
// was the light accounts' share of all streams, which a farm raises with
// its own streams; leaving out the light streams on group tracks, a farm
// found cannot turn the check off. Only light streams off group tracks
// (of accounts not grouped) lower heavy.
//
// MaxStreams or MinAccounts under 2 finds no group (Scan refuses such
// options). Deterministic: the result depends on the plays added, not on
// their order (heavy is a ratio of integer sums), and is sorted by first
// account. Memory beyond the extractor's: a few words per light account
// and per distinct track streamed in the span.
func (x *Extractor) Groups(opts GroupOptions) (groups []Group, heavy float64, checked bool) {
	if opts.maxStreams < 2 || opts.minAccounts < 2 {
		return nil, 0, false
	}
	// Every track's light accounts and streams by light and heavier
	// accounts.
	type tally struct{ accounts, light, heavy int }
	tracks := map[model.TrackID]*tally{}
	var users []model.UserID
	for u, a := range x.accts {
		isLight := a.plays < opts.maxStreams
		if isLight {
			users = append(users, u)
		}
		for t, n := range a.tracks {
			c := tracks[t]
			if c == nil {
				c = &tally{}
				tracks[t] = c
			}
			if isLight {
				c.accounts++
				c.light += n
			} else {
				c.heavy += n
			}
		}
	}
	slices.Sort(users)
	// heavy: the heavier accounts' share of the streams, those of light
	// accounts on group tracks left out, so that a farm does not lower it
	// with its own streams. Leaving them out raises heavy, which can make
	// more tracks group tracks: repeat until none is added (the set only
	// grows; at most maxRounds rounds).
	all, theirs := 0, 0
	for _, c := range tracks {
		all += c.light + c.heavy
		theirs += c.heavy
	}
	if theirs == 0 {
		return nil, 0, false
	}
	group, left := map[model.TrackID]bool{}, 0 // left: light streams on group tracks, left out
	for range maxRounds {
		heavy = float64(theirs) / float64(all-left)
		added := 0
		for t, c := range tracks {
			expected := heavy * float64(c.light+c.heavy)
			if !group[t] && c.accounts >= opts.trackAccounts && expected >= opts.minExpected && float64(c.heavy) <= opts.heavyFactor*expected {
				group[t] = true
				left += c.light
				added++
			}
		}
		if added == 0 {
			break
		}
	}
	if heavy = float64(theirs) / float64(all-left); heavy < opts.minHeavy {
		return nil, heavy, false
	}
	for t := range tracks {
		if !group[t] {
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
		g := Group{MaxStreams: opts.maxStreams, Heavy: heavy}
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
			g.TrackStreams += tracks[t].light + tracks[t].heavy
			g.HeavyStreams += tracks[t].heavy
		}
		slices.SortFunc(g.Tracks, func(a, b model.TrackID) int {
			return cmp.Or(cmp.Compare(on[b], on[a]), cmp.Compare(a, b))
		})
		if float64(g.OnTracks) < opts.groupShare*float64(g.TrackStreams) {
			continue // the tracks' listeners are mostly others: popular, not promoted
		}
		out = append(out, g) // members are sorted, so g.Accounts is
	}
	slices.SortFunc(out, func(a, b Group) int { return cmp.Compare(a.Accounts[0], b.Accounts[0]) })
	return out, heavy, true
}

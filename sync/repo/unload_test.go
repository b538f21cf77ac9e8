package repo

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
)

// simLink is one direction of a connection: messages in order.
type simLink struct {
	from, to     *Repo
	fromID, toID PeerID
	q            [][]byte
}

// TestUnloadDuringLiveSessions runs a relay repository between two
// devices editing one playlist, over in-order links, the way sessions
// drive it (a received message is answered, a change is pushed to the
// other device), and tries to unload the relay's document at random
// points. Nothing prompts a message but the protocol itself, so a
// session that an unload left waiting shows as devices that never
// converge.
func TestUnloadDuringLiveSessions(t *testing.T) {
	for seed := range uint64(40) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { unloadSim(t, seed) })
	}
}

func unloadSim(t *testing.T, seed uint64) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 77))
	relay := openRepo(t, store.NewMemory(), 90)
	a := openRepo(t, store.NewMemory(), 91)
	b := openRepo(t, store.NewMemory(), 92)
	ha, err := a.CreatePlaylist(ctx, "alice", "Shared")
	if err != nil {
		t.Fatal(err)
	}
	id := ha.ID()
	for _, r := range []*Repo{relay, b} {
		if _, err := r.Ensure(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	links := map[[2]*Repo]*simLink{}
	link := func(from, to *Repo, fromID, toID PeerID) {
		links[[2]*Repo{from, to}] = &simLink{from: from, to: to, fromID: fromID, toID: toID}
	}
	link(a, relay, "A", "R")
	link(relay, a, "R", "A")
	link(b, relay, "B", "R")
	link(relay, b, "R", "B")
	send := func(from, to *Repo) {
		l := links[[2]*Repo{from, to}]
		m, ok, err := from.GenerateSyncMessage(ctx, l.toID, id)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			l.q = append(l.q, m)
		}
	}
	deliver := func(l *simLink) {
		m := l.q[0]
		l.q = l.q[1:]
		heads0 := sortHeads(mustGet(t, relay, id).Heads())
		if err := l.to.ReceiveSyncMessage(ctx, l.fromID, id, m); err != nil {
			t.Fatal(err)
		}
		send(l.to, l.from) // the answer
		if l.to == relay && !slices.Equal(heads0, sortHeads(mustGet(t, relay, id).Heads())) {
			for _, o := range []*Repo{a, b} { // the fan-out to the other follower
				if o != l.from {
					send(relay, o)
				}
			}
		}
	}
	edit := func(r *Repo, dev PeerID, n int) {
		h := mustGet(t, r, id)
		if err := h.Playlist(ctx, func(p *docs.Playlist) error {
			_, err := p.Add(docs.AtEnd(), "alice", model.TrackID(fmt.Sprintf("%s%d", dev, n)))
			return err
		}); err != nil {
			t.Fatal(err)
		}
		send(r, relay)
	}
	unloadRelay := func() {
		mustGet(t, relay, id).tryUnload(false)
	}
	send(a, relay)
	send(b, relay)
	order := []*simLink{links[[2]*Repo{a, relay}], links[[2]*Repo{relay, a}], links[[2]*Repo{b, relay}], links[[2]*Repo{relay, b}]}
	for step := range 400 {
		switch k := rng.IntN(10); {
		case k == 0 && step < 300:
			edit(a, "a", step)
		case k == 1 && step < 300:
			if !mustGet(t, b, id).Empty() {
				edit(b, "b", step)
			}
		case k <= 3:
			unloadRelay()
		default:
			l := order[rng.IntN(len(order))]
			if len(l.q) > 0 {
				deliver(l)
			}
		}
	}
	// Drain: only the protocol's own messages, no prompting.
	for range 1000 {
		progressed := false
		for _, l := range order {
			if len(l.q) > 0 {
				deliver(l)
				progressed = true
			}
		}
		if !progressed {
			break
		}
	}
	want := mustGet(t, a, id).Heads()
	for name, r := range map[string]*Repo{"relay": relay, "b": b} {
		if got := mustGet(t, r, id).Heads(); !slices.Equal(sortHeads(got), sortHeads(want)) {
			t.Fatalf("%s's heads %v, device a's %v: the sessions stopped before converging", name, got, want)
		}
	}
}

func sortHeads[H fmt.Stringer](hs []H) []string {
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = h.String()
	}
	slices.Sort(out)
	return out
}

// TestUnloadWaitsForExchange: the document budget does not unload a
// document in the middle of a sync exchange — after a message was
// received and before it is answered, or after a message was sent and
// before the answer came back and left nothing to say — so the exchange
// takes the same messages as without the budget; between exchanges
// (every session quiet at the current revision) it unloads, and a
// change of the document pins it again until its followers were told.
// Unloading mid-exchange (the old rule: only pending writes counted)
// resumed the session from the persisted shared heads, which know
// neither what was sent nor what the remote holds: a device's first
// sync took extra round trips.
func TestUnloadWaitsForExchange(t *testing.T) {
	ctx := context.Background()
	run := func(tryUnload bool) (msgs int, unloads []bool) {
		relay := openRepo(t, store.NewMemory(), 93)
		a := openRepo(t, store.NewMemory(), 94)
		b := openRepo(t, store.NewMemory(), 95)
		ha, err := a.CreatePlaylist(ctx, "alice", "Follow me")
		if err != nil {
			t.Fatal(err)
		}
		for i := range 20 {
			if err := addTrack(ctx, ha, fmt.Sprint("t", i)); err != nil {
				t.Fatal(err)
			}
		}
		id := ha.ID()
		syncUntilQuiet(t, a, relay, "A", "R", id)
		h := mustGet(t, relay, id)
		attempt := func() {
			if tryUnload {
				unloads = append(unloads, h.tryUnload(false))
			}
		}
		// Device b follows: request, answers, until both are quiet.
		if _, err := b.Ensure(ctx, id); err != nil {
			t.Fatal(err)
		}
		for range 20 {
			m, ok, err := b.GenerateSyncMessage(ctx, "R", id)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			msgs++
			if err := relay.ReceiveSyncMessage(ctx, "B", id, m); err != nil {
				t.Fatal(err)
			}
			attempt() // received, not answered
			m, ok, err = relay.GenerateSyncMessage(ctx, "B", id)
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			msgs++
			attempt() // sent, not answered
			if err := b.ReceiveSyncMessage(ctx, "R", id, m); err != nil {
				t.Fatal(err)
			}
		}
		if got, want := len(entries(t, mustGet(t, b, id))), 20; got != want {
			t.Fatalf("device b holds %d entries, want %d", got, want)
		}
		// The last message added nothing, so ReceiveSyncMessage did not
		// wait for its sync state's write; SyncState does (a pending
		// write pins the document too).
		if _, err := relay.SyncState(ctx, "B", id); err != nil {
			t.Fatal(err)
		}
		attempt() // every session quiet: unloads
		// A change from a: pinned until it is answered and b is told.
		if err := addTrack(ctx, ha, "late"); err != nil {
			t.Fatal(err)
		}
		m, ok, err := a.GenerateSyncMessage(ctx, "R", id)
		if err != nil || !ok {
			t.Fatalf("a's change: ok %v, %v", ok, err)
		}
		if err := relay.ReceiveSyncMessage(ctx, "A", id, m); err != nil {
			t.Fatal(err)
		}
		attempt()
		return msgs, unloads
	}
	base, _ := run(false)
	got, unloads := run(true)
	if got != base {
		t.Fatalf("first sync took %d messages with unload attempts mid-exchange, %d without", got, base)
	}
	n := len(unloads)
	for i, u := range unloads[:n-2] {
		if u {
			t.Fatalf("unload attempt %d of %d succeeded mid-exchange", i+1, n)
		}
	}
	if !unloads[n-2] {
		t.Fatal("the document was not unloaded once every session was quiet")
	}
	if unloads[n-1] {
		t.Fatal("the document was unloaded with a new change its follower was not told of")
	}
}

// TestPinnedDocumentsDoNotBlockUnloads: documents pinned by exchanges
// under way stay loaded past WithLoadedDocs, without keeping idle
// documents loaded behind them (a touch examines at most unloadScan
// documents and moves the pinned ones to the front); once their
// exchanges end the budget holds again.
func TestPinnedDocumentsDoNotBlockUnloads(t *testing.T) {
	ctx := context.Background()
	// More pinned documents than a touch examines, all within the bound
	// past which exchanges stop pinning (pinnedShare × budget).
	const budget, pinned = 3 * unloadScan, 2 * unloadScan
	r, err := Open(ctx, store.NewMemory(), testOptions(96).WithLoadedDocs(budget))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dev := openRepo(t, store.NewMemory(), 97)
	pins := pinnedByRequests(t, r, dev, pinned)
	var idle []*Handle
	for i := range 5 * budget {
		h, err := r.CreatePlaylist(ctx, "alice", fmt.Sprint("idle ", i))
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, h)
	}
	for _, id := range pins {
		h := mustGet(t, r, id)
		h.mu.Lock()
		loaded := h.doc != nil
		h.mu.Unlock()
		if !loaded {
			t.Fatalf("pinned document %s unloaded mid-exchange", id)
		}
	}
	if n, _ := r.Loaded(); n > budget+pinned+1 {
		t.Fatalf("%d documents loaded with %d pinned, budget %d: idle ones stayed behind the pinned", n, pinned, budget)
	}
	for _, h := range idle[:len(idle)-budget-unloadScan] {
		h.mu.Lock()
		loaded := h.doc != nil
		h.mu.Unlock()
		if loaded {
			t.Fatalf("idle document %s still loaded", h.ID())
		}
	}
	// The exchanges end: every pinned document unloads again.
	for _, id := range pins {
		syncUntilQuiet(t, r, dev, "R", "D", id)
		// A message without changes does not wait for its sync state's
		// write; this does.
		if _, err := r.SyncState(ctx, "D", id); err != nil {
			t.Fatal(err)
		}
	}
	for _, h := range idle {
		_ = h.Heads()
	}
	if n, _ := r.Loaded(); n > budget {
		t.Fatalf("%d documents loaded after the exchanges ended, budget %d", n, budget)
	}
}

// pinnedByRequests creates n playlists in r, each asked for by dev ("D")
// and not yet answered, so a sync exchange pins it; it returns their ids.
func pinnedByRequests(t *testing.T, r, dev *Repo, n int) []docs.DocumentID {
	t.Helper()
	ctx := context.Background()
	var pins []docs.DocumentID
	for i := range n {
		h, err := r.CreatePlaylist(ctx, "alice", fmt.Sprint("pinned ", i))
		if err != nil {
			t.Fatal(err)
		}
		pins = append(pins, h.ID())
		// The device asks for it; the relay has not answered yet.
		if _, err := dev.Ensure(ctx, h.ID()); err != nil {
			t.Fatal(err)
		}
		m, ok, err := dev.GenerateSyncMessage(ctx, "R", h.ID())
		if err != nil || !ok {
			t.Fatalf("request: ok %v, %v", ok, err)
		}
		if err := r.ReceiveSyncMessage(ctx, "D", h.ID(), m); err != nil {
			t.Fatal(err)
		}
	}
	return pins
}

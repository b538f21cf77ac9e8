// Package simnet is a deterministic simulated network for document sync:
// nodes (each a sync/repo.Repo) exchange automerge sync messages through a
// seeded scheduler that drops, duplicates and reorders messages,
// partitions and heals the network, and advances a fake clock. Identical
// seeds and node actions give identical runs.
//
// The transports Segue uses (WebSocket, libp2p streams) are reliable and
// ordered; loss on them shows up as a broken connection. So a dropped
// message here breaks its link: every other message in flight on it is
// lost too and both ends call Repo.PeerDisconnected before the link
// carries new messages, as a real reconnect does. Duplication and
// reordering act on individual messages, across and within links.
//
//	net := simnet.New(simnet.DefaultConfig(seed))
//	net.AddNode("a", repoA)
//	net.AddNode("b", repoB)
//	net.Partition([]simnet.NodeID{"a"}, []simnet.NodeID{"b"})
//	... edit on both sides, net.Round(ctx, ids) ...
//	net.Heal()
//	rounds, err := net.RunUntilQuiet(ctx, ids, 100)
package simnet

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/repo"
)

// ErrNotQuiet is returned by RunUntilQuiet when messages still flow after
// the round limit.
var ErrNotQuiet = errors.New("simnet: network did not quiesce")

// NodeID names a node; it is also the repo.PeerID others see it as.
type NodeID string

// Clock is a fake clock that only moves when Advance is called. Its Now
// method is safe for concurrent use and fits docs.Options.WithClock.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock reading start.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the current fake time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Config sets the fault probabilities (each in [0, 1]) and the seed.
type Config struct {
	Seed uint64
	// Drop is the probability that a message is lost, breaking its link.
	Drop float64
	// Duplicate is the probability that a delivered message is delivered
	// again in a later round.
	Duplicate float64
	// Reorder is the probability that a round's messages are delivered in
	// a random order instead of the order they were sent.
	Reorder float64
	// Tick is how far the clock advances per round.
	Tick time.Duration
}

// DefaultConfig returns a config with the given seed, 5% drops, 5%
// duplicates, reordering in half of the rounds, and a 50 ms tick.
func DefaultConfig(seed uint64) Config {
	return Config{Seed: seed, Drop: 0.05, Duplicate: 0.05, Reorder: 0.5, Tick: 50 * time.Millisecond}
}

// Stats counts what the network did.
type Stats struct {
	Sent, Delivered, Dropped, Duplicated int
	Bytes                                int // bytes of delivered messages
	Rounds                               int
}

type message struct {
	from, to NodeID
	doc      docs.DocumentID
	data     []byte
	session  int // link session the message belongs to
}

type link struct{ a, b NodeID }

func linkOf(x, y NodeID) link {
	if x > y {
		x, y = y, x
	}
	return link{x, y}
}

// Network is the simulated network. It is not safe for concurrent use:
// a simulation drives it from one goroutine.
type Network struct {
	cfg      Config
	rng      *rand.Rand
	clock    *Clock
	nodes    map[NodeID]*repo.Repo
	order    []NodeID
	group    map[NodeID]int // partition group; equal groups can talk
	sessions map[link]int   // bumped when a link breaks
	pending  []message      // duplicates waiting for a later round
	stats    Stats
}

// New returns an empty network with a fake clock starting at 2026-01-01.
func New(cfg Config) *Network {
	return &Network{
		cfg:      cfg,
		rng:      rand.New(rand.NewPCG(cfg.Seed, 0x5eed)),
		clock:    NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
		nodes:    map[NodeID]*repo.Repo{},
		group:    map[NodeID]int{},
		sessions: map[link]int{},
	}
}

// Clock returns the network's fake clock.
func (n *Network) Clock() *Clock { return n.clock }

// Rand returns the network's seeded generator, for simulations that pick
// their actions from the same seed.
func (n *Network) Rand() *rand.Rand { return n.rng }

// Stats returns the counters so far.
func (n *Network) Stats() Stats { return n.stats }

// AddNode attaches r as node id. Every node can reach every other until
// Partition is called.
func (n *Network) AddNode(id NodeID, r *repo.Repo) {
	if _, ok := n.nodes[id]; !ok {
		n.order = append(n.order, id)
	}
	n.nodes[id] = r
	n.group[id] = 0
}

// Partition splits the network: nodes in the same group can talk, others
// cannot; nodes not listed form one more group. Links that are cut break.
func (n *Network) Partition(groups ...[]NodeID) {
	for _, id := range n.order {
		n.group[id] = len(groups)
	}
	for g, ids := range groups {
		for _, id := range ids {
			n.group[id] = g
		}
	}
	for _, a := range n.order {
		for _, b := range n.order {
			if a < b && n.group[a] != n.group[b] {
				n.breakLink(a, b)
			}
		}
	}
}

// Heal reconnects every node to every other.
func (n *Network) Heal() {
	for _, id := range n.order {
		n.group[id] = 0
	}
}

func (n *Network) connected(a, b NodeID) bool { return n.group[a] == n.group[b] }

// breakLink ends the link's session: its messages in flight die and both
// ends forget their in-memory sync sessions with each other.
func (n *Network) breakLink(a, b NodeID) {
	n.sessions[linkOf(a, b)]++
	n.nodes[a].PeerDisconnected(repo.PeerID(b))
	n.nodes[b].PeerDisconnected(repo.PeerID(a))
}

// Round runs one step of the protocol for the given documents: every
// connected ordered pair of nodes generates its next message per
// document; the messages (plus duplicates held back from earlier rounds)
// are then delivered, dropped, duplicated or reordered per the config,
// and the clock advances by one tick. It returns how many messages were
// sent this round.
func (n *Network) Round(ctx context.Context, ids []docs.DocumentID) (int, error) {
	n.stats.Rounds++
	defer n.clock.Advance(n.cfg.Tick)
	var out []message
	for _, from := range n.order {
		for _, to := range n.order {
			if from == to || !n.connected(from, to) {
				continue
			}
			for _, id := range ids {
				if _, err := n.nodes[from].Ensure(ctx, id); err != nil {
					return 0, fmt.Errorf("simnet: ensure %s on %s: %w", id, from, err)
				}
				data, ok, err := n.nodes[from].GenerateSyncMessage(ctx, repo.PeerID(to), id)
				if err != nil {
					return 0, fmt.Errorf("simnet: generate %s→%s: %w", from, to, err)
				}
				if ok {
					out = append(out, message{from: from, to: to, doc: id, data: data, session: n.sessions[linkOf(from, to)]})
				}
			}
		}
	}
	sent := len(out)
	n.stats.Sent += sent
	queue := append(n.pending, out...)
	n.pending = nil
	if n.rng.Float64() < n.cfg.Reorder {
		n.rng.Shuffle(len(queue), func(i, j int) { queue[i], queue[j] = queue[j], queue[i] })
	}
	for _, m := range queue {
		l := linkOf(m.from, m.to)
		if m.session != n.sessions[l] || !n.connected(m.from, m.to) {
			n.stats.Dropped++ // died with its connection
			continue
		}
		if n.rng.Float64() < n.cfg.Drop {
			n.stats.Dropped++
			n.breakLink(m.from, m.to)
			continue
		}
		if err := n.nodes[m.to].ReceiveSyncMessage(ctx, repo.PeerID(m.from), m.doc, m.data); err != nil {
			return sent, fmt.Errorf("simnet: deliver %s→%s: %w", m.from, m.to, err)
		}
		n.stats.Delivered++
		n.stats.Bytes += len(m.data)
		if n.rng.Float64() < n.cfg.Duplicate {
			n.stats.Duplicated++
			n.pending = append(n.pending, m)
		}
	}
	return sent, nil
}

// RunUntilQuiet runs rounds until one sends no message and nothing is
// held back, or returns ErrNotQuiet after maxRounds. It returns the number
// of rounds run (including the quiet one).
func (n *Network) RunUntilQuiet(ctx context.Context, ids []docs.DocumentID, maxRounds int) (int, error) {
	for r := 1; r <= maxRounds; r++ {
		sent, err := n.Round(ctx, ids)
		if err != nil {
			return r, err
		}
		if sent == 0 && len(n.pending) == 0 {
			return r, nil
		}
	}
	return maxRounds, fmt.Errorf("%w after %d rounds", ErrNotQuiet, maxRounds)
}

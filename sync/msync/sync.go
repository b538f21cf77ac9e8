package msync

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/automerge/automerge-go"
	"github.com/segue-fm/segue/sync/wire"
)

// msgType is the first byte of a version 1 sync message, the only
// version automerge 0.5 reads.
const msgType = 0x42

// Message is a decoded sync message. Changes are the raw change chunks
// with their parsed headers (Raw aliases the decoded input); a message
// Generate builds gives their hashes only.
type Message struct {
	Heads, Need []automerge.ChangeHash
	Have        []Have
	Changes     []Change
	Raw         [][]byte
}

// DecodeMessage reads a version 1 sync message (type byte 0x42; bytes
// after the changes are ignored, as automerge does) with sync/wire's
// parser. Every change must be a valid change chunk header
// (ParseChange); its operations are not read.
func DecodeMessage(data []byte) (*Message, error) {
	if len(data) == 0 || data[0] != msgType {
		return nil, fmt.Errorf("%w: not a version 1 sync message", ErrMalformed)
	}
	w, err := wire.ParseSync(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	out := &Message{Heads: toHashes(w.Heads), Need: toHashes(w.Need), Raw: w.Changes}
	for _, h := range w.Have {
		b, err := DecodeBloom(h.Bloom)
		if err != nil {
			return nil, err
		}
		out.Have = append(out.Have, Have{LastSync: toHashes(h.LastSync), Bloom: b})
	}
	for _, raw := range w.Changes {
		c, err := ParseChange(raw)
		if err != nil {
			return nil, err
		}
		out.Changes = append(out.Changes, c)
	}
	return out, nil
}

func toHashes(hs [][32]byte) []automerge.ChangeHash {
	if len(hs) == 0 {
		return nil
	}
	out := make([]automerge.ChangeHash, len(hs))
	for i := range hs {
		out[i] = hs[i]
	}
	return out
}

// Encode returns the message in automerge's version 1 encoding (the
// bytes wire.SyncMessage.Encode writes for the same fields), in one new
// slice owned by the caller.
func (m *Message) Encode() []byte {
	n := 1 + 3*binary.MaxVarintLen64 + 32*(len(m.Heads)+len(m.Need))
	for _, h := range m.Have {
		n += binary.MaxVarintLen64 + 32*len(h.LastSync) + h.Bloom.encodedLen()
	}
	for _, c := range m.Raw {
		n += binary.MaxVarintLen64 + len(c)
	}
	b := make([]byte, 0, n)
	b = append(b, msgType)
	b = appendHashes(b, m.Heads)
	b = appendHashes(b, m.Need)
	b = binary.AppendUvarint(b, uint64(len(m.Have)))
	for _, h := range m.Have {
		b = appendHashes(b, h.LastSync)
		b = h.Bloom.appendTo(b)
	}
	b = binary.AppendUvarint(b, uint64(len(m.Raw)))
	for _, c := range m.Raw {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	return b
}

// size is the exact length of Encode's result.
func (m *Message) size() int {
	n := 1 + hashesSize(m.Heads) + hashesSize(m.Need) + uvarintLen(uint64(len(m.Have)))
	for _, h := range m.Have {
		n += hashesSize(h.LastSync) + h.Bloom.size()
	}
	n += uvarintLen(uint64(len(m.Raw)))
	for _, c := range m.Raw {
		n += uvarintLen(uint64(len(c))) + len(c)
	}
	return n
}

func hashesSize(hs []automerge.ChangeHash) int { return uvarintLen(uint64(len(hs))) + 32*len(hs) }

// Generate is GenerateWithin(g, s, wire.MaxSyncData): every message fits
// one frame with its envelope.
func Generate(g *Graph, s *State) (*Message, error) {
	return GenerateWithin(g, s, wire.MaxSyncData)
}

// GenerateWithin is automerge's generate_sync_message: the next message
// to send to the peer of s about the document g indexes, or nil when
// there is nothing to send (in sync, or waiting for the peer's reply).
// It updates s as automerge does, with three departures. When g knows
// all the peer's heads, a change the peer's Bloom filter may contain is
// sent anyway unless it is one of those heads or an ancestor of one, so
// a false positive does not withhold a change the peer lacks; and the
// answer to needs the peer sent without a filter brings the ancestors of
// the needed changes it lacks (see changesToSend). And the message's encoding is at most max bytes: the
// changes to send that do not fit after the first ones (in history
// order, dependencies first) are left out and not recorded as sent, so
// the peer's answer — its heads now include the changes sent, its need
// and filter name the rest — brings them in the next message: a history
// of n bytes reaches a peer in about n/max round trips. A message that
// cannot fit even so — its heads, needs and filter alone, or with its
// first change, are over max — is not generated: the error wraps
// wire.ErrSyncTooLarge and s is left as it was. The message's hash
// slices are shared with g and s (see State) and its Raw with g: it is
// to be encoded, not modified. Its Changes give each change's Hash only
// (the chunk in Raw holds the rest of its header). It fails, leaving s
// as it was, too when what it reads of g's spill — a chunk to send, a
// walk into the cold prefix — cannot be read back (ErrSpillRead).
func GenerateWithin(g *Graph, s *State, max int) (*Message, error) {
	ourHeads := g.Heads()
	if s.settled(ourHeads) {
		return nil, nil
	}
	ourNeed := g.missingDeps(s.TheirHeads)
	var ourHave []Have
	if allIn(ourNeed, s.TheirHeads) {
		h, err := g.haveSince(s.SharedHeads)
		if err != nil {
			return nil, fmt.Errorf("msync: generate: %w", err)
		}
		ourHave = []Have{h}
	}
	if s.HasTheirHave && len(s.TheirHave) > 0 {
		for _, h := range s.TheirHave[0].LastSync {
			if !g.Has(h) {
				// The peer's last sync point is unknown here: ask it to
				// start over.
				m := &Message{Heads: ourHeads, Have: []Have{{}}}
				if n := m.size(); n > max {
					return nil, fmt.Errorf("msync: generate: %w: %d bytes of heads, limit %d", wire.ErrSyncTooLarge, n, max)
				}
				return m, nil
			}
		}
	}
	var toSend []int32
	var changes []Change
	if s.HasTheirHave && s.HasTheirNeed {
		var err error
		if toSend, err = g.changesToSend(s.TheirHave, s.TheirNeed, s.TheirHeads); err != nil {
			return nil, fmt.Errorf("msync: generate: %w", err)
		}
		kept := toSend[:0]
		for _, p := range toSend {
			h, err := g.hashAt(p)
			if err != nil {
				return nil, fmt.Errorf("msync: generate: %w", err)
			}
			if _, sent := s.SentHashes[h]; !sent {
				kept, changes = append(kept, p), append(changes, Change{Hash: h})
			}
		}
		toSend = kept
	}
	headsUnchanged := equalHashes(s.LastSentHeads, ourHeads)
	headsEqual := s.HasTheirHeads && equalHashes(s.TheirHeads, ourHeads)
	if headsUnchanged && (headsEqual && len(toSend) == 0 || s.InFlight) {
		return nil, nil
	}
	m := &Message{Heads: ourHeads, Need: ourNeed, Have: ourHave}
	size := m.size()
	if size > max {
		return nil, fmt.Errorf("msync: generate: %w: %d bytes of heads, needs and filter, limit %d", wire.ErrSyncTooLarge, size, max)
	}
	if len(toSend) > 0 {
		m.Raw = make([][]byte, 0, len(toSend))
	}
	for _, p := range toSend {
		raw, err := g.chunk(p)
		if err != nil {
			return nil, fmt.Errorf("msync: generate: %w", err)
		}
		n := len(m.Raw)
		add := uvarintLen(uint64(len(raw))) + len(raw) + uvarintLen(uint64(n+1)) - uvarintLen(uint64(n))
		if size+add > max {
			if n == 0 {
				return nil, fmt.Errorf("msync: generate: %w: a change of %d bytes after %d bytes of heads, needs and filter, limit %d", wire.ErrSyncTooLarge, len(raw), size, max)
			}
			// Left for the peer's answer to ask for again.
			break
		}
		size += add
		m.Raw = append(m.Raw, raw)
	}
	if len(m.Raw) > 0 {
		m.Changes = changes[:len(m.Raw)]
	}
	if len(m.Raw) > 0 && s.SentHashes == nil {
		s.SentHashes = make(map[automerge.ChangeHash]struct{}, len(m.Raw))
	}
	for _, c := range m.Changes {
		s.SentHashes[c.Hash] = struct{}{}
	}
	s.LastSentHeads = ourHeads
	s.InFlight = true
	return m, nil
}

// settled reports, without walking g, that Generate has nothing to
// send: the peer's last message (an acknowledgement, typically) gave
// heads equal to ours, which we already sent, asked for nothing, and
// built its one filter since our heads, so no change of ours is outside
// it and the full computation would end with nothing to say.
func (s *State) settled(ourHeads []automerge.ChangeHash) bool {
	return s.HasTheirHeads && s.HasTheirNeed && s.HasTheirHave &&
		len(s.TheirNeed) == 0 && len(s.TheirHave) == 1 &&
		equalHashes(s.LastSentHeads, ourHeads) &&
		equalHashes(s.TheirHeads, ourHeads) &&
		equalHashes(s.TheirHave[0].LastSync, ourHeads)
}

// allIn reports whether every hash of need is in set.
func allIn(need, set []automerge.ChangeHash) bool {
	for _, h := range need {
		if !slices.Contains(set, h) {
			return false
		}
	}
	return true
}

// haveSince is automerge's make_bloom_filter. The filter is memoised
// with since's answer (followers one change behind all ask for the same
// one); a Bloom is never modified once built, so messages share it.
func (g *Graph) haveSince(lastSync []automerge.ChangeHash) (Have, error) {
	ns, err := g.since(lastSync)
	if err != nil {
		return Have{}, err
	}
	m := g.memoFor(lastSync)
	if m != nil && m.hasBloom {
		return Have{LastSync: lastSync, Bloom: m.bloom}, nil
	}
	hs := make([]automerge.ChangeHash, len(ns))
	for i, p := range ns {
		if hs[i], err = g.hashAt(p); err != nil {
			return Have{}, err
		}
	}
	b := NewBloom(hs)
	if m != nil {
		m.bloom, m.hasBloom = b, true
	}
	return Have{LastSync: lastSync, Bloom: b}, nil
}

// changesToSend is automerge's get_changes_to_send with one departure.
// automerge skips every change since the peer's last sync point that one
// of its Bloom filters may contain, unless a dependency is sent, so a
// false positive (≈ 1 % per change) can withhold a change the peer lacks
// while its dependents go out; an automerge peer waiting for its own
// change to be acknowledged then waits for good (TestFalsePositiveSent).
// Here, when g knows every one of the peer's heads (theirHeads, from the
// message that brought have), a Bloom hit counts only if the change is
// one of those heads or an ancestor of one: the peer holds exactly these,
// so every change it lacks is sent. When some head is unknown (the peer
// has changes g lacks: a session's first message after it edited, or a
// change g queued), which of g's changes lie below it cannot be told, and
// automerge's rule is kept: sending every hit would resend all the
// peer holds since its last sync point (the whole history on a fresh
// sync state), while the message's Need asks for the unknown heads and
// the next message, with them known, sends what a false positive
// withheld (it was never sent, so SentHashes does not hold it back).
//
// A second departure is for a message with needs and no filter: the
// peer holds changes it cannot place (a Need outside our heads, so
// automerge's peer sends no Have). automerge sends the needed changes
// alone; the peer, placing none of them, then asks for their missing
// dependencies, one generation a round trip — a chain of n changes
// GenerateWithin left out for the limit takes n round trips. When g
// knows every one of the peer's heads, the needed changes go first, as
// automerge sends them, and after them the needed changes' ancestors
// that are not below those heads (the peer lacks them), dependencies
// first (TestGenerateWithin, device edits).
//
// The result is g's scratch, valid until the next call. It fails only
// when a change to visit is cold and cannot be read back (ErrSpillRead).
func (g *Graph) changesToSend(have []Have, need, theirHeads []automerge.ChangeHash) ([]int32, error) {
	out := g.toSend[:0]
	defer func() { g.toSend = out[:0] }()
	if len(have) == 0 && len(need) > 0 && g.hasAll(theirHeads) {
		var err error
		out, err = g.neededWithAncestors(out, need, theirHeads)
		return out, err
	}
	if len(have) == 0 {
		for _, h := range need {
			if p := g.pos(&h); p >= 0 {
				out = append(out, p)
			}
		}
		return out, nil
	}
	lastSync := have[0].LastSync
	if len(have) > 1 {
		lastSync = nil
		for _, h := range have {
			for _, l := range h.LastSync {
				if !slices.Contains(lastSync, l) {
					lastSync = append(lastSync, l)
				}
			}
		}
	}
	changes, err := g.since(lastSync)
	if err != nil {
		return nil, err
	}
	// A change is sent when no filter has it or, when exact, when it is
	// not below the peer's heads (held marks those, walked at the first
	// Bloom hit), or when it depends on a change that is sent
	// (automerge's closure over dependents). changes are in history
	// order, dependencies first, so one pass decides. The three epochs
	// are taken at once: send's marks must outlive markHeld's walk.
	send := g.epochs(3)
	exact := g.hasAll(theirHeads)
	var held uint32
	// win holds the marks of the changes from lo on: changes are in
	// history order, and one before them is never marked here.
	lo, win := g.window(changes)
	for _, p := range changes {
		n, err := g.nodeAt(p)
		if err != nil {
			return nil, err
		}
		hit := false
		for i := range have {
			if have[i].Bloom.Contains(&n.hash) {
				hit = true
				break
			}
		}
		if hit && exact && held == 0 {
			if held, err = g.markHeld(changes, theirHeads, send+2); err != nil {
				return nil, err
			}
		}
		mk := &win[p-lo]
		if !hit || exact && mk.seen != held {
			mk.send = send
			continue
		}
		deps, err := g.depsAt(p)
		if err != nil {
			return nil, err
		}
		for _, d := range deps {
			if d >= lo && win[d-lo].send == send {
				mk.send = send
				break
			}
		}
	}
	for _, h := range need {
		if p := g.pos(&h); p >= 0 && (p < lo || len(win) == 0 || win[p-lo].send != send) {
			out = append(out, p)
		}
	}
	for _, p := range changes {
		if win[p-lo].send == send {
			out = append(out, p)
		}
	}
	return out, nil
}

// neededWithAncestors appends to out the changes of need that g holds,
// in need's order (automerge's answer), then every other ancestor of one
// of them that is not one of theirHeads or an ancestor of one (all of
// theirHeads are in g), in history order. The walk stays inside
// since(theirHeads).
func (g *Graph) neededWithAncestors(out []int32, need, theirHeads []automerge.ChangeHash) ([]int32, error) {
	region, err := g.since(theirHeads)
	if err != nil {
		return out, err
	}
	held := g.epochs(2) + 1
	if held, err = g.markHeld(region, need, held); err != nil {
		return out, err
	}
	lo, win := g.window(region)
	for _, h := range need {
		if p := g.pos(&h); p >= 0 {
			out = append(out, p)
			if p >= lo && len(win) > 0 {
				win[p-lo].seen = held - 1 // sent already
			}
		}
	}
	for _, p := range region {
		if win[p-lo].seen == held {
			out = append(out, p)
		}
	}
	return out, nil
}

// window returns the marks of g's changes from region's first on (lo),
// where region, in history order, is marked; nil for an empty region.
func (g *Graph) window(region []int32) (lo int32, win []mark) {
	if len(region) == 0 {
		return 0, nil
	}
	return region[0], g.marks.span(region[0], g.Len())
}

// hasAll reports whether g holds every change of hs.
func (g *Graph) hasAll(hs []automerge.ChangeHash) bool {
	for _, h := range hs {
		if !g.Has(h) {
			return false
		}
	}
	return true
}

// markHeld marks every change of region that is one of heads or an
// ancestor of one, with epoch held (in mark.seen), using epoch held-1 for
// the region itself; the caller takes both (Graph.epochs). region is
// since(lastSync) for some lastSync, so an ancestor of a change outside
// it is outside it too: the walk stays inside region and costs at most
// len(region) steps, whatever the document's history. It returns held,
// and fails only when a change to visit is cold and cannot be read back
// (ErrSpillRead).
func (g *Graph) markHeld(region []int32, heads []automerge.ChangeHash, held uint32) (uint32, error) {
	in := held - 1
	if len(region) == 0 {
		return held, nil
	}
	// Only changes of region, from lo on, are marked in.
	lo := region[0]
	win := g.marks.span(lo, g.Len())
	for _, p := range region {
		win[p-lo].seen = in
	}
	stack := g.walk[:0]
	for _, h := range heads {
		if p := g.pos(&h); p >= lo && win[p-lo].seen == in {
			win[p-lo].seen = held
			stack = append(stack, p)
		}
	}
	for len(stack) > 0 {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		deps, err := g.depsAt(p)
		if err != nil {
			g.walk = stack[:0]
			return 0, err
		}
		for _, d := range deps {
			if d >= lo && win[d-lo].seen == in {
				win[d-lo].seen = held
				stack = append(stack, d)
			}
		}
	}
	g.walk = stack[:0]
	return held, nil
}

// Receive is automerge's receive_sync_message: it applies m's changes
// with apply (which must apply them to the document and bring g up to
// date: Add for each change the document applied, Queue for each it
// queued) and updates s from m. An error from apply is returned as is,
// and s is left as it was. A walk of g that cannot read a cold change
// back (ErrSpillRead) fails the call after s is updated, its SentHashes
// possibly holding changes the peer has (they are not sent again). s
// keeps m's slices (see State): m must not be modified afterwards.
func Receive(g *Graph, s *State, m *Message, apply func(m *Message) error) error {
	before := g.Heads()
	if len(m.Changes) > 0 {
		if err := apply(m); err != nil {
			return err
		}
		s.SharedHeads = advanceHeads(before, g.Heads(), s.SharedHeads)
	}
	// filter_changes: the peer holds what its heads descend from. A
	// failed walk leaves in SentHashes changes the peer holds: they are
	// not sent again, which is right, and the error is returned once s
	// is brought up to date.
	walkErr := g.removeAncestors(s.SentHashes, m.Heads)
	if len(m.Changes) == 0 && equalHashes(m.Heads, before) {
		s.LastSentHeads = m.Heads
	}
	if len(s.SentHashes) == 0 {
		s.InFlight = false
	}
	known := 0
	for _, h := range m.Heads {
		if g.Has(h) {
			known++
		}
	}
	if known == len(m.Heads) {
		s.SharedHeads = m.Heads
		s.InFlight = false
		if len(m.Heads) == 0 {
			s.LastSentHeads = nil
			s.SentHashes = nil
		}
	} else {
		shared := slices.Clone(s.SharedHeads)
		for _, h := range m.Heads {
			if g.Has(h) && !slices.Contains(shared, h) {
				shared = append(shared, h)
			}
		}
		sortHashes(shared)
		s.SharedHeads = slices.Compact(shared)
	}
	s.TheirHave, s.HasTheirHave = m.Have, true
	s.TheirHeads, s.HasTheirHeads = m.Heads, true
	s.TheirNeed, s.HasTheirNeed = m.Need, true
	if walkErr != nil {
		return fmt.Errorf("msync: receive: %w", walkErr)
	}
	return nil
}

// advanceHeads is automerge's advance_heads: the new heads that were not
// heads before, plus the old shared heads that are still heads, sorted
// and deduplicated.
func advanceHeads(oldHeads, newHeads, oldShared []automerge.ChangeHash) []automerge.ChangeHash {
	var out []automerge.ChangeHash
	for _, h := range newHeads {
		if !slices.Contains(oldHeads, h) {
			out = append(out, h)
		}
	}
	for _, h := range oldShared {
		if slices.Contains(newHeads, h) && !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	sortHashes(out)
	return out
}

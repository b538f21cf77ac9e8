package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/msync"
)

// maxPremade caps the changes a -replay run pre-makes in total: each is
// kept as its chunk (≈ 300 B), its parsed header and its entry's
// position, ≈ 450 B with the slices' overhead, so the cap holds the
// generator's pre-made changes near 450 MiB (a run of 5,000 edits/s for
// 200 s).
const maxPremade = 1_000_000

// errTooManyPremade is returned when a -replay run would pre-make more
// than maxPremade changes.
var errTooManyPremade = errors.New("replay: too many changes to pre-make")

// premade is one change a device pre-made for -replay: its chunk (the
// bytes automerge saved, owned by the premade and shared read-only with
// the graph and the ledger), its parsed header and its entry's position.
type premade struct {
	c   msync.Change
	raw []byte
	pos string
}

// premadeEdit is one change to pre-make: the actor that makes it (""
// keeps the document's), its author and the track it adds.
type premadeEdit struct {
	actor string
	by    model.UserID
	track model.TrackID
}

// premake makes edits on am one after the other, each the change
// appendEntry makes (the entry at the end, after the previous one; the
// first after position last) at now's time with rnd's bytes, and
// returns their chunks. Each change depends on the one before it; the
// first on am's heads. am keeps the changes, with the last edit's actor.
func premake(am *automerge.Doc, last string, edits []premadeEdit, now func() time.Time, rnd io.Reader, made *atomic.Int64) ([]premade, error) {
	out := make([]premade, 0, len(edits))
	for _, e := range edits {
		if e.actor != "" {
			if err := am.SetActorID(e.actor); err != nil {
				return nil, fmt.Errorf("pre-make: set actor: %w", err)
			}
		}
		pos, err := appendEntry(am, last, e.by, e.track, now(), rnd)
		if err != nil {
			return nil, fmt.Errorf("pre-make: %w", err)
		}
		heads := am.Heads()
		if len(heads) != 1 {
			return nil, fmt.Errorf("pre-make: %d heads after a local commit", len(heads))
		}
		ch, err := am.Change(heads[0])
		if err != nil {
			return nil, fmt.Errorf("pre-make: read own change: %w", err)
		}
		raw := ch.Save()
		automerge.CloseChanges([]*automerge.Change{ch})
		c, err := msync.ParseChange(raw)
		if err != nil {
			return nil, fmt.Errorf("pre-make: parse own change: %w", err)
		}
		out = append(out, premade{c: c, raw: raw, pos: pos})
		last = pos
		made.Add(1)
	}
	return out, nil
}

// replayTrackPrefix is the prefix of the tracks device n pre-makes: the
// k-th change it pre-makes on a document adds track prefix+k.
func replayTrackPrefix(n int) string { return "r" + strconv.Itoa(n) + "-" }

// checkPremadeCap returns errTooManyPremade when a run of n edits would
// pre-make more than maxPremade changes.
func checkPremadeCap(n int) error {
	if n > maxPremade {
		return fmt.Errorf("%w: the run schedules %d edits, the cap is %d (≈ 450 B each): lower -rate × -duration", errTooManyPremade, n, maxPremade)
	}
	return nil
}

// premakeAll pre-makes the changes of plan, document by document, and
// then closes every automerge document of every device: from here on a
// device's replicas are change graphs only. It prints its progress to
// stderr every second.
func premakeAll(devs []*device, plan []slot) error {
	if err := checkPremadeCap(len(plan)); err != nil {
		return err
	}
	var order []docs.DocumentID
	editors := map[docs.DocumentID][]*device{}
	for _, s := range plan {
		if editors[s.id] == nil {
			order = append(order, s.id)
		}
		editors[s.id] = append(editors[s.id], s.d)
	}
	var made atomic.Int64
	done := make(chan struct{})
	defer close(done)
	start := time.Now()
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				fmt.Fprintf(os.Stderr, "synccap: pre-made %d of %d changes (%s)\n", made.Load(), len(plan), time.Since(start).Round(time.Second))
			}
		}
	}()
	for _, id := range order {
		if err := premakeDoc(id, editors[id], &made); err != nil {
			return err
		}
	}
	for _, d := range devs {
		d.closeForReplay()
	}
	fmt.Fprintf(os.Stderr, "synccap: pre-made %d changes in %s\n", made.Load(), time.Since(start).Round(time.Millisecond))
	return nil
}

// premakeDoc pre-makes document id's scheduled edits, by editors in
// schedule order, as one history: each change depends on the edit
// scheduled before it on the document (whoever makes it), as the
// change of a device that received every earlier edit does, so the
// document keeps one head. They are made on the first editor's
// replica, each with its editor's actor, and each editor gets its own.
func premakeDoc(id docs.DocumentID, editors []*device, made *atomic.Int64) error {
	actors := map[*device]string{}
	bases := map[*device][]automerge.ChangeHash{}
	for _, e := range editors {
		if _, ok := actors[e]; ok {
			continue
		}
		e.mu.Lock()
		dd := e.docs[id]
		if dd == nil || dd.am == nil {
			e.mu.Unlock()
			return fmt.Errorf("pre-make: %s holds no document %s to edit", e.user, id)
		}
		actors[e], bases[e] = dd.am.ActorID(), slices.Clone(dd.g.Heads())
		e.mu.Unlock()
	}
	counts := map[*device]int{}
	edits := make([]premadeEdit, len(editors))
	for i, e := range editors {
		edits[i] = premadeEdit{actor: actors[e], by: e.user, track: model.TrackID(replayTrackPrefix(e.n) + strconv.Itoa(counts[e]))}
		counts[e]++
	}
	lead := editors[0]
	lead.mu.Lock()
	ldd := lead.docs[id]
	err := ldd.catchUp()
	var pre []premade
	if err == nil {
		pre, err = premake(ldd.am, ldd.last, edits, time.Now, rand.Reader, made)
	}
	lead.mu.Unlock()
	if err != nil {
		return fmt.Errorf("%s: %w", id, err)
	}
	seq := make(map[automerge.ChangeHash]int, len(pre))
	own := map[*device][]premade{}
	for i, p := range pre {
		seq[p.c.Hash] = i
		own[editors[i]] = append(own[editors[i]], p)
	}
	for e, ps := range own {
		e.mu.Lock()
		dd := e.docs[id]
		dd.pre, dd.base, dd.preSeq = ps, bases[e], seq
		e.mu.Unlock()
	}
	return nil
}

// closeForReplay closes every automerge document of d (a document it
// edits without pre-made changes keeps its heads as its base) and makes
// d send pre-made changes.
func (d *device) closeForReplay() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, dd := range d.docs {
		if dd.am == nil {
			continue
		}
		if dd.base == nil {
			dd.base = slices.Clone(dd.g.Heads())
		}
		dd.am.Close()
		dd.am, dd.unapplied = nil, nil
	}
	d.replay = true
}

// depsWait returns nil when dd's next pre-made change may be sent (its
// dependencies are in the graph, or none is left), else a channel
// closed when the graph next gains changes. Caller holds d.mu.
func (dd *doc) depsWait() <-chan struct{} {
	if dd.sent == len(dd.pre) {
		return nil
	}
	for _, h := range dd.pre[dd.sent].c.Deps {
		if !dd.g.Has(h) {
			if dd.arrived == nil {
				dd.arrived = make(chan struct{})
			}
			return dd.arrived
		}
	}
	return nil
}

// nextPremade adds dd's next pre-made change to its graph and returns
// it. Caller holds d.mu.
func (dd *doc) nextPremade() (premade, error) {
	if dd.sent == len(dd.pre) {
		return premade{}, fmt.Errorf("replay: all %d pre-made changes of %s sent", len(dd.pre), dd.id)
	}
	p := dd.pre[dd.sent]
	dd.sent++
	dd.g.Add(p.c, p.raw)
	return p, nil
}

// lastPremadeIn returns the largest place in the document's pre-made
// history of a change among heads and got (-1 for none): the relay
// holds that change and, as each pre-made change depends on the one
// before, every earlier one. Caller holds d.mu.
func (dd *doc) lastPremadeIn(heads, got []automerge.ChangeHash) int {
	top := -1
	if len(dd.preSeq) == 0 {
		return top
	}
	for _, hs := range [][]automerge.ChangeHash{heads, got} {
		for _, h := range hs {
			if k, ok := dd.preSeq[h]; ok {
				top = max(top, k)
			}
		}
	}
	return top
}

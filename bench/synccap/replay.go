package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
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

// premake makes n changes on am one after the other, each the change
// appendEntry makes (the entry at the end, after the previous one; the
// first after position last), adding tracks prefix+"0", prefix+"1", …
// by user by at now's times with rnd's bytes, and returns their chunks.
// Each change depends on the one before it; the first on am's heads.
// am keeps the changes.
func premake(am *automerge.Doc, last string, by model.UserID, prefix string, n int, now func() time.Time, rnd io.Reader, made *atomic.Int64) ([]premade, error) {
	out := make([]premade, 0, n)
	for k := range n {
		pos, err := appendEntry(am, last, by, model.TrackID(prefix+strconv.Itoa(k)), now(), rnd)
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

// replayTrackPrefix is the prefix of the tracks device n pre-makes.
func replayTrackPrefix(n int) string { return "r" + strconv.Itoa(n) + "-" }

// premakeAll pre-makes on every device the changes plan schedules for
// it, document by document, and then closes every automerge document of
// every device: from here on a device's replicas are change graphs only.
// It prints its progress to stderr every second.
func premakeAll(devs []*device, plan []slot) error {
	if len(plan) > maxPremade {
		return fmt.Errorf("%w: the run schedules %d edits, the cap is %d (≈ 450 B each): lower -rate × -duration", errTooManyPremade, len(plan), maxPremade)
	}
	count := map[*device]map[docs.DocumentID]int{}
	for _, s := range plan {
		if count[s.d] == nil {
			count[s.d] = map[docs.DocumentID]int{}
		}
		count[s.d][s.id]++
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
	for _, d := range devs {
		if err := d.premake(count[d], &made); err != nil {
			return err
		}
	}
	fmt.Fprintf(os.Stderr, "synccap: pre-made %d changes in %s\n", made.Load(), time.Since(start).Round(time.Millisecond))
	return nil
}

// premake makes count[id] changes on each of d's documents that holds an
// automerge document (those it edits), records them with the graph's
// heads they fork from, and closes every automerge document of d.
func (d *device) premake(count map[docs.DocumentID]int, made *atomic.Int64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, dd := range d.docs {
		if dd.am == nil {
			continue
		}
		if err := dd.catchUp(); err != nil {
			return err
		}
		pre, err := premake(dd.am, dd.last, d.user, replayTrackPrefix(d.n), count[id], time.Now, rand.Reader, made)
		if err != nil {
			return fmt.Errorf("%s: %w", d.user, err)
		}
		dd.pre, dd.base = pre, append([]automerge.ChangeHash(nil), dd.g.Heads()...)
		dd.preSeq = make(map[automerge.ChangeHash]int, len(pre))
		for k, p := range pre {
			dd.preSeq[p.c.Hash] = k
		}
		dd.am.Close()
		dd.am, dd.unapplied = nil, nil
	}
	d.replay = true
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

// lastPremadeIn returns the largest place in dd.pre of a change among
// heads and got (-1 for none): the relay holds that change and, as each
// pre-made change depends on the one before, every earlier one. Caller
// holds d.mu.
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

package docs

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/automerge/automerge-go"
)

// This file keeps the ACL check as it was before it read the changes'
// operations: it applied them to two forks of the document and looked
// at the ACL fields' values. It is the oracle of TestACLCheckDifferential.

// forkCheckACLUntouched returns nil when the changes, applied to current,
// touch none of ACLFields; otherwise an *ACLChangeError naming the field
// (it matches ErrACLChange). current is not modified (the checks run on forks).
//
// automerge-go exposes neither a change's operations nor a key's
// conflict set, so the check observes the changes' effect on two forks
// of current:
//
//   - a plain fork with the changes applied: any difference in the
//     visible value of an ACL field (collaborators compared deeply) is
//     a touch — this catches deletions and value changes;
//   - a probe fork in which owner, public and type were first deleted,
//     and every key of the collaborators map deleted and a marker key
//     put in it: a deletion removes only the operations it saw, so any
//     value or key visible after the changes are applied was put by
//     them — a put of owner, public or type, or inside collaborators,
//     even one that writes the value already there or that loses a
//     concurrent conflict — and a visible collaborators map without the
//     marker is a new map the changes put there.
//
// A change whose dependencies are neither in current nor in changes
// returns ErrMissingDeps: Automerge would hold it back and apply it
// later without a check. (sync/repo passes only changes whose
// dependencies are met and holds the others back until they are, so
// this is a safety net there.) What is not detected: an operation that leaves
// no visible trace in either fork (a deletion of an operation that was
// already overwritten, a text splice inside a text-valued owner that
// restores the same string, a new collaborators map that loses the
// conflict with the existing one and so stays invisible); by
// construction such an operation changes no field that access is
// decided on. Cost: two forks of current (each about as costly as
// saving it), so callers run it only for writers who may not manage.
func forkCheckACLUntouched(current *automerge.Doc, changes []*automerge.Change) error {
	var c forkACLCheck
	return c.Check(current, changes)
}

// forkACLCheck is forkCheckACLUntouched that keeps its two forks between calls
// for one document, so a check costs in proportion to the changes, not
// to the document: forking a 10,000-entry playlist costs about as much
// as saving it, twice per collaborator's message. The forks are brought
// up to the current document's heads with the changes since (automerge
// finds those in proportion to their number), and the probe fork's
// deletions are re-applied after them. A refused check discards the
// forks (they hold the refused changes); the next check forks again. An
// accepted check leaves them holding the changes, which is right once
// they are applied to the document; if they are not, the next check
// notices the heads differ and forks again. The zero value is ready to
// use. An forkACLCheck is not safe for concurrent use; it must only ever be
// used with one document, and holds two copies of it in memory until
// Reset.
type forkACLCheck struct {
	plain, probe *automerge.Doc
	// heads are the document's heads the forks reflect (before the
	// probe's own deletions).
	heads []automerge.ChangeHash
	forks int // times the forks were made anew (tests)
}

// Reset drops the forks and frees their automerge memory.
func (c *forkACLCheck) Reset() {
	if c.plain != nil {
		c.plain.Close()
	}
	if c.probe != nil {
		c.probe.Close()
	}
	c.plain, c.probe, c.heads = nil, nil, nil
}

// Check is forkCheckACLUntouched with c's forks.
func (c *forkACLCheck) Check(current *automerge.Doc, changes []*automerge.Change) error {
	if len(changes) == 0 {
		return nil
	}
	hadMap := false
	if v, err := current.RootMap().Get("collaborators"); err == nil && v.Kind() == automerge.KindMap {
		hadMap = true
	}
	if err := c.catchUp(current, hadMap); err != nil {
		c.Reset()
		return err
	}
	err := c.check(current, changes, hadMap)
	if err != nil {
		c.Reset()
		return err
	}
	c.heads = c.plain.Heads()
	return nil
}

// catchUp brings the forks to current's heads: forks anew when there are
// none or current does not descend from them, else applies the changes
// since to both and repeats the probe's deletions.
func (c *forkACLCheck) catchUp(current *automerge.Doc, hadMap bool) error {
	heads := current.Heads()
	if c.plain != nil && slices.Equal(heads, c.heads) {
		return nil
	}
	if c.plain != nil {
		since, err := current.Changes(c.heads...)
		defer automerge.CloseChanges(since)
		if err == nil && len(since) > 0 {
			if err := c.plain.Apply(since...); err != nil {
				return fmt.Errorf("acl check: catch up: %w", err)
			}
			if err := c.probe.Apply(since...); err != nil {
				return fmt.Errorf("acl check: catch up: %w", err)
			}
			if slices.Equal(c.plain.Heads(), heads) {
				c.heads = heads
				return commitProbe(c.probe, hadMap)
			}
		}
	}
	c.Reset()
	plain, err := current.Fork()
	if err != nil {
		return fmt.Errorf("acl check: fork: %w", err)
	}
	probe, err := current.Fork()
	if err != nil {
		plain.Close()
		return fmt.Errorf("acl check: fork: %w", err)
	}
	if err := commitProbe(probe, hadMap); err != nil {
		plain.Close()
		probe.Close()
		return err
	}
	c.plain, c.probe, c.heads = plain, probe, heads
	c.forks++
	return nil
}

// commitProbe deletes owner, public and type and every key of the
// collaborators map in d, puts the marker key into it, and commits.
func commitProbe(d *automerge.Doc, hadMap bool) error {
	root := d.RootMap()
	for _, f := range ACLFields {
		if f == "collaborators" {
			continue
		}
		if v, err := root.Get(f); err == nil && !v.IsVoid() {
			if err := root.Delete(f); err != nil {
				return fmt.Errorf("acl check: prepare fork: %w", err)
			}
		}
	}
	if hadMap {
		m := d.Path("collaborators").Map()
		keys, err := m.Keys()
		if err != nil {
			return fmt.Errorf("acl check: prepare fork: %w", err)
		}
		for _, k := range keys {
			if err := m.Delete(k); err != nil {
				return fmt.Errorf("acl check: prepare fork: %w", err)
			}
		}
		if err := m.Set(probeKey, true); err != nil {
			return fmt.Errorf("acl check: prepare fork: %w", err)
		}
	}
	// A zero time keeps the wall clock out; the fork is never sent.
	if _, err := d.Commit("acl probe", automerge.CommitOptions{AllowEmpty: true, Time: &time.Time{}}); err != nil {
		return fmt.Errorf("acl check: commit probe: %w", err)
	}
	return nil
}

// check applies changes to both forks (at current's heads) and looks
// for a trace on an ACL field.
func (c *forkACLCheck) check(current *automerge.Doc, changes []*automerge.Change, hadMap bool) error {
	if err := c.plain.Apply(changes...); err != nil {
		return fmt.Errorf("acl check: apply: %w", err)
	}
	for _, ch := range changes {
		if _, err := c.plain.Change(ch.Hash()); err != nil {
			return fmt.Errorf("%w: %s", ErrMissingDeps, ch.Hash())
		}
	}
	before, after := aclState(current), aclState(c.plain)
	for _, f := range ACLFields {
		if before[f] != after[f] {
			return &ACLChangeError{Field: f}
		}
	}
	if err := c.probe.Apply(changes...); err != nil {
		return fmt.Errorf("acl check: apply: %w", err)
	}
	root := c.probe.RootMap()
	for _, f := range ACLFields {
		if f == "collaborators" {
			continue
		}
		if v, err := root.Get(f); err == nil && !v.IsVoid() {
			return &ACLChangeError{Field: f}
		}
	}
	v, err := root.Get("collaborators")
	if err != nil {
		return fmt.Errorf("acl check: read collaborators: %w", err)
	}
	if !hadMap {
		if !v.IsVoid() {
			return &ACLChangeError{Field: "collaborators"}
		}
		return nil
	}
	if v.Kind() != automerge.KindMap {
		return &ACLChangeError{Field: "collaborators"}
	}
	if keys, err := v.Map().Keys(); err != nil || len(keys) != 1 || keys[0] != probeKey {
		return &ACLChangeError{Field: "collaborators"}
	}
	return nil
}

// probeKey marks the document's own collaborators map in the probe fork
// of forkCheckACLUntouched; no client writes it (it starts with a NUL).
const probeKey = "\x00segue-acl-probe"

// aclState renders the visible value of every ACL field.
func aclState(doc *automerge.Doc) map[string]string {
	out := make(map[string]string, len(ACLFields))
	root := doc.RootMap()
	for _, f := range ACLFields {
		v, err := root.Get(f)
		if err != nil {
			out[f] = "error " + err.Error()
			continue
		}
		var b strings.Builder
		render(&b, v, 0)
		out[f] = b.String()
	}
	return out
}

// maxRenderDepth bounds how deep render descends into nested objects.
const maxRenderDepth = 8

// render writes a canonical description of v (kind and value, nested
// objects in key order) to b.
func render(b *strings.Builder, v *automerge.Value, depth int) {
	b.WriteString(v.Kind().String())
	b.WriteByte(':')
	if depth >= maxRenderDepth {
		b.WriteString("…")
		return
	}
	switch v.Kind() {
	case automerge.KindMap:
		vals, err := v.Map().Values()
		if err != nil {
			b.WriteString("error")
			return
		}
		keys := make([]string, 0, len(vals))
		for k := range vals {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b.WriteByte('{')
		for _, k := range keys {
			b.WriteString(strconv.Quote(k))
			b.WriteByte('=')
			render(b, vals[k], depth+1)
			b.WriteByte(',')
		}
		b.WriteByte('}')
	case automerge.KindList:
		vals, err := v.List().Values()
		if err != nil {
			b.WriteString("error")
			return
		}
		b.WriteByte('[')
		for _, e := range vals {
			render(b, e, depth+1)
			b.WriteByte(',')
		}
		b.WriteByte(']')
	default:
		if s, ok := valueString(v); ok {
			b.WriteString(strconv.Quote(s))
			return
		}
		fmt.Fprintf(b, "%#v", v.Interface())
	}
}

package docs

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
)

// Errors of the access-control check on incoming changes.
var (
	// ErrACLChange is returned by CheckACLUntouched when incoming changes
	// touch a field only the document's owner may change.
	ErrACLChange = errors.New("docs: change touches a field only the owner may change")
	// ErrMissingDeps is returned by CheckACLUntouched when an incoming
	// change depends on changes neither the document nor the batch holds,
	// so it could not be checked (it would be applied later, unchecked).
	ErrMissingDeps = errors.New("docs: change depends on changes not sent")
)

// ACLChangeError is the error CheckACLUntouched returns for a touched
// field; errors.Is(err, ErrACLChange) holds.
type ACLChangeError struct {
	// Field is the root field the changes touch (one of ACLFields, or
	// of FixedFields at the root).
	Field string
}

func (e *ACLChangeError) Error() string {
	return "docs: the change touches " + e.Field + ", which only the owner may change"
}

// Is reports whether target is ErrACLChange.
func (e *ACLChangeError) Is(target error) bool { return target == ErrACLChange }

// ACLFields are the root fields of a document that only its owner may
// change: who owns it, who may write it, whether anyone may read it, and
// its kind (which selects the access rule).
var ACLFields = []string{"owner", "collaborators", "public", "type"}

// FixedFields are the root fields whose value, once the document is
// created, only its owner may replace or delete, while every writer
// edits inside it: a playlist's entries map. A collaborator's put of a
// string or a list there left a playlist no one could read or add to,
// the owner included, and a delete or a new map dropped every entry at
// once. Unlike ACLFields, operations on the objects inside the value
// (adding, moving, removing entries) are every writer's.
var FixedFields = []string{"entries"}

// Owner returns the root "owner" field of a library or playlist (scalar
// string or Automerge text), "" when there is none.
func Owner(doc *automerge.Doc) model.UserID {
	return model.UserID(strField(doc.RootMap(), "owner"))
}

// CheckACLUntouched returns nil when the changes, applied to current,
// would touch none of ACLFields and put or delete none of FixedFields
// at the root; otherwise an *ACLChangeError naming the field (it
// matches ErrACLChange). current is not modified and nothing
// is applied: the check reads the changes' operations (DecodeChangeOps).
//
// A change touches an ACL field when one of its operations acts on the
// root map at a key in ACLFields (a put, a delete, an increment — even
// one that writes the value already there or loses a concurrent
// conflict), or acts on an object that is, or is inside, the current
// value of an ACL field (the Automerge text of a text owner, the
// collaborators map and anything nested in it). This holds every
// operation that could change a visible ACL value: an object becomes
// part of an ACL field's value only through an operation on the root
// key or on an object already inside the value, and such an operation
// in the same batch is itself refused. What is not detected, and need
// not be: an operation on an object that is no longer (or not yet)
// visible under an ACL field — a collaborators map that was replaced,
// or that lost a concurrent conflict at its key — is invisible, and is
// superseded with that object when the owner next writes the key (a put
// or delete supersedes every conflicting value).
//
// Fails closed: a change that DecodeChangeOps cannot read returns an
// error matching ErrUnreadableChange, and an ACL value nested deeper
// than maxACLDepth an error; callers refuse the change on any error. A
// change whose dependencies are neither in current nor in changes
// returns ErrMissingDeps: Automerge would hold it back and apply it
// later without a check. (sync/repo passes only changes whose
// dependencies are met and holds the others back until they are, so
// this is a safety net there.) A change current already holds is
// skipped: applying it again changes nothing.
//
// Cost: decoding the changes in Go, one lookup of each change and
// dependency in current, and reading the ACL fields' values (a few
// calls, none in proportion to the document's size), which ACLCheck
// keeps between calls.
func CheckACLUntouched(current *automerge.Doc, changes []*automerge.Change) error {
	var c ACLCheck
	return c.Check(current, changes)
}

// maxACLDepth bounds how deep the ACL fields' values may nest: a deeper
// value fails the check (it cannot be collected, so no change is let
// through); the documents' own values nest 2 deep at most.
const maxACLDepth = 16

// ACLCheck is CheckACLUntouched that keeps the document's ACLRecord
// (whose Objs are the ids of the objects inside the ACL fields' values)
// between calls for one document: it is read anew when the document's
// heads are not those the record was kept for — read (Record), kept by
// the caller after neutral changes (Keep), or expected after the check's
// own accepted changes, which leave the ACL fields as they were. It
// holds no copy of the document and no automerge memory. The zero value
// is ready to use. An ACLCheck is not safe for concurrent use; it must
// only ever be used with one document.
type ACLCheck struct {
	// heads are the document's heads (sorted) rec reflects.
	heads []automerge.ChangeHash
	// rec is the document's record at heads, nil when none is kept.
	rec   *ACLRecord
	reads int // times rec was read anew (tests)
}

// Reset drops what the check keeps.
func (c *ACLCheck) Reset() {
	c.heads, c.rec = nil, nil
}

// Kept returns the kept record when it describes the document at heads
// (sorted, as automerge's Doc.Heads returns them), nil otherwise. It
// reads nothing.
func (c *ACLCheck) Kept(heads []automerge.ChangeHash) *ACLRecord {
	if c.rec == nil || !slices.Equal(heads, c.heads) {
		return nil
	}
	return c.rec
}

// Keep records that rec describes the document at heads (sorted): the
// record it was read at, after changes Neutral accepts. rec must not be
// modified afterwards.
func (c *ACLCheck) Keep(heads []automerge.ChangeHash, rec *ACLRecord) {
	c.heads, c.rec = slices.Clone(heads), rec
}

// Record returns the record of current, whose heads are heads (sorted):
// the kept one when it describes them, else one read with ReadACLRecord
// and kept. On a read error nothing is kept.
func (c *ACLCheck) Record(current *automerge.Doc, heads []automerge.ChangeHash) (*ACLRecord, error) {
	if rec := c.Kept(heads); rec != nil {
		return rec, nil
	}
	rec, err := ReadACLRecord(current)
	if err != nil {
		c.Reset()
		return nil, fmt.Errorf("acl check: %w", err)
	}
	c.Keep(heads, rec)
	c.reads++
	return rec, nil
}

// Check is CheckACLUntouched with c's kept record.
func (c *ACLCheck) Check(current *automerge.Doc, changes []*automerge.Change) error {
	if len(changes) == 0 {
		return nil
	}
	batch := make(map[automerge.ChangeHash]bool, len(changes))
	for _, ch := range changes {
		batch[ch.Hash()] = true
	}
	fresh := make([]*automerge.Change, 0, len(changes))
	deps := map[automerge.ChangeHash]bool{}
	for _, ch := range changes {
		if current.HasChange(ch.Hash()) {
			continue
		}
		for _, d := range ch.Dependencies() {
			if !batch[d] && !current.HasChange(d) {
				return fmt.Errorf("%w: %s", ErrMissingDeps, ch.Hash())
			}
			deps[d] = true
		}
		fresh = append(fresh, ch)
	}
	if len(fresh) == 0 {
		return nil
	}
	heads := sortedHeads(current.Heads())
	rec, err := c.Record(current, heads)
	if err != nil {
		return err
	}
	for _, f := range rec.deep {
		if slices.Contains(ACLFields, f) {
			return fmt.Errorf("acl check: %s nests deeper than %d", f, maxACLDepth)
		}
	}
	for _, ch := range fresh {
		if err := checkChange(rec, ch); err != nil {
			return err
		}
	}
	// Once the changes are applied the heads are the old heads and the
	// new changes that nothing in the batch depends on.
	next := make([]automerge.ChangeHash, 0, len(heads)+len(fresh))
	for _, h := range heads {
		if !deps[h] {
			next = append(next, h)
		}
	}
	for _, ch := range fresh {
		if h := ch.Hash(); !deps[h] && !slices.Contains(next, h) {
			next = append(next, h)
		}
	}
	c.heads = sortedHeads(next)
	return nil
}

// checkChange refuses ch if one of its operations acts on an ACL field
// (at the root, or on an object of rec.Objs inside one) or on a fixed
// field at the root.
func checkChange(rec *ACLRecord, ch *automerge.Change) error {
	ops, err := DecodeChangeOps(ch.Save())
	if err != nil {
		return fmt.Errorf("acl check: change %s: %w", ch.Hash(), err)
	}
	for _, op := range ops.Ops {
		if op.Root() {
			if !op.MapKey {
				return fmt.Errorf("acl check: change %s: %w: an operation on the root map without a key", ch.Hash(), ErrUnreadableChange)
			}
			if slices.Contains(ACLFields, op.Key) || slices.Contains(FixedFields, op.Key) {
				return &ACLChangeError{Field: op.Key}
			}
			continue
		}
		if f, ok := rec.Objs[ops.ObjID(op)]; ok && slices.Contains(ACLFields, f) {
			return &ACLChangeError{Field: f}
		}
	}
	return nil
}

// sortedHeads returns hs sorted (in place).
func sortedHeads(hs []automerge.ChangeHash) []automerge.ChangeHash {
	slices.SortFunc(hs, func(a, b automerge.ChangeHash) int { return bytes.Compare(a[:], b[:]) })
	return hs
}

// collectObjects adds v's object id, and those of the objects inside
// it, to out under field. It reports deep, and stops, when the value
// nests deeper than maxACLDepth.
func collectObjects(out map[string]string, field string, v *automerge.Value, depth int) (deep bool, err error) {
	var id string
	var vals []*automerge.Value
	switch v.Kind() {
	case automerge.KindMap:
		id = v.Map().ObjID()
		var m map[string]*automerge.Value
		if m, err = v.Map().Values(); err == nil {
			for _, e := range m {
				vals = append(vals, e)
			}
		}
	case automerge.KindList:
		id = v.List().ObjID()
		vals, err = v.List().Values()
	case automerge.KindText:
		id = v.Text().ObjID()
	default:
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read %s: %w", field, err)
	}
	if id == "" {
		return false, fmt.Errorf("%s: an object without an id", field)
	}
	if depth >= maxACLDepth {
		return true, nil
	}
	out[id] = field
	for _, e := range vals {
		if deep, err := collectObjects(out, field, e, depth+1); deep || err != nil {
			return deep, err
		}
	}
	return false, nil
}

package docs

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

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
	// Field is the root field the changes touch (one of ACLFields).
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

// Owner returns the root "owner" field of a library or playlist (scalar
// string or Automerge text), "" when there is none.
func Owner(doc *automerge.Doc) model.UserID {
	return model.UserID(strField(doc.RootMap(), "owner"))
}

// CheckACLUntouched returns nil when the changes, applied to current,
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
func CheckACLUntouched(current *automerge.Doc, changes []*automerge.Change) error {
	if len(changes) == 0 {
		return nil
	}
	plain, err := withChanges(current, changes, nil)
	if err != nil {
		return err
	}
	for _, c := range changes {
		if _, err := plain.Change(c.Hash()); err != nil {
			return fmt.Errorf("%w: %s", ErrMissingDeps, c.Hash())
		}
	}
	before, after := aclState(current), aclState(plain)
	for _, f := range ACLFields {
		if before[f] != after[f] {
			return &ACLChangeError{Field: f}
		}
	}
	hadMap := false
	if v, err := current.RootMap().Get("collaborators"); err == nil && v.Kind() == automerge.KindMap {
		hadMap = true
	}
	probe, err := withChanges(current, changes, func(d *automerge.Doc) error {
		root := d.RootMap()
		for _, f := range ACLFields {
			if f == "collaborators" {
				continue
			}
			if v, err := root.Get(f); err == nil && !v.IsVoid() {
				if err := root.Delete(f); err != nil {
					return err
				}
			}
		}
		if !hadMap {
			return nil
		}
		m := d.Path("collaborators").Map()
		keys, err := m.Keys()
		if err != nil {
			return err
		}
		for _, k := range keys {
			if err := m.Delete(k); err != nil {
				return err
			}
		}
		return m.Set(probeKey, true)
	})
	if err != nil {
		return err
	}
	root := probe.RootMap()
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
// of CheckACLUntouched; no client writes it (it starts with a NUL).
const probeKey = "\x00segue-acl-probe"

// withChanges forks doc, runs prepare on the fork and commits what it
// did, then applies changes.
func withChanges(doc *automerge.Doc, changes []*automerge.Change, prepare func(*automerge.Doc) error) (*automerge.Doc, error) {
	f, err := doc.Fork()
	if err != nil {
		return nil, fmt.Errorf("acl check: fork: %w", err)
	}
	if prepare != nil {
		if err := prepare(f); err != nil {
			return nil, fmt.Errorf("acl check: prepare fork: %w", err)
		}
		// A zero time keeps the wall clock out; the fork is discarded.
		if _, err := f.Commit("acl probe", automerge.CommitOptions{AllowEmpty: true, Time: &time.Time{}}); err != nil {
			return nil, fmt.Errorf("acl check: commit probe: %w", err)
		}
	}
	if err := f.Apply(changes...); err != nil {
		return nil, fmt.Errorf("acl check: apply: %w", err)
	}
	return f, nil
}

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

package docs

import (
	"fmt"
	"maps"
	"slices"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
)

// RecordFields are the root fields an ACLRecord reflects: every field an
// access rule (sync/wire/peer's PlaylistAccess, DocumentAccess,
// ServiceAccess: KindOf, Owner, Playlist.Access, ServiceOf) or a facts
// reader (ReadFacts) reads. ACLFields come first.
var RecordFields = []string{"owner", "collaborators", "public", "type", "name", fieldService, fieldListener, fieldPeriod}

// ACLRecord is what the access rules and the facts read of a document,
// and the ids of the objects inside those fields' values: read once by
// ReadACLRecord and kept while the document gains only changes Neutral
// accepts, which leave every one of these values as it was.
type ACLRecord struct {
	// Kind is the "type" field ("" when missing or not a string).
	Kind Kind
	// Owner is the "owner" field (scalar string or text; "" otherwise).
	Owner model.UserID
	// Collaborators are the keys of the "collaborators" map whose value
	// is true, sorted (nil when it is not a map).
	Collaborators []model.UserID
	// Public is the "public" field when it is a boolean.
	Public bool
	// Name is the "name" field (scalar string or text).
	Name string
	// Service, Listener and Period are a service playlist's fields
	// (CreateServicePlaylist), read whatever the owner.
	Service  string
	Listener model.UserID
	Period   string
	// Objs maps the id of every object inside the value of one of
	// RecordFields (automerge notation, as ChangeOps.ObjID) to that
	// field.
	Objs map[string]string
	// deep lists the fields whose value nests deeper than maxACLDepth:
	// their objects are not all in Objs, so Neutral accepts nothing.
	deep []string
}

// Equal reports whether r and o reflect the same values and objects.
func (r *ACLRecord) Equal(o *ACLRecord) bool {
	return r.Kind == o.Kind && r.Owner == o.Owner && slices.Equal(r.Collaborators, o.Collaborators) &&
		r.Public == o.Public && r.Name == o.Name && r.Service == o.Service && r.Listener == o.Listener &&
		r.Period == o.Period && maps.Equal(r.Objs, o.Objs) && slices.Equal(r.deep, o.deep)
}

// ReadACLRecord reads the record of doc: one read of each of
// RecordFields and of the objects inside their values. An error means a
// read failed; the caller then has no record (and treats every change
// as touching these fields).
func ReadACLRecord(doc *automerge.Doc) (*ACLRecord, error) {
	rec := &ACLRecord{Objs: map[string]string{}}
	root := doc.RootMap()
	for _, f := range RecordFields {
		v, err := root.Get(f)
		if err != nil {
			return nil, fmt.Errorf("read acl record: %s: %w", f, err)
		}
		deep, err := collectObjects(rec.Objs, f, v, 0)
		if err != nil {
			return nil, err
		}
		if deep {
			rec.deep = append(rec.deep, f)
		}
		s, _ := valueString(v)
		switch f {
		case "owner":
			rec.Owner = model.UserID(s)
		case "collaborators":
			if rec.Collaborators, err = trueKeys(v); err != nil {
				return nil, err
			}
		case "public":
			rec.Public = v.Kind() == automerge.KindBool && v.Bool()
		case "type":
			rec.Kind = Kind(s)
		case "name":
			rec.Name = s
		case fieldService:
			rec.Service = s
		case fieldListener:
			rec.Listener = model.UserID(s)
		case fieldPeriod:
			rec.Period = s
		}
	}
	return rec, nil
}

// trueKeys returns the sorted keys of map value v whose value is true,
// nil when v is not a map.
func trueKeys(v *automerge.Value) ([]model.UserID, error) {
	if v.Kind() != automerge.KindMap {
		return nil, nil
	}
	m, err := v.Map().Values()
	if err != nil {
		return nil, fmt.Errorf("read acl record: collaborators: %w", err)
	}
	var out []model.UserID
	for k, e := range m {
		if e.Kind() == automerge.KindBool && e.Bool() {
			out = append(out, model.UserID(k))
		}
	}
	slices.Sort(out)
	return out, nil
}

// Neutral reports whether a change with operations ops, applied to a
// document rec describes (or concurrently with changes that are
// themselves neutral under rec), leaves every value rec reflects as it
// was, so rec still describes the document after it: none of its
// operations acts on the root map at one of RecordFields, or on an
// object in rec.Objs. An operation on the root map at one of
// FixedFields is not neutral either, so that a checked writer's change
// to one goes to the ACL check, which refuses it. The argument is CheckACLUntouched's, over
// RecordFields: a value at a root key is a function of the operations
// at that key and inside the objects of its value only, and an object
// enters a value only through such an operation. A root operation
// without a map key, or a record with a value nested too deep to know
// all its objects, is not neutral (fails closed). Pure: no automerge
// call.
func Neutral(ops *ChangeOps, rec *ACLRecord) bool {
	if len(rec.deep) > 0 {
		return false
	}
	for _, op := range ops.Ops {
		if op.Root() {
			if !op.MapKey || slices.Contains(RecordFields, op.Key) || slices.Contains(FixedFields, op.Key) {
				return false
			}
			continue
		}
		if _, ok := rec.Objs[ops.ObjID(op)]; ok {
			return false
		}
	}
	return true
}

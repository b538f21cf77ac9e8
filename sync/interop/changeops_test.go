package interop

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os/exec"
	"slices"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/internal/testtool"
	"github.com/segue-fm/segue/sync/docs"
)

// TestDecodeChangeOpsJS: changes the stock @automerge/automerge 3.x core
// makes (text splices and marks, counters, nested maps and lists, a
// 400-key change, root puts and deletes) are read by docs.DecodeChangeOps
// — the relay's ACL check refuses a collaborator's change it cannot read,
// so a format it missed would lock browser collaborators out — with the
// root keys each writes and the objects it edits as automerge-go sees
// them, and the ACL check refuses exactly those that touch an owner-only
// field.
func TestDecodeChangeOpsJS(t *testing.T) {
	node := testtool.Need(t, "node")
	needModules(t)
	out, err := exec.CommandContext(t.Context(), node, "changeops.mjs").Output()
	if err != nil {
		t.Fatalf("node changeops.mjs: %v", err)
	}
	doc := automerge.New()
	defer doc.Close()
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	n := 0
	var all []byte
	for sc.Scan() {
		var c struct {
			Kind   string   `json:"kind"`
			Change string   `json:"change"`
			Root   []string `json:"root"`
			Obj    string   `json:"obj"`
		}
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		raw, err := base64.StdEncoding.DecodeString(c.Change)
		if err != nil {
			t.Fatal(err)
		}
		// LoadChanges wants a change's dependencies beside it.
		all = append(all, raw...)
		loaded, err := automerge.LoadChanges(all)
		if err != nil || len(loaded) != n+1 {
			t.Fatalf("%s: load: %d changes, %v", c.Kind, len(loaded), err)
		}
		chs := loaded[n:]
		ops, err := docs.DecodeChangeOps(raw)
		if err != nil {
			t.Fatalf("%s: decode: %v", c.Kind, err)
		}
		var root []string
		edited := map[string]bool{}
		for _, op := range ops.Ops {
			if op.Root() {
				root = append(root, op.Key)
			} else {
				edited[ops.ObjID(op)] = true
			}
		}
		slices.Sort(root)
		slices.Sort(c.Root)
		if !slices.Equal(slices.Compact(root), c.Root) {
			t.Errorf("%s: root keys %v, want %v", c.Kind, root, c.Root)
		}
		if c.Obj != "" {
			id := objID(t, doc, c.Obj)
			if !edited[id] {
				t.Errorf("%s: no operation on %s (%s); edited %v", c.Kind, c.Obj, id, edited)
			}
		}
		touches := slices.ContainsFunc(c.Root, func(k string) bool {
			return slices.Contains(docs.ACLFields, k) || slices.Contains(docs.FixedFields, k)
		}) ||
			slices.Contains(docs.ACLFields, c.Obj)
		err = docs.CheckACLUntouched(doc, chs)
		if n > 0 && touches != errors.Is(err, docs.ErrACLChange) {
			t.Errorf("%s: ACL check %v, want refused = %v", c.Kind, err, touches)
		}
		if n > 0 && !touches && err != nil {
			t.Errorf("%s: ACL check: %v", c.Kind, err)
		}
		if err := doc.Apply(chs...); err != nil {
			t.Fatalf("%s: apply: %v", c.Kind, err)
		}
		automerge.CloseChanges(loaded)
		n++
	}
	if n < 12 {
		t.Fatalf("%d changes from node, want 12", n)
	}
}

// objID returns the object id of the root field f of doc.
func objID(t *testing.T, doc *automerge.Doc, f string) string {
	t.Helper()
	v, err := doc.RootMap().Get(f)
	if err != nil {
		t.Fatal(err)
	}
	switch v.Kind() {
	case automerge.KindMap:
		return v.Map().ObjID()
	case automerge.KindText:
		return v.Text().ObjID()
	}
	t.Fatalf("%s is a %v", f, v.Kind())
	return ""
}

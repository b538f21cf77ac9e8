package repo

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/msync"
)

// TestFalsePositiveReachesDevice is msync's TestFalsePositiveSent
// through real repos: a device (automerge's sync states, as core.OpenDocs
// runs it) sends its changes E0…E9 and waits for them to be
// acknowledged; before the relay answers, a writer's change D (on E9)
// and F (on D) reach it. D is a false positive of the device's Bloom
// filter {E0…E9}: each attempt opens a writer repo with the same seed
// (fixed actor and clock) and sets key "d" to 0, 1, 2, …; the first
// whose change hits is value 28. A relay on automerge's states sends F
// without D: the device cannot apply F, stays in flight, and the
// exchange falls silent with the document apart. A relay on Go states
// (the default) sends D and F, and both end at the same heads.
func TestFalsePositiveReachesDevice(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		goSync   bool
		converge bool
	}{
		{"automerge states stall", false, false},
		{"go states converge", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			relay, err := Open(ctx, store.NewMemory(), testOptions(1).WithGoSync(tc.goSync))
			if err != nil {
				t.Fatal(err)
			}
			defer relay.Close()
			dev, err := Open(ctx, store.NewMemory(), testOptions(2).WithGoSync(false))
			if err != nil {
				t.Fatal(err)
			}
			defer dev.Close()
			h, err := dev.CreatePlaylist(ctx, "alice", "Mix")
			if err != nil {
				t.Fatal(err)
			}
			id := h.ID()
			syncUntilQuiet(t, dev, relay, "dev", "relay", id)
			set := func(h *Handle, key string, v int64) {
				t.Helper()
				if err := h.Change(ctx, func(d *automerge.Doc) error { return d.RootMap().Set(key, v) }); err != nil {
					t.Fatal(err)
				}
			}
			heads := func(h *Handle) (hs []automerge.ChangeHash) {
				t.Helper()
				if err := h.Read(func(d *automerge.Doc) error { hs = d.Heads(); return nil }); err != nil {
					t.Fatal(err)
				}
				return hs
			}
			base := heads(h)
			for i := range 10 {
				set(h, fmt.Sprintf("e%d", i), int64(i))
			}
			var es []automerge.ChangeHash
			if err := h.Read(func(d *automerge.Doc) error {
				chs, err := d.Changes(base...)
				if err != nil {
					return err
				}
				defer automerge.CloseChanges(chs)
				for _, c := range chs {
					es = append(es, c.Hash())
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(es) != 10 {
				t.Fatalf("%d changes for 10 edits", len(es))
			}
			m1, ok, err := dev.GenerateSyncMessage(ctx, "relay", id)
			if err != nil || !ok {
				t.Fatalf("the device's changes: %v %v", ok, err)
			}
			if err := relay.ReceiveSyncMessage(ctx, "dev", id, m1); err != nil {
				t.Fatal(err)
			}
			bloom := msync.NewBloom(es)
			var hw *Handle
			var hD automerge.ChangeHash
			value := int64(0)
			for ; value < 5000; value++ {
				w, err := Open(ctx, store.NewMemory(), testOptions(3))
				if err != nil {
					t.Fatal(err)
				}
				syncUntilQuiet(t, relay, w, "relay", PeerID(fmt.Sprint("w", value)), id)
				if hw, err = w.Get(ctx, id); err != nil {
					t.Fatal(err)
				}
				set(hw, "d", value)
				if hD = heads(hw)[0]; bloom.Contains(&hD) {
					defer w.Close()
					set(hw, "f", 0)
					syncUntilQuiet(t, relay, w, "relay", PeerID(fmt.Sprint("w", value)), id)
					break
				}
				w.Close()
			}
			if value != 28 {
				t.Fatalf("first false positive at value %d, documented as 28", value)
			}
			hF := heads(hw)[0]
			m2, ok, err := relay.GenerateSyncMessage(ctx, "dev", id)
			if err != nil || !ok {
				t.Fatalf("the relay's answer: %v %v", ok, err)
			}
			dm, err := msync.DecodeMessage(m2)
			if err != nil {
				t.Fatal(err)
			}
			var sent []automerge.ChangeHash
			for _, c := range dm.Changes {
				sent = append(sent, c.Hash)
			}
			want := []automerge.ChangeHash{hF}
			if tc.goSync {
				want = []automerge.ChangeHash{hD, hF}
			}
			if !slices.Equal(sent, want) {
				t.Fatalf("relay sent %v, want %v (D %v, F %v)", sent, want, hD, hF)
			}
			if err := dev.ReceiveSyncMessage(ctx, "relay", id, m2); err != nil {
				t.Fatal(err)
			}
			syncUntilQuiet(t, dev, relay, "dev", "relay", id)
			hr, err := relay.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if got := slices.Equal(heads(h), heads(hr)); got != tc.converge {
				t.Fatalf("converged = %v, want %v: device heads %v, relay %v", got, tc.converge, heads(h), heads(hr))
			}
			if tc.converge && !slices.Equal(heads(h), []automerge.ChangeHash{hF}) {
				t.Fatalf("device heads %v, want F %v", heads(h), hF)
			}
		})
	}
}

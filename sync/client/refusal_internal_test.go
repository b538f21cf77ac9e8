package client

import (
	"log/slog"
	"testing"

	"github.com/segue-fm/segue/sync/docs"
)

// TestRefusalSetAsideStays: a refusal clears once the remote holds every
// local change, except one whose refused changes were set aside: the
// user must learn the edit was undone. A later refusal of the same
// document keeps the count.
func TestRefusalSetAsideStays(t *testing.T) {
	id := docs.DocumentID{1}
	for _, tc := range []struct {
		name      string
		steps     func(c *Client)
		wantEntry bool
		wantAside int
	}{
		{"refused, then accepted", func(c *Client) { c.refusedBy(id, "no"); c.accepted(id) }, false, 0},
		{"set aside, then accepted", func(c *Client) { c.refusedBy(id, "no"); c.setAside(id, 2); c.accepted(id) }, true, 2},
		{"set aside, refused again, accepted", func(c *Client) {
			c.refusedBy(id, "no")
			c.setAside(id, 1)
			c.refusedBy(id, "again")
			c.accepted(id)
		}, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := New(nil, nil, DefaultOptions().WithLogger(slog.New(slog.DiscardHandler)))
			tc.steps(c)
			st := c.Status()
			if got := len(st.Refused) == 1; got != tc.wantEntry {
				t.Fatalf("refusals %+v, want an entry: %v", st.Refused, tc.wantEntry)
			}
			if tc.wantEntry && (st.Refused[0].Doc != id || st.Refused[0].SetAside != tc.wantAside || st.Refused[0].Reason == "") {
				t.Fatalf("refusal %+v, want doc %v with %d set aside and a reason", st.Refused[0], id, tc.wantAside)
			}
		})
	}
}

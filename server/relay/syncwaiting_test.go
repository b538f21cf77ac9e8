package relay_test

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/automerge/automerge-go"
	"github.com/coder/websocket"

	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// TestSyncWaitingMetrics: the changes automerge keeps queued for
// dependencies that have not arrived are bounded (msync.WaitBudget) but
// were not on /metrics. On a real relay, a device's change whose
// dependency it leaves out shows as one waiting change of its bytes
// held by one writer; once the dependency arrives the gauges are zero
// again.
func TestSyncWaitingMetrics(t *testing.T) {
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithRelayOptions(func(o relay.Options) relay.Options {
		return o.WithAdminToken(adminToken)
	}))
	ctx := t.Context()
	e, _, id := syncedPlaylist(t, r, "ada")

	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(r.URL, "http")+"/v1/sync", &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + e.Token()}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	conn := peer.NewWSConn(c, 0)
	if _, err := peer.ClientHandshake(ctx, conn, "raw", wire.PeerMetadata{StorageID: "raw"}); err != nil {
		t.Fatal(err)
	}
	// Two changes of a new actor, the second depending on the first.
	side := automerge.New()
	defer side.Close()
	var chunks [][]byte
	for _, v := range []string{"a", strings.Repeat("x", 500)} {
		if err := side.RootMap().Set("junk", v); err != nil {
			t.Fatal(err)
		}
		if _, err := side.Commit(v[:1]); err != nil {
			t.Fatal(err)
		}
		ch, err := side.Change(side.Heads()[0])
		if err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, ch.Save())
	}
	send := func(raw []byte) {
		t.Helper()
		m := wire.SyncMessage{Type: 0x42, Changes: [][]byte{raw}}
		if err := conn.Send(ctx, &wire.Message{Type: wire.TypeSync, SenderID: "raw", TargetID: "relay", DocumentID: id.String(), Data: m.Encode()}); err != nil {
			t.Fatal(err)
		}
	}
	metrics := func() map[string]float64 {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, "GET", r.URL+"/metrics", nil)
		req.Header.Set("Authorization", "Bearer "+adminToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		out := map[string]float64{}
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			name, v, ok := strings.Cut(sc.Text(), " ")
			if !ok || !strings.HasPrefix(name, "segue_sync_waiting_") {
				continue
			}
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			out[name] = f
		}
		return out
	}
	want := func(changes, bytes, writers float64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			m := metrics()
			if m["segue_sync_waiting_changes"] == changes && m["segue_sync_waiting_bytes"] == bytes && m["segue_sync_waiting_writers"] == writers && len(m) == 3 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("metrics %v, want %v changes, %v bytes, %v writers waiting", m, changes, bytes, writers)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	want(0, 0, 0)
	send(chunks[1])
	want(1, float64(len(chunks[1])), 1)
	send(chunks[0])
	want(0, 0, 0)
}

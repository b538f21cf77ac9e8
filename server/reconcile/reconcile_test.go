package reconcile_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/access"
	"github.com/segue-fm/segue/server/audit"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/edge"
	"github.com/segue-fm/segue/server/events"
	"github.com/segue-fm/segue/server/reconcile"
	"github.com/segue-fm/segue/server/relay"
)

// client is a raw HTTP device of a real relay.
type client struct {
	t     *testing.T
	url   string
	id    *crypto.Identity
	token string
}

func (c *client) do(method, path string, body any) []byte {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, c.url+path, rd)
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 300 {
		c.t.Fatalf("%s %s: %s %s", method, path, res.Status, b)
	}
	return b
}

func register(t *testing.T, url, user string) *client {
	id, err := crypto.NewIdentity(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := &client{t: t, url: url, id: id}
	c.do("POST", "/v1/accounts", api.AccountRequest{Username: user, Password: testbed.Password})
	now := time.Now()
	req := api.RegisterRequest{Username: user, Password: testbed.Password, Name: "raw", SignPub: id.SignPublic(), HPKEPub: id.HPKEPublic(), Issued: now.Unix()}
	req.Sig = id.Sign(crypto.DeviceProofMessage(user, "raw", req.SignPub, req.HPKEPub, now))
	var reg api.RegisterResponse
	if err := json.Unmarshal(c.do("POST", "/v1/devices", req), &reg); err != nil {
		t.Fatal(err)
	}
	c.token = reg.Token
	return c
}

// TestReconcileRealRelay: on a real relay (access log and licenses on)
// device A fetches track 0 whole by position and track 3 whole (header
// included) by blob hash, one chunk of track 1, takes an offline license for track 2, and
// plays track 0 (backed), track 1 (unbacked: too little served) and track
// 2 offline (backed by its license). Device B plays track 0 (unbacked:
// chunks served to another device do not count), track 2 online (nothing
// served) and track 3 offline (no license). Track 3 was served whole to A
// but never played: backed but uncounted.
func TestReconcileRealRelay(t *testing.T) {
	ctx := context.Background()
	var dd *catalog.DataDir
	var svc *counting.Service
	threshold := 10 * time.Second
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithAccessLog(true).WithLicenses(true).
		WithMount(func(d *catalog.DataDir, srv *relay.Server) {
			dd = d
			chain := audit.NewChain(d.Store, d.Signer, 100, nil)
			svc = counting.New(d.Store, events.NewStoreLog(d.Store), d.Catalog, chain, counting.DefaultOptions().WithThreshold(threshold).WithLogger(nil))
			svc.Mount(srv)
		}))
	tr := r.Tracks
	a, b := register(t, r.URL, "ann"), register(t, r.URL, "bob")
	tier := model.TierLow
	manifest := func(track model.TrackID) *model.Manifest {
		m, err := crypto.OpenManifest(r.CatalogKey, a.do("GET", fmt.Sprintf("/v1/audio/%s/%s/manifest", track, tier), nil))
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m0 := manifest(tr[0])
	for i := range m0.Chunks {
		a.do("GET", fmt.Sprintf("/v1/audio/%s/%s/chunks/%d", tr[0], tier, i), nil)
	}
	a.do("GET", fmt.Sprintf("/v1/audio/%s/%s/chunks/0", tr[1], tier), nil)
	m3 := manifest(tr[3])
	for _, c := range m3.Chunks {
		a.do("GET", "/v1/blobs/"+hex.EncodeToString(c.Blob.SHA256[:]), nil)
	}
	// The header by hash too, as an edge fetches it: a blob of a current
	// manifest, not an unresolved one, though it backs no chunk.
	a.do("GET", "/v1/blobs/"+hex.EncodeToString(m3.Header.SHA256[:]), nil)
	nonce := make([]byte, api.NonceSize)
	a.do("POST", "/v1/licenses", api.IssueRequest{Tracks: []model.TrackID{tr[2]}, Tier: tier, Nonce: nonce})

	started := time.Now().Add(-2 * time.Second)
	play := func(seq uint64, track model.TrackID, offline bool) api.PlayRecord {
		p := api.PlayRecord{Seq: seq, Track: track, Tier: tier, StartedAt: started.UnixMilli(), PlayedMs: 12000,
			EndReason: model.EndCompleted, Source: model.SourceStream}
		if offline {
			p.Offline, p.Source = true, model.SourceDownload
		}
		return p
	}
	upload := func(c *client, evs []api.PlayRecord) {
		msg, err := crypto.PlaysMessage(c.id.DeviceID(), evs)
		if err != nil {
			t.Fatal(err)
		}
		c.do("POST", "/v1/plays", api.PlaysRequest{Events: evs, Sig: c.id.Sign(msg)})
	}
	upload(a, []api.PlayRecord{play(1, tr[0], false), play(2, tr[1], false), play(3, tr[2], true)})
	upload(b, []api.PlayRecord{play(1, tr[0], false), play(2, tr[2], false), play(3, tr[3], true)})
	countAll(t, svc)
	if err := r.AccessLog().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	rep, err := reconcile.Run(ctx, started, reconcile.AuditStreams(dd.Store, events.NewStoreLog(dd.Store)),
		access.NewStoreReader(dd.Store), reconcile.NewCatalog(dd.Catalog, r.CatalogKey),
		reconcile.DefaultOptions().WithThreshold(threshold))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Streams != 6 || rep.Online != 4 || rep.Offline != 2 || rep.Backed != 2 || rep.ThresholdMs != threshold.Milliseconds() {
		t.Errorf("report %+v: want 6 streams, 4 online, 2 offline, 2 backed, threshold %v", rep, threshold)
	}
	type key struct {
		dev   model.DeviceID
		track model.TrackID
	}
	unbacked := map[key]reconcile.Unbacked{}
	for _, u := range rep.Unbacked {
		unbacked[key{u.Device, u.Track}] = u
	}
	for _, k := range []key{{a.id.DeviceID(), tr[1]}, {b.id.DeviceID(), tr[0]}, {b.id.DeviceID(), tr[2]}, {b.id.DeviceID(), tr[3]}} {
		if _, ok := unbacked[k]; !ok {
			t.Errorf("stream of %s by %.8s not reported unbacked: %+v", k.track, k.dev, rep.Unbacked)
		}
	}
	if len(rep.Unbacked) != 4 {
		t.Errorf("%d unbacked, want 4: %+v", len(rep.Unbacked), rep.Unbacked)
	}
	if u := unbacked[key{a.id.DeviceID(), tr[1]}]; u.CoveredMs <= 0 || u.CoveredMs >= threshold.Milliseconds() {
		t.Errorf("track 1 covered %d ms, want one chunk's worth", u.CoveredMs)
	}
	if len(rep.Uncounted) != 1 || rep.Uncounted[0].Track != tr[3] || rep.Uncounted[0].Device != a.id.DeviceID() {
		t.Errorf("uncounted %+v, want track 3 of ann's device", rep.Uncounted)
	}
	if rep.UnresolvedBlobs != 0 {
		t.Errorf("%d unresolved blobs", rep.UnresolvedBlobs)
	}
}

// TestReconcileEdgeRecords: device C warms an edge with track 0 (misses,
// recorded by the relay for C), then device A fetches the whole track
// through the edge (hits: only the edge records them) and plays it. The
// relay's records alone leave A's stream unbacked; with the edge's files
// (access.MultiReader, as segue reconcile --edge-access) it is backed.
func TestReconcileEdgeRecords(t *testing.T) {
	ctx := context.Background()
	var dd *catalog.DataDir
	var svc *counting.Service
	threshold := 10 * time.Second
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithAccessLog(true).
		WithMount(func(d *catalog.DataDir, srv *relay.Server) {
			dd = d
			chain := audit.NewChain(d.Store, d.Signer, 100, nil)
			svc = counting.New(d.Store, events.NewStoreLog(d.Store), d.Catalog, chain, counting.DefaultOptions().WithThreshold(threshold).WithLogger(nil))
			svc.Mount(srv)
		}))
	edgeDir := t.TempDir()
	edgeLog, err := access.NewFileWriter(edgeDir, access.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	e, err := edge.New(edge.DefaultOptions(r.URL).WithAccessWriter(edgeLog))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(e.Handler())
	t.Cleanup(func() { srv.Close(); e.Close(); edgeLog.Close() })

	tr, tier := r.Tracks[0], model.TierLow
	warm, a := register(t, r.URL, "cy"), register(t, r.URL, "ann")
	for _, c := range []*client{warm, a} {
		c.url = srv.URL // audio through the edge
		m, err := crypto.OpenManifest(r.CatalogKey, c.do("GET", fmt.Sprintf("/v1/audio/%s/%s/manifest", tr, tier), nil))
		if err != nil {
			t.Fatal(err)
		}
		for i := range m.Chunks {
			c.do("GET", fmt.Sprintf("/v1/audio/%s/%s/chunks/%d", tr, tier, i), nil)
		}
	}
	if s := e.Stats(); s.Hits == 0 {
		t.Fatalf("ann's fetches were not edge hits: %+v", s)
	}
	// The edge queues a record when its handler returns, which can be
	// after the client has read the whole answer: closing the server
	// waits for the handlers, so the last chunk's record is in the log
	// before it is flushed.
	srv.Close()
	started := time.Now().Add(-2 * time.Second)
	evs := []api.PlayRecord{{Seq: 1, Track: tr, Tier: tier, StartedAt: started.UnixMilli(), PlayedMs: 12000,
		EndReason: model.EndCompleted, Source: model.SourceStream}}
	msg, err := crypto.PlaysMessage(a.id.DeviceID(), evs)
	if err != nil {
		t.Fatal(err)
	}
	a.url = r.URL
	a.do("POST", "/v1/plays", api.PlaysRequest{Events: evs, Sig: a.id.Sign(msg)})
	countAll(t, svc)
	if err := r.AccessLog().Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := edgeLog.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		acc    access.Reader
		backed int
	}{
		{"relay records only", access.NewStoreReader(dd.Store), 0},
		{"relay and edge records", access.MultiReader(access.NewStoreReader(dd.Store), access.NewFileReader(edgeDir)), 1},
	} {
		rep, err := reconcile.Run(ctx, started, reconcile.AuditStreams(dd.Store, events.NewStoreLog(dd.Store)),
			tc.acc, reconcile.NewCatalog(dd.Catalog, r.CatalogKey), reconcile.DefaultOptions().WithThreshold(threshold))
		if err != nil {
			t.Fatal(err)
		}
		if rep.Streams != 1 || rep.Backed != tc.backed {
			t.Errorf("%s: %d streams, %d backed, want 1 and %d: %+v", tc.name, rep.Streams, rep.Backed, tc.backed, rep.Unbacked)
		}
	}
}

// countAll steps the counting consumer until the log has nothing left.
func countAll(t *testing.T, svc *counting.Service) {
	t.Helper()
	for {
		n, err := svc.Step(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
	}
}

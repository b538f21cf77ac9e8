package relay

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/http/httpguts"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/msync/filespill"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// mountSync serves GET /v1/sync, the automerge-repo WebSocket endpoint
// (sync/relaysync), over the relay's store: documents and sync states
// under the keys of docs/ARCHITECTURE.md §6, authorised with
// peer.DocumentAccess for the user of the calling device (the token may
// be given as ?token=, since browsers cannot set WebSocket headers).
func (s *Server) mountSync() error {
	ctx := context.Background()
	ro := repo.DefaultOptions().WithLogger(s.log).WithCMemBudget(s.opts.syncCMem).
		WithLoadedDocs(s.opts.syncLoaded).WithCommitLinger(s.opts.syncLinger).WithActorBinding(true).
		WithFacts(docs.EncodeFacts).WithFactsUpdate(docs.UpdateFacts).WithMaxDocBytes(s.opts.syncDocMax).
		WithContentCheck(docs.CheckContent).WithEntryCheck(true)
	if s.opts.syncQuota > 0 {
		ro = ro.WithQuota(relaysync.NewQuota(s.st, s.opts.syncQuota))
	}
	var sp *filespill.File
	if s.opts.syncSpill {
		var err error
		if sp, err = filespill.Open(filespill.DefaultOptions(s.opts.dataDir).WithLogger(s.log)); err != nil {
			// The graphs keep their chunks in memory, as without it.
			s.log.Warn("relay: no spill file for the sync graphs", "err", err)
		} else {
			ro = ro.WithSpill(sp)
			closer := s.closer
			s.closer = func() error {
				err := closer()
				sp.Close()
				return err
			}
		}
	}
	r, err := repo.Open(ctx, s.st, ro)
	if err != nil {
		return err
	}
	// Sync states are kept per user and storage id (peer.UserScoped);
	// those an older relay kept under the storage id alone, which any
	// user could name, are dropped (their peers start one exchange
	// afresh).
	// Done once: syncScopedKey records it, so later starts do not list
	// every stored sync state.
	if _, err := s.st.Get(ctx, syncScopedKey); errors.Is(err, store.ErrNotFound) {
		dropped, err := r.DropSyncStates(ctx, func(p repo.PeerID) bool { return !peer.UserScoped(string(p)) })
		if err == nil {
			err = s.st.Set(ctx, syncScopedKey, []byte{1})
		}
		if err != nil {
			r.Close()
			return err
		}
		if dropped > 0 {
			s.log.Info("relay: dropped sync states not scoped to a user", "states", dropped)
		}
	} else if err != nil {
		r.Close()
		return fmt.Errorf("relay: read %s: %w", syncScopedKey, err)
	}
	// Documents created before owners were recorded get their owner
	// from the relay's creation records (idempotent).
	n, err := relaysync.RecordOwners(ctx, s.st, s.log)
	if err != nil {
		return err
	}
	if n > 0 {
		s.log.Info("relay: recorded owners of existing documents", "documents", n)
	}
	// A stable peer id (it is also the relay's storage id) lets devices
	// resume from their persisted sync states after a relay restart.
	ep := relaysync.New(peer.NewRepoAdapter(r), s.st, peer.DocumentAccess,
		relaysync.DefaultOptions().WithLogger(s.log).WithClock(s.now).WithPace(s.opts.syncPace).WithWindow(s.opts.syncWindow).
			WithRate(s.opts.syncRate, s.opts.syncBurst).WithEphemeralRate(s.opts.syncEphRate, s.opts.syncEphBurst).
			WithMaxSessions(s.opts.syncConns, s.opts.syncUserConn).
			WithKeepalive(s.opts.syncAlive).WithSlots(&s.longBudget).
			WithPeerID("relay-"+hex.EncodeToString(s.catPub[:8])))
	s.sync, s.docs = ep, r
	counter := func(name, help string, v func() uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "segue", Subsystem: "sync", Name: name, Help: help},
			func() float64 { return float64(v()) })
	}
	seconds := func(name, help string, v func() time.Duration) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "segue", Subsystem: "sync", Name: name, Help: help},
			func() float64 { return v().Seconds() })
	}
	s.met.reg.MustRegister(
		counter("commit_batches_total", "Store updates of the sync repository's group commit.", r.Batches),
		counter("commit_writes_total", "Writes (a document's increment or compaction, sync states) the sync repository's group commit stored or failed.", func() uint64 { return r.CommitStats().Writes }),
		seconds("commit_wait_seconds_total", "Time the group commit's writes waited queued for their store update, summed over the writes (÷ commit_writes_total: the mean wait).", func() time.Duration { return r.CommitStats().Wait }),
		seconds("commit_busy_seconds_total", "Time the group commit spent in store updates, fsync included (its rate near 1: writes queue behind the update in progress).", func() time.Duration { return r.CommitStats().Busy }),
		counter("generate_skipped_total", "Sync message generations answered without automerge: the peer's sync state had generated nothing at the same document revision.", r.QuietSkips),
		counter("notifications_total", "Document change notifications delivered to sync sessions.", ep.Notified),
		counter("connections_refused_total", "Sync connections refused before the upgrade by the relay's session caps (segue relay --sync-max-sessions, --sync-max-sessions-per-user).", ep.Refused),
		counter("keepalive_pings_total", "WebSocket pings the keepalive sent to sync connections silent for a period (segue relay --sync-keepalive).", func() uint64 { return ep.Keepalive().Pings }),
		counter("keepalive_closed_total", "Sync connections the keepalive closed for leaving a ping unanswered for a period (their device vanished without closing).", func() uint64 { return ep.Keepalive().Closed }),
		counter("write_timeouts_total", "Sync connections closed because a write to their device stayed blocked past its write deadline, 30 s + its length at 32 KiB/s (the device stopped reading or vanished while the relay had data for it).", ep.WriteTimeouts),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "segue", Subsystem: "sync", Name: "connections", Help: "Sync connections served or upgrading, as the session caps count them."},
			func() float64 { return float64(ep.Sessions()) }),
		counter("compaction_snapshots_total", "Compactions of a document into one automerge snapshot the sync repository queued (a build holds the document's whole history in C memory).", func() uint64 { n, _ := r.Compactions(); return n }),
		counter("compaction_bundles_total", "Compactions of a big document behind its change graph that merged its increments into bundles without automerge.", func() uint64 { _, n := r.Compactions(); return n }),
		counter("document_load_waits_total", "Document loads that waited for room under the sync repository's bound on loaded documents (2 × its count budget).", r.LoadWaits),
		counter("document_unloads_total", "Documents the sync repository unloaded to keep within its document and C memory budgets.", func() uint64 { _, n := r.Loaded(); return n }),
		counter("document_cmem_unloads_total", "Documents the sync repository unloaded to keep within its C memory budget (part of document_unloads_total).", r.CMemUnloads),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "segue", Subsystem: "sync", Name: "documents_loaded", Help: "Documents the sync repository holds in memory."},
			func() float64 { n, _ := r.Loaded(); return float64(n) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "segue", Subsystem: "sync", Name: "waiting_changes", Help: "Changes the loaded documents keep queued for dependencies that have not arrived (automerge's queue, in C memory)."},
			func() float64 { return float64(r.WaitStats().Changes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "segue", Subsystem: "sync", Name: "waiting_bytes", Help: "Bytes of the changes waiting for their dependencies (at most 16 MiB a writer and 128 MiB in all, of which writers' bytes past their first 1 MiB may take 96 MiB)."},
			func() float64 { return float64(r.WaitStats().Bytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "segue", Subsystem: "sync", Name: "waiting_writers", Help: "Writers (accounts) with changes waiting for their dependencies."},
			func() float64 { return float64(r.WaitStats().Holders) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "segue", Subsystem: "sync", Name: "documents_loaded_budget", Help: "The sync repository's document count budget (segue relay --sync-loaded-docs); loads wait for room past 2 × it."},
			func() float64 { return float64(r.LoadedBudget()) }),
	)
	if sp != nil {
		s.met.reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "segue", Subsystem: "sync", Name: "spill_live_bytes", Help: "Bytes of change-graph chunks (deflated) and cold nodes the sync repository keeps in its spill file instead of memory."},
				func() float64 { return float64(sp.Stats().Live) }),
			counter("spill_reads_total", "Chunk slabs and pages of cold nodes read back from the spill file (a peer far behind, a catch-up, the guard's check of an old entry).", func() uint64 { return sp.Stats().Gets }),
			counter("spill_errors_total", "Spill file writes (the slab or page then stays in memory) and reads (the call fails) that failed.", func() uint64 { st := sp.Stats(); return st.PutErrors + st.GetErrors }),
		)
	}
	s.v1.GET("/sync", func(c echo.Context) error {
		if h := c.Request().Header; !httpguts.HeaderValuesContainsToken(h["Connection"], "upgrade") ||
			!httpguts.HeaderValuesContainsToken(h["Upgrade"], "websocket") {
			// A plain request is answered as a socket of its caller would
			// be when the session caps would refuse one (429/503 with
			// Retry-After): a browser's WebSocket hides a refused upgrade's
			// answer from the page, which asks here after a socket failed.
			if dev, ok := DeviceFrom(c); ok && ep.Refuses(c.Response(), dev.User) {
				return nil
			}
			// Answered here, as JSON like every relay error: the WebSocket
			// library answers it in plain text.
			c.Response().Header().Set("Upgrade", "websocket")
			return echo.NewHTTPError(http.StatusUpgradeRequired, "relay: /v1/sync is a WebSocket endpoint (Connection: Upgrade, Upgrade: websocket)")
		}
		dev, _ := DeviceFrom(c)
		ep.ServeCaller(c.Response(), c.Request(), relaysync.Caller{User: dev.User, Device: dev.ID, Expires: TokenExpiry(c)})
		return nil
	})
	return nil
}

// DeviceRevoked drops every cached token resolution, so the device's
// tokens fail on their next request, runs the OnDeviceRevoked functions,
// ends every live sync session of
// device at once (WebSocket close code peer.CloseRevoked) and sends the
// user's other live sessions a revocation notice signed with the catalog
// key (crypto.IssueRevocation), which their devices keep to refuse LAN
// sessions with the revoked device (docs/ARCHITECTURE.md §6). Whatever
// deletes a device or its tokens (the license server's DELETE
// /v1/devices/{id}) must call it once the deletion is committed.
func (s *Server) DeviceRevoked(ctx context.Context, user model.UserID, device model.DeviceID) {
	s.acc.cache.invalidate()
	for _, fn := range s.onRevoked {
		fn(user, device)
	}
	if s.sync == nil {
		return
	}
	notice, err := crypto.IssueRevocation(s.signer, user, device, s.now())
	if err != nil {
		s.log.Error("relay: sign revocation", "device", device, "err", err)
	}
	s.sync.RevokeDevice(ctx, user, device, notice)
}

// Docs returns the relay's document repository (the one the sync
// endpoint serves), for services that write documents on the relay as
// a local peer (recommendation playlists) or read them (server/social:
// public playlists); nil when the sync endpoint failed to mount. The
// Server owns it. Local changes reach connected devices like any other.
func (s *Server) Docs() *repo.Repo { return s.docs }

// SyncEndpoint returns the relay's sync endpoint (GET /v1/sync), or nil
// when it failed to mount, for services that deliver on the devices'
// sync connections (server/social: friend activity). The Server owns it.
func (s *Server) SyncEndpoint() *relaysync.Endpoint { return s.sync }

// syncScopedKey marks a store whose sync states are all scoped to a user
// (peer.UserScoped): the states an older relay kept under the announced
// storage id alone were dropped at a start, after which none is written.
var syncScopedKey = []byte("relay/sync-scoped")

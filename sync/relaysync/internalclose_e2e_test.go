package relaysync_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/coder/websocket"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// eioStore fails every Update, once fail is set, with an I/O error that
// names one of the relay's files, as a bad disk does.
type eioStore struct {
	store.Store
	fail atomic.Bool
}

const secretPath = "/srv/segue-relay/db/000042.vlog"

func (s *eioStore) Update(ctx context.Context, fn func(tx store.Txn) error) error {
	if s.fail.Load() {
		return fmt.Errorf("badgerstore: commit: %w", &fs.PathError{Op: "write", Path: secretPath, Err: syscall.EIO})
	}
	return s.Store.Update(ctx, fn)
}

// TestInternalFailureClose: a sync connection whose changes meet an I/O
// error of the relay's disk is closed with StatusInternalError and
// relaysync.ErrInternal as the reason — never the cause, which named the
// relay's file (before: StatusPolicyViolation with the error chain, path
// included, cut at 120 bytes).
func TestInternalFailureClose(t *testing.T) {
	st := &eioStore{Store: store.NewMemory()}
	r, err := repo.Open(t.Context(), st, repo.DefaultOptions().WithActorBinding(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	ep := relaysync.New(peer.NewRepoAdapter(r), st, peer.DocumentAccess, relaysync.DefaultOptions().WithLogger(slog.New(slog.DiscardHandler)).
		WithAuthenticator(func(r *http.Request) (model.UserID, error) { return model.UserID(r.URL.Query().Get("token")), nil }))
	srv := httptest.NewServer(ep)
	t.Cleanup(srv.Close)
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/v1/sync"

	id, doc := playlist(t, false)
	upload(t, url, id, doc)
	st.fail.Store(true)
	addTrack(t, doc, "alice", "t-after")
	m, err := syncUntilQuiet(t, dial(t, url, "alice"), id, doc, "alice-dev")
	var ce websocket.CloseError
	if !errors.As(err, &ce) {
		t.Fatalf("the edit on a failing disk: message %+v, err %v; want the connection closed", m, err)
	}
	if ce.Code != websocket.StatusInternalError || ce.Reason != relaysync.ErrInternal.Error() {
		t.Fatalf("closed with %v %q, want %v %q", ce.Code, ce.Reason, websocket.StatusInternalError, relaysync.ErrInternal)
	}
	if strings.Contains(ce.Reason, "srv") {
		t.Fatalf("the close reason names the relay's file: %q", ce.Reason)
	}
}

package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/repo"
)

// setupPeer is the repo peer the setup's creations come from; its sync
// states stay in the store (one small key per document, as a device's
// would).
const setupPeer = "synccap-setup"

// setupConfig describes the documents -setup writes into a stopped
// relay's data directory.
type setupConfig struct {
	dir, out, prefix string
	users, docs      int
	entries          int
}

// setup fills the data directory of a stopped relay with c.docs
// playlists of c.entries entries each, owned round-robin by the users
// c.prefix0 … c.prefix<users-1> (accounts that need not exist yet: the
// scenario registers them afterwards), through the relay's own creation
// path: each playlist arrives as one sync message from a device's
// automerge, applied by sync/repo with relaysync.RecordCreation in the
// same store transaction (owner and creation records, per-user cap). It
// writes "user document" lines to c.out.
func setup(ctx context.Context, c setupConfig) error {
	if c.users < 1 || c.docs < 1 || c.docs > c.users*relaysync.DefaultMaxDocsPerUser {
		return fmt.Errorf("setup: want 1 ≤ documents ≤ users × %d", relaysync.DefaultMaxDocsPerUser)
	}
	dd, err := catalog.OpenDataDir(ctx, c.dir)
	if err != nil {
		return fmt.Errorf("setup: open %s (start `segue relay --init` on it once, then stop it): %w", c.dir, err)
	}
	defer dd.Close()
	r, err := repo.Open(ctx, dd.Store, repo.DefaultOptions().WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))).
		WithFacts(docs.EncodeFacts))
	if err != nil {
		return err
	}
	defer r.Close()
	f, err := os.Create(c.out)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	// One creation message per owner, sent for each of its documents:
	// a document's content does not name its id, so the owner's
	// playlists are copies of one (its changes built once), which is
	// what makes 100,000 documents a matter of minutes.
	msgs := make([][]byte, c.users)
	for u := range msgs {
		if msgs[u], err = creationMessage(model.UserID(fmt.Sprintf("%s%d", c.prefix, u)), u, c.entries); err != nil {
			return err
		}
	}
	var mu sync.Mutex
	var done atomic.Int64
	start := time.Now()
	err = parallel(c.docs, 256, func(i int) error {
		user := model.UserID(fmt.Sprintf("%s%d", c.prefix, i%c.users))
		id, err := docs.NewDocumentID(rand.Reader)
		if err != nil {
			return err
		}
		msg := msgs[i%c.users]
		record := func(tx store.Txn) error {
			return relaysync.RecordCreation(tx, user, id, relaysync.DefaultMaxDocsPerUser)
		}
		if err := r.ReceiveSyncMessageWith(ctx, setupPeer, id, msg, repo.Incoming{Create: record}); err != nil {
			return fmt.Errorf("setup: create %s for %s: %w", id, user, err)
		}
		mu.Lock()
		fmt.Fprintf(w, "%s %s\n", user, id)
		mu.Unlock()
		if n := done.Add(1); n%10000 == 0 {
			fmt.Printf("# setup: %d documents in %s\n", n, time.Since(start).Round(time.Second))
		}
		return nil
	})
	if err != nil {
		f.Close()
		return err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	fmt.Printf("# setup: %d documents of %d entries for %d users in %s\n", c.docs, c.entries, c.users, time.Since(start).Round(time.Second))
	return f.Close()
}

// creationMessage builds playlist number i of user with n entries (one
// change each, as a device adds them) and returns the sync message a
// device sends a relay that lacks it: every change, after the relay's
// first answer told it the relay has nothing.
func creationMessage(user model.UserID, i, n int) ([]byte, error) {
	am := automerge.New()
	defer am.Close()
	pl, err := docs.CreatePlaylist(am, user, fmt.Sprint("playlist ", i), docs.DefaultOptions())
	if err != nil {
		return nil, err
	}
	for k := range n {
		if _, err := pl.Add(docs.AtEnd(), user, model.TrackID(fmt.Sprintf("t%d-%d", i, k))); err != nil {
			return nil, err
		}
	}
	empty := automerge.New()
	defer empty.Close()
	dev, rel := automerge.NewSyncState(am), automerge.NewSyncState(empty)
	defer dev.Close()
	defer rel.Close()
	// heads → the relay's answer (it has nothing) → every change.
	for range 2 {
		sm, ok := dev.GenerateMessage()
		if !ok {
			return nil, errors.New("setup: device has nothing to send")
		}
		chs := sm.Changes()
		carries := len(chs) > 0
		automerge.CloseChanges(chs)
		b := sm.Bytes()
		sm.Close()
		if carries {
			return b, nil
		}
		if _, err := rel.ReceiveMessage(b); err != nil {
			return nil, err
		}
		ans, ok := rel.GenerateMessage()
		if !ok {
			return nil, errors.New("setup: relay side did not answer")
		}
		ab := ans.Bytes()
		ans.Close()
		if _, err := dev.ReceiveMessage(ab); err != nil {
			return nil, err
		}
	}
	return nil, errors.New("setup: no changes after two rounds")
}

// readDocsFile reads setup's "user document" lines, grouped by user in
// file order.
func readDocsFile(path string) (map[model.UserID][]docs.DocumentID, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[model.UserID][]docs.DocumentID{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		user, idStr, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			return nil, fmt.Errorf("%s: bad line %q", path, sc.Text())
		}
		id, err := docs.ParseDocumentID(idStr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		out[model.UserID(user)] = append(out[model.UserID(user)], id)
	}
	return out, sc.Err()
}

// follow connects c.idle peers that follow documents of -docs-file,
// c.follow each: peer j logs in as owner j mod U (U owners, one device
// registration each, its token shared by that owner's peers) and follows
// the owner's documents j/U·follow … — every document is followed by
// one peer when idle × follow equals the documents. Each peer requests
// its documents like a device that follows them, answers every message
// and keeps its replicas; follow returns once every peer holds all of
// its documents. The peers then stay connected and silent.
func follow(ctx context.Context, hc *http.Client, c config, st *stats) ([]*device, error) {
	byUser, err := readDocsFile(c.docsFile)
	if err != nil {
		return nil, err
	}
	users := make([]model.UserID, 0, len(byUser))
	for u := range byUser {
		users = append(users, u)
	}
	slices.Sort(users)
	tokens := make([]string, len(users))
	start := time.Now()
	if err := parallel(len(users), 16, func(i int) error {
		d, err := register(ctx, hc, c.url, users[i], i)
		if err == nil {
			tokens[i] = d.token
		}
		return err
	}); err != nil {
		return nil, err
	}
	fmt.Printf("# %d owners registered in %s\n", len(users), time.Since(start).Round(time.Second))
	fols := make([]*device, c.idle)
	var wanted atomic.Int64
	err = parallel(c.idle, 64, func(j int) error {
		u := j % len(users)
		own := byUser[users[u]]
		lo := (j / len(users)) * c.follow
		d := &device{n: j, user: users[u], peerID: fmt.Sprintf("%s-f%d", users[u], j), token: tokens[u], docs: map[docs.DocumentID]*doc{}}
		fols[j] = d
		if err := d.connect(ctx, c, st); err != nil {
			return err
		}
		for k := lo; k < min(lo+c.follow, len(own)); k++ {
			if err := d.follow(ctx, own[k], -1, true); err != nil {
				return err
			}
			wanted.Add(1)
		}
		return nil
	})
	if err != nil {
		return fols, err
	}
	fmt.Printf("# %d idle peers connected, %d documents requested in %s\n", len(fols), wanted.Load(), time.Since(start).Round(time.Second))
	deadline := time.Now().Add(20 * time.Minute)
	for {
		held := 0
		for _, d := range fols {
			d.mu.Lock()
			for _, dd := range d.docs {
				if dd.held() {
					held++
				}
			}
			d.mu.Unlock()
		}
		if int64(held) == wanted.Load() {
			break
		}
		if time.Now().After(deadline) {
			return fols, fmt.Errorf("idle peers hold %d of %d followed documents after 20 minutes", held, wanted.Load())
		}
		fmt.Printf("# idle peers hold %d of %d documents (%s)\n", held, wanted.Load(), time.Since(start).Round(time.Second))
		time.Sleep(5 * time.Second)
	}
	fmt.Printf("# every idle peer holds its documents after %s\n", time.Since(start).Round(time.Second))
	return fols, nil
}

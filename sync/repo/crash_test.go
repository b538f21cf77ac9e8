package repo

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store/badgerstore"
	"github.com/segue-fm/segue/sync/docs"
)

const (
	crashDirEnv = "SEGUE_REPO_CRASH_DIR"
	crashDocEnv = "SEGUE_REPO_CRASH_DOC"
	crashRunEnv = "SEGUE_REPO_CRASH_RUN"
)

// crashChild edits a Badger-backed repo as fast as it can, printing
// "ack <track>" after each acknowledged (returned) edit, until killed.
func crashChild(dir, docID, run string) error {
	ctx := context.Background()
	st, err := badgerstore.Open(ctx, dir, badgerstore.DefaultOptions())
	if err != nil {
		return err
	}
	r, err := Open(ctx, st, DefaultOptions().WithCompaction(8, 0))
	if err != nil {
		return err
	}
	var h *Handle
	if docID == "" {
		if h, err = r.CreatePlaylist(ctx, "alice", "Crash"); err != nil {
			return err
		}
	} else {
		id, err := docs.ParseDocumentID(docID)
		if err != nil {
			return err
		}
		if h, err = r.Get(ctx, id); err != nil {
			return err
		}
	}
	fmt.Printf("doc %s\n", h.ID())
	for i := 0; ; i++ {
		track := model.TrackID(fmt.Sprintf("r%s-%d", run, i))
		err := h.Playlist(ctx, func(p *docs.Playlist) error {
			if i%5 == 4 {
				return p.Rename(string(track))
			}
			_, err := p.Add(docs.AtStart(), "alice", track)
			return err
		})
		if err != nil {
			return err
		}
		fmt.Printf("ack %s\n", track)
	}
}

// TestCrashSafety kills -9 a child process in the middle of an edit
// burst on a Badger-backed repo, several times, and checks after each
// reopen that every acknowledged edit is present.
func TestCrashSafety(t *testing.T) {
	if asChild(crashDirEnv, func(dir string) error { return crashChild(dir, os.Getenv(crashDocEnv), os.Getenv(crashRunEnv)) }) {
		return
	}
	dir := t.TempDir()
	docID := ""
	acked := map[model.TrackID]bool{}
	lastName := ""
	for run := range 3 {
		target := 40 + 37*run // kill after this many acks, mid-burst
		n := 0
		killChildAfter(t, "TestCrashSafety", []string{crashDirEnv + "=" + dir, crashDocEnv + "=" + docID, crashRunEnv + "=" + strconv.Itoa(run)}, 30*time.Second, func(f []string) bool {
			if len(f) != 2 {
				return false
			}
			switch f[0] {
			case "doc":
				docID = f[1]
			case "ack":
				n++
				if n%5 == 0 {
					lastName = f[1]
				} else {
					acked[model.TrackID(f[1])] = true
				}
			}
			return n >= target
		})
		if n < target {
			t.Fatalf("run %d: child acknowledged only %d edits", run, n)
		}

		r, closeAll := reopenDir(t, dir, byte(30+run))
		h, have := reopened(t, r, docID)
		for tr := range acked {
			if !have[tr] {
				t.Fatalf("run %d: acknowledged edit %s lost after kill -9", run, tr)
			}
		}
		var info docs.Info
		_ = h.ReadPlaylist(func(p *docs.Playlist) error { var err error; info, err = p.Info(); return err })
		// The name is the last acknowledged rename or a later, unacknowledged one.
		if lastName != "" && editOrder(info.Name) < editOrder(lastName) {
			t.Fatalf("run %d: name %q older than acknowledged rename %q", run, info.Name, lastName)
		}
		closeAll()
		t.Logf("run %d: %d edits acknowledged in total, all present", run, len(acked))
	}
}

// editOrder maps the child's edit name "r<run>-<i>" to a sortable number.
func editOrder(name string) int {
	var run, i int
	if _, err := fmt.Sscanf(name, "r%d-%d", &run, &i); err != nil {
		return -1
	}
	return run*1_000_000 + i
}

const groupCrashDirEnv = "SEGUE_REPO_GROUP_CRASH_DIR"

// groupCrashChild edits eight Badger-backed documents concurrently (so
// their writes share group commits), printing "ack <doc> <track>" after
// each acknowledged edit, until killed.
func groupCrashChild(dir string) error {
	ctx := context.Background()
	st, err := badgerstore.Open(ctx, dir, badgerstore.DefaultOptions())
	if err != nil {
		return err
	}
	r, err := Open(ctx, st, DefaultOptions().WithCompaction(8, 0).WithLoadedDocs(4))
	if err != nil {
		return err
	}
	var out sync.Mutex
	errc := make(chan error, 8)
	for w := range 8 {
		go func() {
			h, err := r.CreatePlaylist(ctx, "alice", fmt.Sprint("Crash ", w))
			if err != nil {
				errc <- err
				return
			}
			for i := 0; ; i++ {
				track := model.TrackID(fmt.Sprintf("w%d-%d", w, i))
				if err := h.Playlist(ctx, func(p *docs.Playlist) error {
					_, err := p.Add(docs.AtStart(), "alice", track)
					return err
				}); err != nil {
					errc <- err
					return
				}
				out.Lock()
				fmt.Printf("ack %s %s\n", h.ID(), track)
				out.Unlock()
			}
		}()
	}
	return <-errc
}

// TestCrashSafetyGroupCommit kills -9 a child process while eight
// goroutines edit eight documents through the group commit (and a
// document budget of four, so documents unload and reload meanwhile),
// then checks that every acknowledged edit is in the store.
func TestCrashSafetyGroupCommit(t *testing.T) {
	if asChild(groupCrashDirEnv, groupCrashChild) {
		return
	}
	dir := t.TempDir()
	acked := map[string][]model.TrackID{}
	n := 0
	killChildAfter(t, "TestCrashSafetyGroupCommit", []string{groupCrashDirEnv + "=" + dir}, 60*time.Second, func(f []string) bool {
		if len(f) == 3 && f[0] == "ack" {
			acked[f[1]] = append(acked[f[1]], model.TrackID(f[2]))
			n++
		}
		return n >= 400
	})
	if n < 400 {
		t.Fatalf("child acknowledged only %d edits", n)
	}
	r, closeAll := reopenDir(t, dir, 40)
	defer closeAll()
	for doc, tracks := range acked {
		_, have := reopened(t, r, doc)
		for _, tr := range tracks {
			if !have[tr] {
				t.Fatalf("acknowledged edit %s of %s lost after kill -9", tr, doc)
			}
		}
	}
	t.Logf("%d edits of %d documents acknowledged, all present", n, len(acked))
}

// asChild reports whether this process is a crash test's child: one
// whose environment variable env names its data directory. It then runs
// child on that directory, exiting with status 2 if child fails.
func asChild(env string, child func(dir string) error) bool {
	dir := os.Getenv(env)
	if dir == "" {
		return false
	}
	if err := child(dir); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	return true
}

// killChildAfter runs this test binary as a child running only the test
// name, with env added to its environment, hands each line the child
// prints, split into fields, to line until line reports done or timeout
// passes, and then kills the child with SIGKILL and waits for it.
func killChildAfter(t *testing.T, name string, env []string, timeout time.Duration, line func(f []string) (done bool)) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	deadline := time.Now().Add(timeout)
	for sc.Scan() && time.Now().Before(deadline) {
		if line(strings.Fields(sc.Text())) {
			break
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

// reopenDir opens the Badger store in dir and a repo on it (openRepo
// with seed); closeAll closes both.
func reopenDir(t *testing.T, dir string, seed byte) (r *Repo, closeAll func()) {
	t.Helper()
	st, err := badgerstore.Open(context.Background(), dir, badgerstore.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	r = openRepo(t, st, seed)
	return r, func() {
		r.Close()
		if err := st.Close(); err != nil {
			t.Error(err)
		}
	}
}

// reopened returns the document doc of r and the tracks of its entries.
func reopened(t *testing.T, r *Repo, doc string) (*Handle, map[model.TrackID]bool) {
	t.Helper()
	id, err := docs.ParseDocumentID(doc)
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.Get(context.Background(), id)
	if err != nil {
		t.Fatalf("reopen %s: %v", doc, err)
	}
	have := map[model.TrackID]bool{}
	for _, e := range entries(t, h) {
		have[e.Track] = true
	}
	return h, have
}

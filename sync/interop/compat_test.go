package interop

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"testing"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/internal/testtool"
)

// TestAutomergeSyncCompat checks that automerge-go's sync messages and
// those of the npm @automerge/automerge the interop client uses are the
// same protocol: a Go document and a JS document converge by exchanging
// raw sync messages with each other.
func TestAutomergeSyncCompat(t *testing.T) {
	node := testtool.Need(t, "node")
	needModules(t)
	tests := []struct {
		name   string
		goList []string
		jsList []string
	}{
		{"both sides have data", []string{"g1", "g2"}, []string{"j1", "j2", "j3"}},
		{"only js has data", nil, []string{"j1"}},
		{"only go has data", []string{"g1"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := automerge.New()
			if tc.goList != nil {
				if err := doc.Path("go").Set(tc.goList); err != nil {
					t.Fatal(err)
				}
				if _, err := doc.Commit("go edit"); err != nil {
					t.Fatal(err)
				}
			}
			cmd := exec.CommandContext(t.Context(), node, append([]string{"ampeer.mjs"}, tc.jsList...)...)
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = testWriter{t}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(out)
			ss := automerge.NewSyncState(doc)
			quiet := 0
			for round := 0; quiet < 2; round++ {
				if round > 20 {
					t.Fatal("no convergence after 20 rounds")
				}
				var msg []byte
				if m, ok := ss.GenerateMessage(); ok {
					msg = m.Bytes()
				}
				if err := writeFrame(stdin, msg); err != nil {
					t.Fatal(err)
				}
				reply, err := readFrame(r)
				if err != nil {
					t.Fatal(err)
				}
				if len(reply) > 0 {
					if _, err := ss.ReceiveMessage(reply); err != nil {
						t.Fatalf("round %d: go cannot read js sync message: %v", round, err)
					}
				}
				if len(msg) == 0 && len(reply) == 0 {
					quiet++
				} else {
					quiet = 0
				}
			}
			stdin.Close()
			final, err := readFrame(r)
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatal(err)
			}
			var jsDoc struct{ Go, JS []string }
			if err := json.Unmarshal(final, &jsDoc); err != nil {
				t.Fatalf("js doc %s: %v", final, err)
			}
			goJS := listOf(t, doc, "js")
			goGo := listOf(t, doc, "go")
			if !slices.Equal(goJS, tc.jsList) || !slices.Equal(jsDoc.JS, tc.jsList) ||
				!slices.Equal(goGo, tc.goList) || !slices.Equal(jsDoc.Go, tc.goList) {
				t.Fatalf("diverged: go doc js=%v go=%v; js doc js=%v go=%v", goJS, goGo, jsDoc.JS, jsDoc.Go)
			}
		})
	}
}

func listOf(t *testing.T, doc *automerge.Doc, key string) []string {
	t.Helper()
	v, err := doc.Path(key).Get()
	if err != nil {
		t.Fatal(err)
	}
	if v.IsVoid() {
		return nil
	}
	s, err := automerge.As[[]string](v)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func writeFrame(w io.Writer, b []byte) error {
	var h [4]byte
	binary.BigEndian.PutUint32(h[:], uint32(len(b)))
	if _, err := w.Write(append(h[:], b...)); err != nil {
		return fmt.Errorf("write frame: %w", err)
	}
	return nil
}

func readFrame(r io.Reader) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, fmt.Errorf("read frame header: %w", err)
	}
	b := make([]byte, binary.BigEndian.Uint32(h[:]))
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("read frame: %w", err)
	}
	return b, nil
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("node: %s", p)
	return len(p), nil
}

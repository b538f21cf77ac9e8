package peer

import (
	"strings"
	"testing"

	"github.com/segue-fm/segue/core/model"
)

// TestPeerNameScopedToUser: a remote with a user gets a name of its
// own per (user, storage id), so two users announcing one storage id
// never share sync states; the same user and storage id always get the
// same name (a reconnecting device resumes); remotes without a user
// (a device's relay) keep the storage id, and ephemeral ones a name per
// session.
func TestPeerNameScopedToUser(t *testing.T) {
	name := func(user model.UserID, storage, remote, nonce string) string {
		n, _ := peerName(user, storage, remote, nonce)
		return n
	}
	for _, c := range []struct {
		desc       string
		a, b       string
		same       bool
		aScoped    bool
		persistent bool
	}{
		{"two users, one storage id", name("alice", "dev-1", "p", "n1"), name("bob", "dev-1", "p", "n2"), false, true, true},
		{"one user, one storage id, two sessions", name("alice", "dev-1", "p1", "n1"), name("alice", "dev-1", "p2", "n2"), true, true, true},
		{"one user, two storage ids", name("alice", "dev-1", "p", "n"), name("alice", "dev-2", "p", "n"), false, true, true},
		{"user and storage id not confused across the separator", name("al", "ice\x00dev", "p", "n"), name("al\x00ice", "dev", "p", "n"), false, true, true},
		{"no user: the storage id itself", name("", "relay-0011", "p", "n"), "relay-0011", true, false, true},
		{"ephemeral: a name per session", name("alice", "", "p", "n1"), name("alice", "", "p", "n2"), false, false, false},
	} {
		t.Run(c.desc, func(t *testing.T) {
			if (c.a == c.b) != c.same {
				t.Fatalf("names %q and %q: same %v, want %v", c.a, c.b, c.a == c.b, c.same)
			}
			if UserScoped(c.a) != c.aScoped {
				t.Fatalf("UserScoped(%q) = %v, want %v", c.a, !c.aScoped, c.aScoped)
			}
			if _, persistent := peerName("alice", map[bool]string{true: "dev-1", false: ""}[c.persistent], "p", "n"); persistent != c.persistent {
				t.Fatalf("persistent %v, want %v", persistent, c.persistent)
			}
			if strings.ContainsRune(c.a, '/') || len(c.a) > maxPeerName {
				t.Fatalf("name %q is not a repo peer name", c.a)
			}
		})
	}
}

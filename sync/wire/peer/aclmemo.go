package peer

import (
	"fmt"
	"sync"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
)

// playlistACL is what DocumentAccess and PlaylistAccess need from a
// document's content: its kind ("" when it has none), whether it is a
// playlist, and its sharing (the owner comes from the caller, not from
// the content).
type playlistACL struct {
	kind          docs.Kind
	playlist      bool
	collaborators []model.UserID
	public        bool
}

// maxACLMemo bounds aclMemo; it is emptied when it would grow beyond.
const maxACLMemo = 4096

// aclMemo caches playlistACL by document heads, for every session of the
// process: the heads identify the document's content (they hash its whole
// history), so an entry can never be stale, and a change to a playlist
// followed by a hundred sessions reads its sharing — one cgo call per
// collaborator — once instead of a hundred times.
var aclMemo = struct {
	sync.Mutex
	m      map[string]playlistACL
	misses uint64
}{m: map[string]playlistACL{}}

// readPlaylistACL returns the sharing of doc, from aclMemo when its
// heads were seen before.
func readPlaylistACL(doc *automerge.Doc) (playlistACL, error) {
	heads := doc.Heads()
	if len(heads) == 0 {
		return playlistACL{}, nil // an empty document is no playlist
	}
	key := make([]byte, 0, len(heads)*len(heads[0]))
	for _, h := range heads {
		key = append(key, h[:]...)
	}
	aclMemo.Lock()
	acl, ok := aclMemo.m[string(key)]
	aclMemo.Unlock()
	if ok {
		return acl, nil
	}
	if k, err := docs.KindOf(doc); err == nil {
		acl.kind = k
	}
	if acl.kind == docs.KindPlaylist {
		p, err := docs.OpenPlaylist(doc, docs.DefaultOptions())
		if err != nil {
			return playlistACL{}, fmt.Errorf("open playlist: %w", err)
		}
		acl.playlist = true
		if _, acl.collaborators, acl.public, err = p.Access(); err != nil {
			return playlistACL{}, err
		}
	}
	aclMemo.Lock()
	if len(aclMemo.m) >= maxACLMemo {
		clear(aclMemo.m)
	}
	aclMemo.m[string(key)] = acl
	aclMemo.misses++
	aclMemo.Unlock()
	return acl, nil
}

package peer

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire"
)

// Errors of the document repository.
var (
	// ErrUnknownDocument is returned for a document the repository does
	// not hold.
	ErrUnknownDocument = errors.New("peer: unknown document")
	// ErrForbidden is returned when a peer without write access sends
	// changes the document does not already contain.
	ErrForbidden = errors.New("peer: not allowed to change this document")
	// ErrExists is returned by Repo.Create for a document that has
	// changes already (another session created it first).
	ErrExists = errors.New("peer: document exists")
	// ErrACLMoved is returned by Repo.Generate and Repo.Receive when the
	// document's ACL revision moved after the access decision.
	ErrACLMoved = errors.New("peer: document's ACL revision moved")
)

// Repo is the document repository a Session syncs. Peer names are
// non-empty and contain no '/'; the session derives them from the
// remote's storage id (persistent) or from its peer id (ephemeral).
// RepoAdapter implements it over sync/repo.
type Repo interface {
	// Has reports whether the repository holds id with at least one
	// change (an empty placeholder does not count).
	Has(ctx context.Context, id docs.DocumentID) (bool, error)
	// View calls fn with the document under its lock; fn only reads it
	// and does not retain it. ErrUnknownDocument for an unknown id.
	View(ctx context.Context, id docs.DocumentID, fn func(doc *automerge.Doc) error) error
	// ViewAt is View that also passes the document's ACL revision: a
	// number that changes whenever a value of docs.ACLFields may have
	// changed (every content change except changes that passed the
	// collaborators' ACL check and neutral changes, which touch none of
	// docs.RecordFields) and is never reused, under which a result
	// computed from those fields may be cached (see
	// repo.Handle.ReadACLAt).
	ViewAt(ctx context.Context, id docs.DocumentID, fn func(doc *automerge.Doc, rev uint64) error) error
	// Receive applies a sync message from peer to id (created when
	// unknown) and persists the changes and the sync state before it
	// returns. When acc.Write is false and the message carries a change
	// the document lacks, nothing is applied and the error wraps
	// ErrForbidden; when acc.Manage is false and a new change touches a
	// field only the owner may change (docs.CheckACLUntouched), nothing
	// is applied and the error wraps docs.ErrACLChange. Checked changes
	// whose dependencies have not arrived are held back (bounded, see
	// repo.HoldLimits; past the bounds the error wraps
	// repo.ErrHoldLimit) and checked once a later message of the same
	// peer brings their dependencies; the next message for peer asks
	// for those. A message refused by these checks still has its heads
	// (those the document holds), needs and Bloom filter applied, so the
	// sync state with peer moves on and the next Generate answers it;
	// its changes are discarded (the error wraps repo.ErrRejected).
	// user is the remote's authenticated user (empty: none, the relay
	// as a device sees it), for the repository's actor binding
	// (repo.Incoming.Writer; acc.Manage makes it the owner); a remote
	// with a user has its changes guarded before automerge sees them
	// (repo.Incoming.Guard).
	//
	// acc was decided at the document's ACL revision aclRev (ViewAt):
	// when the revision has moved, Receive applies nothing, leaves the
	// sync state with peer as it was and returns an error wrapping
	// ErrACLMoved, so a write never lands under a decision that a change
	// of the ACL fields (the writer's removal, say) has overtaken.
	Receive(ctx context.Context, peer string, user model.UserID, id docs.DocumentID, data []byte, acc Access, aclRev uint64) error
	// SetAside rebuilds id without the local changes peer refused under
	// rule (a wire.Refusal* value; others set nothing aside) and every
	// change depending on them, and starts the document's sync states
	// afresh (repo.Repo.SetAside); it returns how many changes it set
	// aside.
	SetAside(ctx context.Context, peer string, id docs.DocumentID, rule string) (int, error)
	// Create stores a document the repository does not hold yet from its
	// first sync message; record runs in the store transaction that
	// first stores it (nothing is stored when it fails). When the
	// document has changes already the error wraps ErrExists. user is
	// the creating user (empty: none), who owns the document's actors.
	Create(ctx context.Context, peer string, user model.UserID, id docs.DocumentID, data []byte, record func(tx store.Txn) error) error
	// Generate returns the next sync message for peer, or ok false when
	// there is nothing to send, provided the document's ACL revision is
	// still aclRev (the one ViewAt passed to the access decision the
	// message is sent under); otherwise it generates nothing, leaves the
	// sync state with peer as it was and returns an error wrapping
	// ErrACLMoved. A message fits one frame with its envelope
	// (wire.MaxSyncData): changes beyond it wait for the next message;
	// one that cannot fit even so returns an error wrapping
	// wire.ErrSyncTooLarge, which refuses this document only. The bytes
	// are the caller's.
	Generate(ctx context.Context, peer string, id docs.DocumentID, aclRev uint64) (data []byte, ok bool, err error)
	// IDs returns every stored document id.
	IDs(ctx context.Context) ([]docs.DocumentID, error)
	// Watch calls fn (which must not block) with the id of every
	// document that changed, locally or remotely, until cancel.
	Watch(fn func(id docs.DocumentID)) (cancel func())
	// Disconnected drops in-memory sync sessions with peer; forget also
	// deletes its persisted sync states (ephemeral peers).
	Disconnected(ctx context.Context, peer string, forget bool) error
	// Announce returns a sync message telling peer the document's heads
	// (from the persisted state with peer: no changes, a filter over
	// nothing or little) without advancing the live sync state; a
	// session sends it when automerge itself has nothing to say.
	// ErrUnknownDocument for an unknown id. The bytes are the caller's.
	Announce(ctx context.Context, peer string, id docs.DocumentID) ([]byte, error)
	// InSync reports whether the persisted sync state with peer records
	// the document's current heads as shared: both sides hold exactly
	// the same changes as of the last message received from peer.
	InSync(ctx context.Context, peer string, id docs.DocumentID) (bool, error)
}

// RepoAdapter serves a sync/repo.Repo to Sessions: documents persist as
// snapshot + increments, sync states under sync/<peer>/<doc> (see
// docs/ARCHITECTURE.md §5–6). It adds no state of its own, so any number
// of sessions (relay, LAN peers) may share one adapter.
type RepoAdapter struct {
	R *repo.Repo
	// Own is the device's own user, empty on the relay: a LAN peer of
	// that user (another of the user's devices) writes under any actor
	// id, as the document's owner does (repo.Incoming.Owner), so the
	// actor binding (repo.WithActorBinding) holds back only other users'
	// changes under actors they did not bring.
	Own model.UserID
}

// NewRepoAdapter returns an adapter over r; the caller keeps ownership
// of r and closes it after the last session ended.
func NewRepoAdapter(r *repo.Repo) *RepoAdapter { return &RepoAdapter{R: r} }

// Has implements Repo.
func (a *RepoAdapter) Has(ctx context.Context, id docs.DocumentID) (bool, error) {
	h, err := a.R.Get(ctx, id)
	if errors.Is(err, repo.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return !h.Empty(), nil
}

// View implements Repo.
func (a *RepoAdapter) View(ctx context.Context, id docs.DocumentID, fn func(doc *automerge.Doc) error) error {
	h, err := a.R.Get(ctx, id)
	if errors.Is(err, repo.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrUnknownDocument, id)
	}
	if err != nil {
		return err
	}
	return h.Read(fn)
}

// ViewAt implements Repo.
func (a *RepoAdapter) ViewAt(ctx context.Context, id docs.DocumentID, fn func(doc *automerge.Doc, rev uint64) error) error {
	h, err := a.R.Get(ctx, id)
	if errors.Is(err, repo.ErrNotFound) {
		return fmt.Errorf("%w: %s", ErrUnknownDocument, id)
	}
	if err != nil {
		return err
	}
	return h.ReadACLAt(fn)
}

// DeviceReceiver is a Repo whose Receive also takes the remote's device
// (its certificate's, on the LAN): the actor binding then takes the
// actors carrying that device's prefix as the remote's own
// (repo.Incoming.ActorPrefix). RepoAdapter implements it; a LAN node
// uses it when its Repo does.
type DeviceReceiver interface {
	// ReceiveFrom is Repo.Receive from device (empty: not known).
	ReceiveFrom(ctx context.Context, peer string, user model.UserID, device model.DeviceID, id docs.DocumentID, data []byte, acc Access, aclRev uint64) error
}

// Receive implements Repo. The checks run under the document's lock on
// the changes the message would add, so nothing can slip in between the
// check and the apply.
func (a *RepoAdapter) Receive(ctx context.Context, peer string, user model.UserID, id docs.DocumentID, data []byte, acc Access, aclRev uint64) error {
	return a.ReceiveFrom(ctx, peer, user, "", id, data, acc, aclRev)
}

// ReceiveFrom implements DeviceReceiver.
func (a *RepoAdapter) ReceiveFrom(ctx context.Context, peer string, user model.UserID, device model.DeviceID, id docs.DocumentID, data []byte, acc Access, aclRev uint64) error {
	// A remote with a user of its own is not the relay (whose sessions
	// on a device have none): a LAN peer, whose changes automerge must
	// not see unguarded.
	in := repo.Incoming{Guard: user != "", ACLRev: &aclRev}
	if device != "" {
		in.ActorPrefix = repo.ActorPrefix(device)
	}
	switch {
	case !acc.Write:
		// Every change it lacks is refused: no actor to bind.
		in.Check = func(_ *automerge.Doc, fresh []*automerge.Change) error {
			if len(fresh) > 0 {
				return ErrForbidden
			}
			return nil
		}
	case !acc.Manage:
		in.CheckACL = true
		in.Writer = user
		in.Owner = user == a.Own
	default:
		in.Writer, in.Owner = user, true
	}
	err := a.R.ReceiveSyncMessageWith(ctx, repo.PeerID(peer), id, data, in)
	if errors.Is(err, repo.ErrACLMoved) {
		return fmt.Errorf("%w: %s", ErrACLMoved, id)
	}
	if err != nil {
		return fmt.Errorf("receive %s: %w", id, err)
	}
	return nil
}

// SetAside implements Repo. Under wire.RefusalReadOnly every change the
// peer does not hold is refused; under wire.RefusalACL those that touch
// a field only the owner may change (docs.ACLCheck, the relay's rule for
// collaborators), and those the check cannot read; under
// wire.RefusalContent those docs.CheckContent refuses; under
// wire.RefusalFull those that add playlist entries
// (docs.ChangeOps.AddsEntries), and those it cannot read.
func (a *RepoAdapter) SetAside(ctx context.Context, peer string, id docs.DocumentID, rule string) (int, error) {
	var refused repo.RefusedFunc
	switch rule {
	case wire.RefusalReadOnly:
		refused = func(*automerge.Doc, *automerge.Change) (bool, error) { return true, nil }
	case wire.RefusalACL:
		var chk docs.ACLCheck
		defer chk.Reset()
		refused = func(base *automerge.Doc, c *automerge.Change) (bool, error) {
			err := chk.Check(base, []*automerge.Change{c})
			if errors.Is(err, docs.ErrACLChange) || errors.Is(err, docs.ErrUnreadableChange) {
				return true, nil
			}
			return false, err
		}
	case wire.RefusalContent:
		refused = func(_ *automerge.Doc, c *automerge.Change) (bool, error) {
			ops, err := docs.DecodeChangeOps(c.Save())
			if err != nil {
				return false, err
			}
			return docs.CheckContent(ops) != nil, nil
		}
	case wire.RefusalFull:
		refused = func(_ *automerge.Doc, c *automerge.Change) (bool, error) {
			ops, err := docs.DecodeChangeOps(c.Save())
			return err != nil || ops.AddsEntries(), nil
		}
	default:
		return 0, nil
	}
	n, err := a.R.SetAside(ctx, repo.PeerID(peer), id, refused)
	if err != nil {
		return n, fmt.Errorf("set aside %s: %w", id, err)
	}
	return n, nil
}

// Create implements Repo.
func (a *RepoAdapter) Create(ctx context.Context, peer string, user model.UserID, id docs.DocumentID, data []byte, record func(tx store.Txn) error) error {
	if record == nil {
		record = func(store.Txn) error { return nil }
	}
	err := a.R.ReceiveSyncMessageWith(ctx, repo.PeerID(peer), id, data, repo.Incoming{Create: record, Writer: user, Owner: true})
	if errors.Is(err, repo.ErrExists) {
		return fmt.Errorf("create %s: %w", id, ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create %s: %w", id, err)
	}
	return nil
}

// Generate implements Repo.
func (a *RepoAdapter) Generate(ctx context.Context, peer string, id docs.DocumentID, aclRev uint64) ([]byte, bool, error) {
	data, ok, err := a.R.GenerateSyncMessageAt(ctx, repo.PeerID(peer), id, aclRev)
	if errors.Is(err, repo.ErrACLMoved) {
		return nil, false, fmt.Errorf("%w: %s", ErrACLMoved, id)
	}
	return data, ok, err
}

// IDs implements Repo.
func (a *RepoAdapter) IDs(ctx context.Context) ([]docs.DocumentID, error) { return a.R.List(ctx) }

// Watch implements Repo over one repo subscription (its own goroutine,
// which ends with cancel).
func (a *RepoAdapter) Watch(fn func(id docs.DocumentID)) func() {
	ch, cancel := a.R.Subscribe(docs.DocumentID{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range ch {
			fn(e.Doc)
		}
	}()
	return func() { cancel(); <-done }
}

// Disconnected implements Repo.
func (a *RepoAdapter) Disconnected(ctx context.Context, peer string, forget bool) error {
	if forget {
		return a.R.ForgetPeer(ctx, repo.PeerID(peer))
	}
	a.R.PeerDisconnected(repo.PeerID(peer))
	return nil
}

// maxPeerName bounds a storage id used verbatim as a repo peer name.
const maxPeerName = 128

// peerName maps a remote to the repo's peer name: its storage id when it
// is a plain token (automerge-repo uses UUIDs), a hash of it otherwise;
// ephemeral peers (no storage id) get "eph." + a hash of their peer id
// and a per-session nonce, forgotten when the session ends. A remote
// with an authenticated user (the relay's sessions, a device's LAN
// peers) gets "u." + a hash of the user and the storage id instead
// (UserScoped): a storage id is only the remote's claim — a device's is
// its device id, which other users' devices see on the LAN — so one
// user announcing another's storage id reaches sync states and held
// changes of its own, never the other user's. Plain tokens never
// contain '.', so the forms cannot collide.
func peerName(user model.UserID, storage, remoteID, nonce string) (name string, persistent bool) {
	if storage == "" {
		sum := sha256.Sum256([]byte(remoteID + "\x00" + nonce))
		return "eph." + hex.EncodeToString(sum[:16]), false
	}
	if user != "" {
		// The user's length first: no other (user, storage) pair
		// hashes the same bytes.
		b := binary.AppendUvarint(nil, uint64(len(user)))
		sum := sha256.Sum256(append(append(b, user...), storage...))
		return userScopedPrefix + hex.EncodeToString(sum[:16]), true
	}
	if len(storage) <= maxPeerName && plainToken(storage) {
		return storage, true
	}
	sum := sha256.Sum256([]byte(storage))
	return "h." + hex.EncodeToString(sum[:16]), true
}

// userScopedPrefix starts the repo peer names of remotes with a user.
const userScopedPrefix = "u."

// UserScoped reports whether name, a repo peer name, is scoped to an
// authenticated user (peerName). A relay, all of whose remotes have
// one, keeps only such sync states: others were stored, before names
// were scoped, under the storage id alone (see
// repo.Repo.DropSyncStates).
func UserScoped(name string) bool { return strings.HasPrefix(name, userScopedPrefix) }

func plainToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == ':'
		if !ok {
			return false
		}
	}
	return true
}

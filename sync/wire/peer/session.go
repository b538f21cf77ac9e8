package peer

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/msync"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire"
)

// ErrRemote wraps an error message received from the remote peer.
var ErrRemote = errors.New("peer: remote error")

// ErrLimit is returned by a Conn when the remote exceeds a limit (frame
// size, message rate, documents per user); the session tells the remote
// with an error message before closing.
var ErrLimit = errors.New("peer: limit exceeded")

// ErrProtocol is returned when the remote peer breaks the protocol (a
// message before join, an unsupported protocol version, an invalid
// document id).
var ErrProtocol = errors.New("peer: protocol violation")

// Conn is one message-oriented connection to a remote peer: a WebSocket
// (one binary frame per message) or a libp2p stream (length-prefixed
// frames). Recv and Send may be called concurrently with each other but
// each by one goroutine at a time. Recv returns once its ctx ends, or
// its owner closes the connection when Session.Run's context ends
// (Run reads on its caller's goroutine and returns after Recv does).
type Conn interface {
	Recv(ctx context.Context) (*wire.Message, error)
	Send(ctx context.Context, m *wire.Message) error
}

// Binder is implemented by a Conn whose reads and writes can be tied to
// one context (WSConn.Bind): Run binds its own context for the session's
// life, so that ending it closes the connection, and releases it before
// it returns.
type Binder interface {
	Bind(ctx context.Context) (release func() bool)
}

var _ Binder = (*WSConn)(nil)

// Access is what a user may do with a document: read it, write it,
// and manage it (change the fields only its owner may change:
// docs.ACLFields). A writer who may not manage has every change checked
// with docs.CheckACLUntouched.
type Access struct{ Read, Write, Manage bool }

// Authorizer decides a user's access to a document from its owner and
// its current content. owner is the owner the session trusts: the
// relay's record (Session.Owner), or the document's own owner field
// where the session keeps no record (devices, LAN peers). It must be a
// pure function of its arguments that reads of doc only docs.ACLFields —
// or more, within docs.RecordFields, only of documents on which it
// grants Write to no one without Manage: sessions reuse a result while
// the document's ACL revision (Repo.ViewAt) stays, which neither a
// neutral change (one touching none of docs.RecordFields) nor a
// collaborator's checked change (one touching none of docs.ACLFields)
// moves (PlaylistAccess, DocumentAccess and AllowAll qualify;
// ServiceAccess reads the listener field but grants no Write).
type Authorizer func(user, owner model.UserID, doc *automerge.Doc) (Access, error)

// AllowAll grants everything to everyone; devices use it for the relay,
// which has already authorised what it sends.
func AllowAll(model.UserID, model.UserID, *automerge.Doc) (Access, error) {
	return Access{Read: true, Write: true, Manage: true}, nil
}

// PlaylistAccess is the relay's rule (DESIGN §5): a playlist is readable
// by its owner, its collaborators and, when public, by everyone;
// writable only by owner and collaborators; manageable (owner,
// collaborators, public) only by its owner. Collaborators and public
// come from the content (read once per document content, see aclMemo),
// the owner from the caller. A document that is not a playlist grants
// nothing.
func PlaylistAccess(user, owner model.UserID, doc *automerge.Doc) (Access, error) {
	acl, err := readPlaylistACL(doc)
	if err != nil {
		return Access{}, err
	}
	return playlistAccess(user, owner, acl), nil
}

// playlistAccess is PlaylistAccess with the document's facts read.
func playlistAccess(user, owner model.UserID, acl playlistACL) Access {
	if !acl.playlist {
		return Access{}
	}
	own := user != "" && user == owner
	w := own || user != "" && slices.Contains(acl.collaborators, user)
	return Access{Read: w || acl.public, Write: w, Manage: own}
}

// DocumentAccess is the rule for every document kind: a library is
// readable, writable and manageable by its owner only (all devices of
// one user); a playlist follows PlaylistAccess, or ServiceAccess when
// its owner is docs.ServiceUser; anything else grants nothing.
//
// The document's kind and sharing come from aclMemo (one read per
// document content for every session of the process, not one per
// session).
func DocumentAccess(user, owner model.UserID, doc *automerge.Doc) (Access, error) {
	acl, err := readPlaylistACL(doc)
	if err != nil {
		return Access{}, err
	}
	switch acl.kind {
	case docs.KindLibrary:
		own := user != "" && owner == user
		return Access{Read: own, Write: own, Manage: own}, nil
	case docs.KindPlaylist:
		if owner == docs.ServiceUser {
			return ServiceAccess(user, doc), nil
		}
		return playlistAccess(user, owner, acl), nil
	default:
		return Access{}, nil
	}
}

// ServiceAccess is the rule for a playlist whose trusted owner is
// docs.ServiceUser (Discover Weekly, Daily Mixes, Release Radar): its
// listener may read it, no remote peer may write or manage it (the
// relay writes it locally), anyone else gets nothing. Only call it when
// the owner comes from the relay's record; the listener field is then
// trustworthy because only the service writes the document.
func ServiceAccess(user model.UserID, doc *automerge.Doc) Access {
	s, ok := docs.ServiceOf(doc)
	if !ok || user == "" || s.Listener != user {
		return Access{}
	}
	return Access{Read: true}
}

// Session runs the document part of the automerge-repo protocol with one
// remote peer after the join/peer handshake: it answers sync and request
// messages, applies what the remote user may write, and pushes local
// changes of every document the remote has shown interest in (every
// document it may read, with FollowAll).
//
// Sync states live in the Repo under the remote's storage id — scoped
// to User when it is set — so a reconnecting peer resumes from the
// heads both sides shared; two concurrent sessions of one user with one
// storage id share that state, which is correct but may resend changes.
type Session struct {
	Repo  Repo
	Authz Authorizer
	// User is the remote peer's user, the subject of Authz. When set, a
	// document the remote creates must name User as its owner field.
	// Devices leave it empty for the relay, whose documents they trust.
	User model.UserID
	// LocalID and RemoteID are the peer ids; RemoteStorage is the remote
	// storage id under which sync states persist ("" for an ephemeral
	// peer, whose states are forgotten when the session ends).
	LocalID, RemoteID, RemoteStorage string
	Conn                             Conn
	// FollowAll pushes every document that changes and that the remote
	// may read, not only those the remote asked about (devices set it:
	// a new local playlist reaches the relay without a request).
	FollowAll bool
	// OfferAll makes Run offer every document of Repo (Repo.IDs), as
	// Want would, once it watches the repository for changes: listed
	// before Run, a document created between the listing and the watch
	// reached the remote only with its next change.
	OfferAll bool
	// OnEphemeral, when set, receives the ephemeral messages of documents
	// the remote user may read.
	OnEphemeral func(m *wire.Message)
	// Owner, when set (the relay), returns the recorded owner of a
	// document ("" when none is recorded); Authz then decides with it,
	// never with the document's owner field, and a document may only be
	// created by its recorded owner (a library only where its owner's id
	// is recorded: ids are assigned, not claimed). When nil, the owner
	// is the document's owner field.
	Owner func(ctx context.Context, id docs.DocumentID) (model.UserID, error)
	// OnCreate, when set, runs in the store transaction that first
	// stores a document the remote creates (the relay records its owner
	// and counts it there). An error refuses the document; nothing of it
	// is stored and the remote is told with an error message naming it.
	OnCreate func(tx store.Txn, id docs.DocumentID) error
	// MayCreate, when set, is asked before a document the remote
	// creates is even read: unless it reports true the creation is
	// refused (ErrForbidden). Devices set it for LAN peers: only the
	// user's own devices may bring new documents (core.Docs.StartLAN).
	MayCreate func(ctx context.Context, id docs.DocumentID) (bool, error)
	// OnRefused, when set, is called when the remote refuses a document:
	// an error message naming it (a refused write or creation), or
	// doc-unavailable (it may not read it, or does not hold it); and when
	// this side cannot send it: its next sync message does not fit a
	// frame even with changes left for later (wire.ErrSyncTooLarge),
	// which the remote is told as a refusal too.
	OnRefused func(id docs.DocumentID, reason string)
	// SetAsideRefused makes the session set aside the local changes the
	// remote refuses (devices set it for their relay): when an error
	// message names a document and the rule that refused its changes
	// (wire.Message.Refusal), the document is rebuilt without them
	// (Repo.SetAside) before OnRefused runs, so that it syncs again.
	SetAsideRefused bool
	// OnSetAside, when set, is called after OnRefused with the number of
	// changes SetAsideRefused set aside from the document (when any).
	OnSetAside func(id docs.DocumentID, n int)
	// OnAccepted, when set, is called when a sync message from the
	// remote shows that it holds every change of the local document:
	// whatever it refused before has been settled.
	OnAccepted func(id docs.DocumentID)
	// OnSynced, when set, is called after every sync message exchanged.
	OnSynced func(id docs.DocumentID, at time.Time)
	// OnUnavailable, when set, is called when the remote answers that it
	// has no document id (or may not share it).
	OnUnavailable func(id docs.DocumentID)
	// OnRevocation, when set, receives the data of the remote's
	// device-revoked messages (wire.TypeDeviceRevoked: a notice the
	// callee must verify); without it they are ignored.
	OnRevocation func(notice []byte)
	// OnActivity, when set, receives the remote's friend-activity
	// messages (wire.TypeActivitySubscribe, TypeActivityUnsubscribe,
	// TypeActivity, TypeActivityRefused, TypeActivityPublish) on the
	// session's goroutine; it must not block beyond a bounded store read. An error ends the session (the remote is told when
	// it wraps ErrProtocol or ErrLimit). Without it they are ignored.
	OnActivity func(m *wire.Message) error
	// OnPush, when set, is called just before each sync or request
	// message the session sends of its own accord rather than in answer
	// to one of the remote's messages: a followed document's changes,
	// Want, the release of a document held for Pace or Window. An answer
	// that went out in place of such a push counts too: one carrying the
	// changes a hold kept back, and one to a message without changes
	// (an acknowledgement) that carries changes made since the session's
	// last sync message for the document (a change that arrived while
	// the acknowledgement was handled, before its push left). Other
	// answers to the remote's messages — to a request, to its changes,
	// to a need for changes it was sent before — refusals,
	// doc-unavailable and forwarded ephemeral messages do not count. The
	// relay's rate limiter lets the remote answer each push without
	// spending its own rate (relaysync).
	OnPush func()
	// PushRate, when positive (devices set it for the relay), bounds the
	// session's pushes (the messages OnPush counts: Want, local changes)
	// to PushRate per second on Now, with bursts of PushBurst (at least
	// 1): past them the flusher stops and the documents stay dirty until
	// a timer (AfterFunc) lets the next push go. The relay counts what a
	// remote starts itself against the connection's rate
	// (relaysync.WithRate), so a device reconnecting with hundreds of
	// documents, which wants them all at once, would otherwise be closed
	// before its first sync of them ends. Zero pushes at once.
	PushRate, PushBurst float64
	// Now is the clock given to OnSynced; nil means time.Now.
	Now func() time.Time
	// Pace, when positive (the relay sets it), paces the sync messages
	// of a document to one per round trip with the remote: while the
	// last message that carried changes has not been answered (no sync
	// message for the document has come back since), the document's
	// next message waits, for at most Pace, and the changes that arrive
	// meanwhile leave together — in the answer to the remote's reply, or
	// when Pace has passed. A burst of edits on a document with many
	// followers then costs each follower one message and one
	// acknowledgement per round trip, not one per change. Zero (devices)
	// sends every change at once.
	Pace time.Duration
	// Window, when positive (the relay sets it), sends a document's sync
	// messages that carry changes at most once per Window: changes that
	// arrive sooner after the last such message wait, and leave together
	// when the window ends. A message from the remote that carries
	// changes (an edit) or asks for the document is still answered at
	// once, and the answer takes whatever waits with it; a remote's
	// message without changes (an acknowledgement) that comes while the
	// document waits is applied at once and answered at the window's end.
	// A busy document then costs each follower one message and one
	// acknowledgement per window, however many changes it takes; a
	// change reaches a follower at most Window later. Measured on Now.
	// Zero (devices) holds nothing for a window.
	Window time.Duration
	// AfterFunc runs f after d and returns a function that cancels it
	// (the timers of Pace and Window); nil means time.AfterFunc.
	AfterFunc func(d time.Duration, f func()) (stop func() bool)
	Log       *slog.Logger
	// Fanout, when set, delivers change notifications to this session
	// only for the documents it follows (and for all with FollowAll);
	// sessions sharing a Repo should share one Fanout. When nil the
	// session watches the whole Repo itself, which costs every session a
	// wake-up per change: fine for a device's few sessions, not for a
	// relay's thousands.
	Fanout *Fanout

	// work is the session's turn: handling one received message and
	// flushing the dirty documents take it, so they run one at a time
	// and in order, as in a single loop.
	work sync.Mutex
	// flushers counts the running flusher goroutine (at most one); Run
	// waits for it before dropping the sync states.
	flushers sync.WaitGroup

	// names caches the documents' ids and their text forms.
	names docNames

	mu      sync.Mutex
	authz   map[docs.DocumentID]authzEntry // Authz results by document heads
	dirty   map[docs.DocumentID]bool
	sent    map[docs.DocumentID]uint64 // a sync message went out in this session: its heads' print
	follows map[docs.DocumentID]bool
	// unknownFollows counts the follows registered by requests for
	// documents this side did not hold (followUnknown).
	unknownFollows int
	// runCtx is Run's context while Run serves (nil before and after):
	// markDirty starts a flusher on it. flushing is true while a flusher
	// goroutine is started and has not seen the dirty set empty.
	runCtx    context.Context
	stopRun   context.CancelFunc
	flushing  bool
	flushErr  error                    // the first error that ended a flusher; Run returns it
	requested map[docs.DocumentID]bool // requests not answered yet (see request)
	refusals  map[docs.DocumentID]int  // answers refusing each document
	refusing  map[docs.DocumentID]bool // a refusal being set aside and reported (InSync)
	// behind marks the documents whose last sync message from the remote
	// named heads this side lacks (a message cut to fit a frame: the
	// rest follows), read with OnAccepted's heads (InSync).
	behind     map[docs.DocumentID]bool
	refusalSeq uint64 // refusals begun in this session (InSync)
	peer       string
	persistent bool
	// last holds, for Pace and Window, when each document's last sync
	// message with changes left and whether it was answered; paced the
	// documents whose next message waits, with the timer that sends it
	// at the latest.
	last  map[docs.DocumentID]lastSent
	paced map[docs.DocumentID]*paceTimer
	// answering is what OnPush needs to know of the remote's message
	// being handled; used under work only.
	answering answering
	// warnedRefusals counts the remote's error messages naming a
	// document (maxWarnedRefusals); used under work only.
	warnedRefusals int
	// pushTokens and pushAt are PushRate's bucket and when it was last
	// filled (used under work); pushTimer, under mu, is the pending
	// restart of the flusher once a push is allowed again.
	pushTokens float64
	pushAt     time.Time
	pushTimer  *paceTimer
}

// answering describes the remote's sync or request message being
// handled, for OnPush: its document, whether it ended a hold (its
// answer carries the push the hold kept back) and whether it carried
// no changes (a sync message acknowledging or asking).
type answering struct {
	id        docs.DocumentID
	set       bool
	held, ack bool
}

func (s *Session) init() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sent == nil {
		s.sent = map[docs.DocumentID]uint64{}
		s.follows = map[docs.DocumentID]bool{}
		s.authz = map[docs.DocumentID]authzEntry{}
		if s.AfterFunc == nil {
			s.AfterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
		}
		var nonce [8]byte
		_, _ = rand.Read(nonce[:])
		s.peer, s.persistent = peerName(s.User, s.RemoteStorage, s.RemoteID, string(nonce[:]))
		if s.Log == nil {
			s.Log = slog.Default()
		}
		if s.Now == nil {
			s.Now = time.Now
		}
	}
}

// markDirty schedules id for a flush: while Run serves, a flusher
// goroutine is started unless one already runs (it lives only until the
// dirty set is empty, so an idle session holds none). A held document
// (Pace, Window) is left to its release, which flushes it: a busy
// document's changes then cost a held follower no flusher each.
func (s *Session) markDirty(id docs.DocumentID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.paced[id] != nil {
		return
	}
	put(&s.dirty, id, true)
	s.startFlusherLocked()
}

// startFlusherLocked starts a flusher when Run serves, documents are
// dirty and none runs. s.mu is held.
func (s *Session) startFlusherLocked() {
	if s.runCtx == nil || s.flushing || len(s.dirty) == 0 || s.pushTimer != nil {
		return
	}
	s.flushing = true
	s.flushers.Add(1)
	ctx, stop := s.runCtx, s.stopRun
	flushPool.Go(func() { s.flusher(ctx, stop) })
}

// flusher flushes the dirty documents in the session's turn until none
// is left, then exits. An error ends the session: the remote is told
// (fail) and stop cancels Run's context, which ends its read.
func (s *Session) flusher(ctx context.Context, stop context.CancelFunc) {
	defer s.flushers.Done()
	for {
		s.work.Lock()
		var err error
		if ctx.Err() == nil {
			err = s.flushDirty(ctx)
		}
		s.work.Unlock()
		if err != nil {
			err = s.end(ctx, err)
			s.mu.Lock()
			if s.flushErr == nil {
				s.flushErr = err
			}
			s.flushing = false
			s.mu.Unlock()
			stop()
			return
		}
		s.mu.Lock()
		if len(s.dirty) == 0 || ctx.Err() != nil || s.pushTimer != nil {
			// Done, or waiting for PushRate: its timer restarts it.
			s.flushing = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
}

// changed is the Repo watch callback.
func (s *Session) changed(id docs.DocumentID) {
	s.mu.Lock()
	follow := s.FollowAll || s.follows[id]
	s.mu.Unlock()
	if follow {
		s.markDirty(id)
	}
}

// Want schedules documents for syncing with the remote: a document held
// locally is offered with a sync message, one not held is asked for with
// a request message.
func (s *Session) Want(ids ...docs.DocumentID) {
	s.init()
	for _, id := range ids {
		s.markDirty(id)
	}
}

// Run serves the session until ctx ends, the connection fails or the
// remote breaks the rules (then an error message is sent first). It
// returns nil only when ctx was cancelled. When it returns, the
// in-memory sync states with the remote are dropped (persisted ones
// stay for a persistent peer).
//
// Run reads the connection on the calling goroutine and handles each
// message there; documents to flush (changes of followed documents,
// Want) are sent by a flusher goroutine that exits once none is left, so
// an idle session holds only the goroutine that called Run. Handling and
// flushing take turns, one at a time. Run relies on Conn.Recv returning
// once ctx ends (or the connection's owner closing it).
func (s *Session) Run(ctx context.Context) error {
	s.init()
	q := queuedConnFrom(ctx)
	if q != nil {
		// The relay's connection (ConnContext): writes of one burst
		// go out in one system call.
		q.Queue()
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	release := func() bool { return true }
	if b, ok := s.Conn.(Binder); ok {
		release = b.Bind(ctx)
	}
	var unwatch func()
	if s.Fanout != nil {
		unwatch = s.Fanout.add(s)
	} else {
		unwatch = s.Repo.Watch(s.changed)
	}
	s.mu.Lock()
	s.runCtx, s.stopRun, s.flushErr = ctx, cancel, nil
	s.startFlusherLocked() // documents wanted before Run
	s.mu.Unlock()
	defer func() {
		// Before cancel: the connection stays open for its owner's
		// close handshake.
		release()
		unwatch()
		s.mu.Lock()
		s.runCtx, s.stopRun = nil, nil
		s.unpaceLocked()
		s.mu.Unlock()
		cancel()
		s.flushers.Wait()
		if err := s.Repo.Disconnected(context.WithoutCancel(ctx), s.peer, !s.persistent); err != nil {
			s.Log.Warn("peer: drop sync states", "peer", s.peer, "err", err)
		}
	}()
	if s.OfferAll {
		ids, err := s.Repo.IDs(ctx)
		if err != nil {
			return fmt.Errorf("peer: list documents to offer: %w", err)
		}
		s.Want(ids...)
	}
	for {
		m, err := s.Conn.Recv(ctx)
		if err != nil {
			if q != nil {
				if werr := q.writeErr(); werr != nil {
					// The read failed because the failed write
					// closed the connection.
					return werr
				}
			}
			return s.ended(ctx, err)
		}
		s.work.Lock()
		err = s.handle(ctx, m)
		s.work.Unlock()
		if err != nil {
			if ferr := s.flusherErr(); ferr != nil {
				return ferr
			}
			return s.end(ctx, err)
		}
	}
}

// flusherErr returns the error that ended a flusher, if any.
func (s *Session) flusherErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flushErr
}

// ended is Run's result for a failed read: a flusher's error when one
// ended the session (the read failed because the flusher cancelled it),
// nil when ctx was cancelled, else fail(err).
func (s *Session) ended(ctx context.Context, err error) error {
	if ferr := s.flusherErr(); ferr != nil {
		return ferr
	}
	if ctx.Err() != nil {
		return nil
	}
	return s.fail(ctx, err)
}

// end returns nil when ctx was cancelled (the error is then the
// cancellation's echo, e.g. a persist cut short), else fail(err).
func (s *Session) end(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return s.fail(ctx, err)
}

// fail tells the remote why the session ends (for rule violations) and
// returns err.
func (s *Session) fail(ctx context.Context, err error) error {
	if errors.Is(err, ErrForbidden) || errors.Is(err, ErrProtocol) || errors.Is(err, ErrLimit) ||
		errors.Is(err, wire.ErrMalformed) || errors.Is(err, wire.ErrFrameTooLarge) {
		_ = s.Conn.Send(ctx, wire.ErrorMessage(s.LocalID, s.RemoteID, err.Error()))
	}
	return err
}

func (s *Session) handle(ctx context.Context, m *wire.Message) error {
	if s.Log.Enabled(ctx, slog.LevelDebug) {
		// Guarded: the arguments cost allocations on every message.
		s.Log.Debug("peer: received", "type", m.Type, "from", m.SenderID, "doc", m.DocumentID, "bytes", len(m.Data))
	}
	switch m.Type {
	case wire.TypeSync, wire.TypeRequest:
		// Parsed once per document in a session (docNames).
		id, err := s.names.parse(m)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrProtocol, err)
		}
		s.answered(id)
		changes := m.Type == wire.TypeRequest
		if !changes && (s.Window > 0 || s.OnPush != nil) {
			// A message that does not parse is not held up: its
			// handling answers (or refuses) it at once.
			n, err := wire.SyncChangeCount(m.Data)
			changes = err != nil || n > 0
		}
		held := s.heard(id, changes)
		s.answering = answering{id: id, set: true, held: held, ack: !changes}
		err = s.handleSync(ctx, id, m)
		s.answering = answering{}
		if held {
			s.resume(id)
		}
		return err
	case wire.TypeEphemeral:
		id, err := s.names.parse(m)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrProtocol, err)
		}
		acc, err := s.access(ctx, id)
		if err != nil || !acc.Read || s.OnEphemeral == nil {
			return nil
		}
		s.OnEphemeral(m)
		return nil
	case wire.TypeError:
		if m.DocumentID == "" {
			return fmt.Errorf("%w: %s", ErrRemote, m.Message)
		}
		id, err := s.names.parse(m)
		if err != nil {
			return fmt.Errorf("%w: %s", ErrRemote, m.Message)
		}
		lvl := slog.LevelWarn
		if s.warnedRefusals++; s.warnedRefusals > maxWarnedRefusals {
			lvl = slog.LevelDebug
		}
		s.Log.Log(ctx, lvl, "peer: remote refused document", "doc", id, "remote", s.RemoteID, "message", m.Message, "refusal", m.Refusal)
		// Setting the refused changes aside rebuilds the document at
		// the heads shared with the remote, so it is in sync before
		// OnRefused and OnSetAside have recorded why: until they have,
		// InSync says it is not (a caller waiting for sync would
		// otherwise return without the refusal), and OnSynced then
		// wakes such callers.
		s.setRefusing(id, true)
		n := s.setAside(ctx, id, m.Refusal)
		if s.OnRefused != nil {
			s.OnRefused(id, m.Message)
		}
		if n > 0 && s.OnSetAside != nil {
			s.OnSetAside(id, n)
		}
		s.setRefusing(id, false)
		if s.OnSynced != nil {
			s.OnSynced(id, s.Now())
		}
		return nil
	case wire.TypeDocUnavailable:
		id, err := s.names.parse(m)
		if err != nil {
			return nil
		}
		s.answered(id)
		if s.OnRefused != nil {
			s.OnRefused(id, ReasonUnavailable)
		}
		if s.OnUnavailable != nil {
			s.OnUnavailable(id)
		}
		return nil
	case wire.TypeJoin, wire.TypePeer:
		return fmt.Errorf("%w: %s after the handshake", ErrProtocol, m.Type)
	case wire.TypeActivitySubscribe, wire.TypeActivityUnsubscribe, wire.TypeActivity, wire.TypeActivityRefused, wire.TypeActivityPublish:
		if s.OnActivity != nil {
			return s.OnActivity(m)
		}
		return nil
	case wire.TypeDeviceRevoked:
		if s.OnRevocation != nil {
			s.OnRevocation(m.Data)
		}
		return nil
	default:
		// remote-heads gossip and future types need no answer.
		return nil
	}
}

// setAside rebuilds document id without the local changes the remote
// refused under rule (wire.Refusal*), when the session does that
// (SetAsideRefused) and holds the document; it returns how many changes
// were set aside. A failure is logged: the refusal still reaches
// OnRefused, and the next refusal tries again.
func (s *Session) setAside(ctx context.Context, id docs.DocumentID, rule string) int {
	if !s.SetAsideRefused || (rule != wire.RefusalACL && rule != wire.RefusalReadOnly && rule != wire.RefusalContent && rule != wire.RefusalFull) {
		return 0
	}
	has, err := s.Repo.Has(ctx, id)
	if err != nil || !has {
		return 0
	}
	n, err := s.Repo.SetAside(ctx, s.peer, id, rule)
	if err != nil {
		s.Log.Warn("peer: set aside refused changes", "doc", id, "remote", s.RemoteID, "err", err)
	}
	return n
}

// ReasonUnavailable is the reason OnRefused receives for a
// doc-unavailable answer.
const ReasonUnavailable = "document unavailable: the remote does not hold it or you may not read it"

// Bounds on refusal answers (see refuse).
const (
	// maxRefusals is how many messages for one document a session
	// answers with a refusal; later ones are dropped unanswered, so a
	// remote that retries at once cannot turn a refusal into a loop.
	maxRefusals = 3
	// maxRefusedDocs bounds the documents whose refusals a session
	// counts; messages for further refused documents are dropped
	// unanswered.
	maxRefusedDocs = 4096
	// maxWarnedRefusals is how many of the remote's error messages
	// naming a document a session logs at warning level, with their
	// text; later ones are logged at debug level. The text is the
	// remote's (up to 4 KiB), and a relay's remote is anyone: at
	// warning level each message was a line in the relay's log, as
	// fast as the connection's message rate allowed.
	maxWarnedRefusals = 4
)

// errUnreadable marks a document the remote user may not read.
var errUnreadable = errors.New("peer: document not readable")

// refusable reports whether err refuses one document (answered for that
// document; the session goes on) rather than the session.
func refusable(err error) bool {
	for _, e := range []error{errUnreadable, ErrForbidden, ErrLimit, ErrProtocol, ErrExists,
		docs.ErrACLChange, docs.ErrMissingDeps, repo.ErrBadMessage, repo.ErrRejected} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// countRefusal counts one more refusal of document id in this session
// and reports whether it is still to be told to the remote: at most
// maxRefusals per document, for at most maxRefusedDocs documents.
func (s *Session) countRefusal(id docs.DocumentID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, known := s.refusals[id]
	if !known && len(s.refusals) >= maxRefusedDocs {
		return false
	}
	put(&s.refusals, id, n+1)
	return n < maxRefusals
}

// refuse answers a refused message for document id: doc-unavailable
// when the remote may not read it, else an error message naming the
// document. At most maxRefusals answers per document and session.
func (s *Session) refuse(ctx context.Context, id docs.DocumentID, m *wire.Message, cause error) error {
	if !s.countRefusal(id) {
		s.Log.Debug("peer: dropping message for refused document", "doc", id, "user", s.User, "err", cause)
		return nil
	}
	s.Log.Info("peer: refused document", "doc", id, "user", s.User, "err", cause)
	if errors.Is(cause, errUnreadable) {
		return s.unavailable(ctx, m)
	}
	e := wire.ErrorMessage(s.LocalID, s.RemoteID, cause.Error())
	e.DocumentID = m.DocumentID
	var rc *refusedChanges
	if errors.As(cause, &rc) {
		e.Refusal = rc.rule
	}
	return s.send(ctx, e)
}

// refusedChanges is the error for a sync message whose changes the
// write check refused (repo.ErrRejected): the rest of the message (heads,
// needs, Bloom filter) was applied, so the session answers it after the
// refusal and the remote is never left waiting. rule is the
// wire.Refusal* value naming the rule ("" for another check, such as
// the bounds on held-back changes).
type refusedChanges struct {
	rule string
	err  error
}

func (e *refusedChanges) Error() string { return e.err.Error() }

func (e *refusedChanges) Unwrap() error { return e.err }

// maxAuthzCache bounds a session's cached Authz results; the cache is
// emptied when it would grow beyond.
const maxAuthzCache = 1024

// authzEntry is an Authz result for the document at an ACL revision
// (Repo.ViewAt).
type authzEntry struct {
	rev uint64
	acc Access
	// recorded is the owner Session.Owner returned ("" when none was
	// recorded yet, or without Owner): kept across revisions, since the
	// relay writes an owner record once and never changes it.
	recorded model.UserID
}

// access evaluates Authz on the current document; an unknown document
// grants nothing. Authz is a pure function of (user, owner, the
// document's ACL fields) and the ACL revision changes whenever those may
// have changed, so a result is reused while the revision is unchanged:
// comparing revisions costs no call into automerge, evaluating a
// playlist's access a dozen, and a collaborator's edit (checked to leave
// the ACL fields alone) keeps every follower's result. The
// recorded owner (Owner) is not part of the key: the relay writes it
// once, with the document's creation or its library binding, so once
// read it is reused for later revisions instead of read again.
func (s *Session) access(ctx context.Context, id docs.DocumentID) (Access, error) {
	acc, _, err := s.accessAt(ctx, id)
	return acc, err
}

// accessAt is access that also returns the document's ACL revision the
// decision was made at (0 for an unknown document).
func (s *Session) accessAt(ctx context.Context, id docs.DocumentID) (Access, uint64, error) {
	var acc Access
	var at uint64
	err := s.Repo.ViewAt(ctx, id, func(doc *automerge.Doc, rev uint64) error {
		at = rev
		s.mu.Lock()
		e, ok := s.authz[id]
		s.mu.Unlock()
		if ok && e.rev == rev {
			acc = e.acc
			return nil
		}
		var owner, recorded model.UserID
		switch {
		case s.Owner == nil:
			owner = docs.Owner(doc)
		case ok && e.recorded != "":
			// A recorded owner is written once and never changes.
			owner, recorded = e.recorded, e.recorded
		default:
			var err error
			if owner, err = s.Owner(ctx, id); err != nil {
				return err
			}
			recorded = owner
		}
		var err error
		if acc, err = s.Authz(s.User, owner, doc); err != nil {
			return err
		}
		s.mu.Lock()
		if len(s.authz) >= maxAuthzCache {
			clear(s.authz)
		}
		s.authz[id] = authzEntry{rev: rev, acc: acc, recorded: recorded}
		s.mu.Unlock()
		return nil
	})
	if errors.Is(err, ErrUnknownDocument) {
		return Access{}, 0, nil
	}
	return acc, at, err
}

func (s *Session) unavailable(ctx context.Context, m *wire.Message) error {
	return s.send(ctx, &wire.Message{Type: wire.TypeDocUnavailable, SenderID: s.LocalID, TargetID: s.RemoteID, DocumentID: m.DocumentID})
}

// answered forgets that id was requested from the remote: its answer
// (sync, request or doc-unavailable) came.
func (s *Session) answered(id docs.DocumentID) {
	s.mu.Lock()
	drop(&s.requested, id)
	s.mu.Unlock()
}

func (s *Session) handleSync(ctx context.Context, id docs.DocumentID, m *wire.Message) error {
	err := s.syncDoc(ctx, id, m)
	if err != nil && ctx.Err() == nil && refusable(err) {
		if rerr := s.refuse(ctx, id, m, err); rerr != nil {
			return rerr
		}
		var rc *refusedChanges
		if errors.As(err, &rc) {
			return s.answer(ctx, id)
		}
		return nil
	}
	return err
}

// syncDoc applies a sync or request message for id.
func (s *Session) syncDoc(ctx context.Context, id docs.DocumentID, m *wire.Message) error {
	has, err := s.Repo.Has(ctx, id)
	if err != nil {
		return err
	}
	if !has && m.Type == wire.TypeRequest {
		// Remember the interest: when the document arrives (from
		// another peer) and the remote may read it, it is sent. If it
		// arrived between Has and follow, its change notification
		// missed this session: look again, and serve it now. Past
		// MaxUnknownFollows such interests the request is only
		// answered.
		if !s.followUnknown(id) {
			return s.unavailable(ctx, m)
		}
		if has, err = s.Repo.Has(ctx, id); err != nil {
			return err
		}
		if !has {
			return s.unavailable(ctx, m)
		}
	}
	if !has {
		return s.create(ctx, id, m)
	}
	// The message is received at the ACL revision the remote's access
	// was decided at: when a change of the document's ACL fields (the
	// owner removing the remote's user, say) lands in between, access
	// is decided again, so a write never lands under the earlier
	// decision.
	var acc Access
	for {
		var rev uint64
		if acc, rev, err = s.accessAt(ctx, id); err != nil {
			return err
		}
		if !acc.Read {
			return fmt.Errorf("%w: %s", errUnreadable, id)
		}
		s.follow(id)
		err = s.Repo.Receive(ctx, s.peer, s.User, id, m.Data, acc, rev)
		if !errors.Is(err, ErrACLMoved) {
			break
		}
	}
	if s.Log.Enabled(ctx, slog.LevelDebug) {
		s.Log.Debug("peer: applied", "doc", id, "user", s.User, "write", acc.Write, "manage", acc.Manage, "err", err)
	}
	if err != nil {
		rule := ""
		var acl *docs.ACLChangeError
		switch {
		case errors.Is(err, ErrForbidden):
			rule, err = wire.RefusalReadOnly, fmt.Errorf("%w %s: user %q may only read it", ErrForbidden, id, s.User)
		case errors.As(err, &acl):
			rule, err = wire.RefusalACL, fmt.Errorf("%w (user %q, document %s)", acl, s.User, id)
		case errors.Is(err, docs.ErrTooManyEntries):
			rule = wire.RefusalFull
		case errors.Is(err, docs.ErrBadContent):
			rule = wire.RefusalContent
		}
		if rule != "" || errors.Is(err, repo.ErrRejected) {
			return &refusedChanges{rule: rule, err: err}
		}
		return err
	}
	s.applied(ctx, id, m)
	return s.answer(ctx, id)
}

// create accepts a document the repository does not hold yet, but only
// when the remote user may create it: MayCreate (when set) allows it,
// the document names the remote user as its owner (when the session has
// a User), the relay's record (Owner) names no other owner — for a
// library it must name the remote user — and the user may write the
// document it describes. The check
// runs on a scratch document; nothing is stored for a refused one, and
// OnCreate runs in the transaction that stores it.
func (s *Session) create(ctx context.Context, id docs.DocumentID, m *wire.Message) error {
	if s.MayCreate != nil {
		ok, err := s.MayCreate(ctx, id)
		if err != nil {
			return fmt.Errorf("peer: may user %q create %s: %w", s.User, id, err)
		}
		if !ok {
			return fmt.Errorf("%w %s: user %q may not bring a document this side does not want", ErrForbidden, id, s.User)
		}
	}
	// The scratch document applies the changes at once: automerge
	// aborts the process on some a hostile remote can send.
	if err := msync.GuardScratch(m.Data); err != nil {
		return fmt.Errorf("%w: sync message for new document %s: %v", ErrProtocol, id, err)
	}
	doc := automerge.New()
	defer doc.Close()
	ss := automerge.NewSyncState(doc)
	defer ss.Close()
	sm, err := ss.ReceiveMessage(m.Data)
	sm.Close()
	if err != nil {
		return fmt.Errorf("%w: sync message for new document %s: %v", ErrProtocol, id, err)
	}
	if len(doc.Heads()) == 0 {
		// Nothing to store yet: answer so the remote sends its changes.
		msg, ok := ss.GenerateMessage()
		if !ok {
			return nil
		}
		data := msg.Bytes()
		msg.Close()
		return s.send(ctx, &wire.Message{Type: wire.TypeSync, SenderID: s.LocalID, TargetID: s.RemoteID, DocumentID: m.DocumentID, Data: data})
	}
	owner := docs.Owner(doc)
	if s.User != "" {
		if owner != s.User {
			return fmt.Errorf("%w %s: user %q may not create a document naming %q as its owner", ErrForbidden, id, s.User, owner)
		}
		if s.Owner != nil {
			rec, err := s.Owner(ctx, id)
			if err != nil {
				return err
			}
			if rec != "" && rec != s.User {
				return fmt.Errorf("%w %s: the id belongs to another user", ErrForbidden, id)
			}
			if k, _ := docs.KindOf(doc); k == docs.KindLibrary && rec != s.User {
				return fmt.Errorf("%w %s: not the library id the relay assigned to user %q", ErrForbidden, id, s.User)
			}
		}
	}
	acc, err := s.Authz(s.User, owner, doc)
	if err != nil {
		return err
	}
	if !acc.Write {
		return fmt.Errorf("%w %s: user %q may not create it", ErrForbidden, id, s.User)
	}
	s.follow(id)
	var record func(tx store.Txn) error
	if s.OnCreate != nil {
		record = func(tx store.Txn) error { return s.OnCreate(tx, id) }
	}
	err = s.Repo.Create(ctx, s.peer, s.User, id, m.Data, record)
	if errors.Is(err, ErrExists) {
		// Another session stored it first: apply as to any held document.
		return s.syncDoc(ctx, id, m)
	}
	if err != nil {
		return err
	}
	s.applied(ctx, id, m)
	return s.answer(ctx, id)
}

// applied records that a sync message for id from the remote was
// applied: the document's refusals are forgotten, OnSynced runs, and
// OnAccepted when the remote's heads cover every local change. With
// OnAccepted (devices), whether the remote's heads name changes this
// side lacks is recorded too: a message cut to fit a frame leaves the
// rest for the next ones, and InSync waits for them.
func (s *Session) applied(ctx context.Context, id docs.DocumentID, m *wire.Message) {
	s.mu.Lock()
	drop(&s.refusals, id)
	s.mu.Unlock()
	s.synced(id)
	if s.OnAccepted == nil {
		return
	}
	theirs, ok := SyncMessageHeads(m.Data)
	if !ok {
		return
	}
	// Covered: the remote's heads are known here and nothing local lies
	// outside their history.
	known, covered := false, false
	err := s.Repo.View(ctx, id, func(doc *automerge.Doc) error {
		for _, h := range theirs {
			if !doc.HasChange(h) {
				return nil
			}
		}
		known = true
		rest, err := doc.Changes(theirs...)
		covered = err == nil && len(rest) == 0
		automerge.CloseChanges(rest)
		return nil
	})
	s.mu.Lock()
	if known || err != nil {
		drop(&s.behind, id)
	} else {
		put(&s.behind, id, true)
	}
	s.mu.Unlock()
	if err == nil && covered {
		s.OnAccepted(id)
	}
}

// MaxUnknownFollows bounds the documents a session remembers the
// remote asked for while this side did not hold them (a request answered
// doc-unavailable, the document sent once it arrives). Past it, a request
// for a document not held is answered and forgotten: the remote asks
// again later. Without the bound a remote — any account's device on the
// LAN, with no rate limit there — grew the session's memory by each
// request for a made-up id, without end.
const MaxUnknownFollows = 4096

// followUnknown follows id, a document this side does not hold, unless
// the session already remembers MaxUnknownFollows such interests; it
// reports whether id is followed.
func (s *Session) followUnknown(id docs.DocumentID) bool {
	s.mu.Lock()
	if !s.follows[id] {
		if s.unknownFollows >= MaxUnknownFollows {
			s.mu.Unlock()
			return false
		}
		s.unknownFollows++
	}
	s.mu.Unlock()
	s.follow(id)
	return true
}

func (s *Session) follow(id docs.DocumentID) {
	s.mu.Lock()
	known := s.follows[id]
	s.follows[id] = true
	s.mu.Unlock()
	if !known && s.Fanout != nil {
		s.Fanout.follow(s, id)
	}
}

func (s *Session) synced(id docs.DocumentID) {
	if s.OnSynced != nil {
		s.OnSynced(id, s.Now())
	}
}

func (s *Session) flushDirty(ctx context.Context) error {
	s.mu.Lock()
	ids := make([]docs.DocumentID, 0, len(s.dirty))
	for id := range s.dirty {
		ids = append(ids, id)
	}
	s.dirty = nil
	s.mu.Unlock()
	slices.SortFunc(ids, func(a, b docs.DocumentID) int { return slices.Compare(a[:], b[:]) })
	for i, id := range ids {
		// A held document was sent before: it is held locally.
		if s.hold(id) {
			continue
		}
		if wait := s.pushWait(); wait > 0 {
			s.deferPushes(ids[i:], wait)
			return nil
		}
		has, err := s.Repo.Has(ctx, id)
		if err != nil {
			return err
		}
		if !has {
			if err := s.request(ctx, id); err != nil {
				return err
			}
			continue
		}
		if err := s.flush(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// request asks the remote for a document this side does not hold, once
// until the remote answers (sync or doc-unavailable): a second request
// would make the remote's sync state start over and send the whole
// document again.
func (s *Session) request(ctx context.Context, id docs.DocumentID) error {
	s.follow(id)
	s.mu.Lock()
	asked := s.requested[id]
	put(&s.requested, id, true)
	s.mu.Unlock()
	if asked {
		return nil
	}
	empty := automerge.New()
	ss := automerge.NewSyncState(empty)
	msg, ok := ss.GenerateMessage()
	data := msg.Bytes()
	msg.Close()
	ss.Close()
	empty.Close()
	if !ok {
		return nil
	}
	s.pushed()
	return s.send(ctx, &wire.Message{Type: wire.TypeRequest, SenderID: s.LocalID, TargetID: s.RemoteID, DocumentID: s.names.text(id), Data: data})
}

// flush sends the next sync message for id, if any and if the remote may
// read the document: a push (OnPush).
func (s *Session) flush(ctx context.Context, id docs.DocumentID) error {
	_, err := s.flushSent(ctx, id, answering{})
	return err
}

// pushed calls OnPush, when set, and spends one of PushRate's tokens.
// Caller holds work.
func (s *Session) pushed() {
	if s.OnPush != nil {
		s.OnPush()
	}
	if s.PushRate > 0 {
		s.fillPushes()
		s.pushTokens--
	}
}

// fillPushes adds the tokens PushRate earned since the last fill, up to
// PushBurst (a new session starts full). Caller holds work.
func (s *Session) fillPushes() {
	now, burst := s.Now(), max(s.PushBurst, 1)
	if s.pushAt.IsZero() {
		s.pushTokens = burst
	} else {
		s.pushTokens = min(burst, s.pushTokens+now.Sub(s.pushAt).Seconds()*s.PushRate)
	}
	s.pushAt = now
}

// pushWait returns how long the next push must wait under PushRate (0:
// it may go now). Caller holds work.
func (s *Session) pushWait() time.Duration {
	if s.PushRate <= 0 {
		return 0
	}
	s.fillPushes()
	if s.pushTokens >= 1 {
		return 0
	}
	return time.Duration((1 - s.pushTokens) / s.PushRate * float64(time.Second))
}

// deferPushes puts ids back among the dirty documents and restarts the
// flusher after wait (PushRate). Caller holds work.
func (s *Session) deferPushes(ids []docs.DocumentID, wait time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		put(&s.dirty, id, true)
	}
	if s.pushTimer != nil || s.runCtx == nil {
		return
	}
	t := &paceTimer{at: s.Now().Add(wait)}
	s.pushTimer = t
	t.stop = s.AfterFunc(wait, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.pushTimer == t {
			s.pushTimer = nil
			s.startFlusherLocked()
		}
	})
}

// flushSent is flush reporting whether a message was sent: a sync
// message, or the refusal of a document whose message cannot be sent
// (unsendable). in is the remote's message the message answers (unset for a push): the message
// counts as a push (OnPush) when in is unset, when in ended a hold, or
// when in carried no changes and the message carries changes made since
// the session's last sync message for id (its heads moved since). The
// message is generated at the ACL revision the remote's access was
// decided at: when a change of the document's ACL fields (the owner
// removing the remote's user, say) lands in between, access is decided
// again, so the change and those after it never go out under the
// earlier decision.
func (s *Session) flushSent(ctx context.Context, id docs.DocumentID, in answering) (bool, error) {
	for {
		acc, rev, err := s.accessAt(ctx, id)
		if err != nil {
			return false, err
		}
		if !acc.Read {
			return false, s.lostRead(ctx, id)
		}
		s.follow(id)
		data, ok, err := s.Repo.Generate(ctx, s.peer, id, rev)
		if errors.Is(err, ErrACLMoved) {
			continue
		}
		if errors.Is(err, wire.ErrSyncTooLarge) {
			return true, s.unsendable(ctx, id, err)
		}
		if err != nil || !ok {
			return false, err
		}
		hp := headsPrint(data)
		prev, spoke := s.markSent(id, hp)
		s.await(id, data)
		if !in.set || in.held || in.ack && spoke && prev != hp && carriesChanges(data) {
			s.pushed()
		}
		return true, s.sendSync(ctx, id, data)
	}
}

// sendSync sends data, a sync message for id. The repository keeps
// every message within the frame limit with its envelope
// (wire.MaxSyncData); should one still not encode within it, that
// refuses the document (unsendable), not the session. The sync state
// then counts the message as sent: the remote's next message for the
// document, or its next change, starts the next one.
func (s *Session) sendSync(ctx context.Context, id docs.DocumentID, data []byte) error {
	err := s.send(ctx, &wire.Message{Type: wire.TypeSync, SenderID: s.LocalID, TargetID: s.RemoteID, DocumentID: s.names.text(id), Data: data})
	if errors.Is(err, wire.ErrFrameTooLarge) {
		return s.unsendable(ctx, id, err)
	}
	return err
}

// unsendable refuses document id, whose next sync message cannot be sent
// within the frame limit (cause wraps wire.ErrSyncTooLarge or
// wire.ErrFrameTooLarge: its heads, needs and Bloom filter, or a single
// change, too large): the remote is told with an error message naming
// the document and OnRefused runs, so both sides record the refusal,
// and the session goes on with the other documents. At most maxRefusals
// times per document and session, counted with the remote's refused
// messages (refuse).
func (s *Session) unsendable(ctx context.Context, id docs.DocumentID, cause error) error {
	if !s.countRefusal(id) {
		s.Log.Debug("peer: document still too large to send", "doc", id, "remote", s.RemoteID, "err", cause)
		return nil
	}
	s.Log.Warn("peer: document too large to send", "doc", id, "remote", s.RemoteID, "err", cause)
	if s.OnRefused != nil {
		s.OnRefused(id, cause.Error())
	}
	e := wire.ErrorMessage(s.LocalID, s.RemoteID, cause.Error())
	e.DocumentID = s.names.text(id)
	return s.send(ctx, e)
}

// SendEphemeral forwards an ephemeral message to the remote when it
// follows the document and may read it; it reports whether it did.
func (s *Session) SendEphemeral(ctx context.Context, m *wire.Message, id docs.DocumentID) (bool, error) {
	s.init()
	s.mu.Lock()
	follows := s.follows[id]
	s.mu.Unlock()
	if !follows {
		return false, nil
	}
	if acc, err := s.access(ctx, id); err != nil || !acc.Read {
		return false, err
	}
	fwd := *m
	fwd.TargetID = s.RemoteID
	return true, s.send(ctx, &fwd)
}

// Send writes m to the remote as it is (the device's activity
// subscription). Safe to call while Run runs when the Conn's Send is
// safe for concurrent use (WSConn's is).
func (s *Session) Send(ctx context.Context, m *wire.Message) error { return s.send(ctx, m) }

func (s *Session) send(ctx context.Context, m *wire.Message) error {
	if err := s.Conn.Send(ctx, m); err != nil {
		return fmt.Errorf("send %s: %w", m.Type, err)
	}
	return nil
}

// ServerHandshake reads the remote's join, checks its protocol versions
// and answers with peer. It returns the join message.
func ServerHandshake(ctx context.Context, c Conn, localID string, meta wire.PeerMetadata) (*wire.Message, error) {
	m, err := c.Recv(ctx)
	if err != nil {
		return nil, fmt.Errorf("read join: %w", err)
	}
	if m.Type != wire.TypeJoin {
		err := fmt.Errorf("%w: first message is %q, want join", ErrProtocol, m.Type)
		_ = c.Send(ctx, wire.ErrorMessage(localID, m.SenderID, err.Error()))
		return nil, err
	}
	if len(m.SupportedProtocolVersions) > 0 && !slices.Contains(m.SupportedProtocolVersions, wire.ProtocolV1) {
		_ = c.Send(ctx, wire.ErrorMessage(localID, m.SenderID, "unsupported protocol version"))
		return nil, fmt.Errorf("%w: unsupported protocol versions %v", ErrProtocol, m.SupportedProtocolVersions)
	}
	peer := &wire.Message{Type: wire.TypePeer, SenderID: localID, TargetID: m.SenderID, PeerMetadata: &meta, SelectedProtocolVersion: wire.ProtocolV1}
	if err := c.Send(ctx, peer); err != nil {
		return nil, fmt.Errorf("send peer: %w", err)
	}
	return m, nil
}

// ClientHandshake sends join and waits for the remote's peer message,
// which it returns. An error message from the remote wraps ErrRemote.
func ClientHandshake(ctx context.Context, c Conn, localID string, meta wire.PeerMetadata) (*wire.Message, error) {
	join := &wire.Message{Type: wire.TypeJoin, SenderID: localID, PeerMetadata: &meta, SupportedProtocolVersions: []string{wire.ProtocolV1}}
	if err := c.Send(ctx, join); err != nil {
		return nil, fmt.Errorf("send join: %w", err)
	}
	m, err := c.Recv(ctx)
	if err != nil {
		return nil, fmt.Errorf("read peer: %w", err)
	}
	switch m.Type {
	case wire.TypePeer:
		return m, nil
	case wire.TypeError:
		return nil, fmt.Errorf("%w: %s", ErrRemote, m.Message)
	default:
		return nil, fmt.Errorf("%w: got %q, want peer", ErrProtocol, m.Type)
	}
}

// RemoteStorage returns the storage id announced in a handshake message
// (the join ServerHandshake returns, the peer ClientHandshake returns):
// "" when the remote is ephemeral or announces none. It is the value for
// Session.RemoteStorage.
func RemoteStorage(m *wire.Message) string {
	if m.PeerMetadata == nil || m.PeerMetadata.IsEphemeral {
		return ""
	}
	return m.PeerMetadata.StorageID
}

// syncMessageType is the first byte of an Automerge sync message.
const syncMessageType = 0x42

// SyncMessageHeads returns the sender's heads from an encoded Automerge
// sync message (type byte 0x42, then the heads as a LEB128 count and
// 32-byte hashes) without decoding the rest; ok is false when data does
// not start that way. The slice is owned by the caller.
func SyncMessageHeads(data []byte) (heads []automerge.ChangeHash, ok bool) {
	if len(data) < 2 || data[0] != syncMessageType {
		return nil, false
	}
	n, k := binary.Uvarint(data[1:])
	if k <= 0 || n > uint64(len(data)-1-k)/32 {
		return nil, false
	}
	rest := data[1+k:]
	heads = make([]automerge.ChangeHash, n)
	for i := range heads {
		copy(heads[i][:], rest[32*i:])
	}
	return heads, true
}

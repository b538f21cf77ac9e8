package docs

import (
	"errors"
	"fmt"

	"github.com/automerge/automerge-go"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs/fracindex"
)

// ServiceUser owns the playlists the relay writes itself (Discover
// Weekly, Daily Mixes, Release Radar). It is not a valid account name
// (usernames match ^[a-z0-9][a-z0-9_.-]{0,63}$), so no one can sign up as
// it, and no client can create a document naming it as owner (the relay
// only accepts documents naming their creator).
const ServiceUser model.UserID = "@segue"

// ErrReadOnly is returned when a listener tries to edit a service-owned
// playlist.
var ErrReadOnly = errors.New("docs: playlist is service-owned and read-only")

// Service playlist root fields, beside the playlist fields: which
// service playlist it is, for whom, and the period its content is for.
const (
	fieldService  = "service"
	fieldListener = "listener"
	fieldPeriod   = "period"
)

// ServiceInfo describes a service-owned playlist.
type ServiceInfo struct {
	// Kind names the playlist ("discover_weekly", "daily_mix_1", …).
	Kind string
	// Listener is the only user who may read the playlist.
	Listener model.UserID
	// Period is the period its content was made for ("2026-W49",
	// "2026-12-02"); "" before the first delivery.
	Period string
}

// CreateServicePlaylist writes a service-owned playlist skeleton into the
// empty doc: a playlist (CreatePlaylist) whose owner is ServiceUser, with
// no collaborators, private, and the root fields service = kind and
// listener = listener. Only the relay creates these; it records
// ServiceUser as the owner and reads the listener field to let the
// listener (and only the listener) read it. It returns ErrNotEmpty if
// doc already has changes.
func CreateServicePlaylist(doc *automerge.Doc, listener model.UserID, kind, name string, opts Options) (*Playlist, error) {
	if listener == "" || kind == "" {
		return nil, fmt.Errorf("%w: empty listener or kind", ErrInvalidArgument)
	}
	p, err := CreatePlaylist(doc, ServiceUser, name, opts)
	if err != nil {
		return nil, err
	}
	root := doc.RootMap()
	for _, kv := range [][2]string{{fieldService, kind}, {fieldListener, string(listener)}, {fieldPeriod, ""}} {
		if err := root.Set(kv[0], kv[1]); err != nil {
			return nil, fmt.Errorf("create service playlist: set %s: %w", kv[0], err)
		}
	}
	if err := p.commitMeta("create service playlist"); err != nil {
		return nil, err
	}
	return p, nil
}

// ServiceOf returns the service fields of doc and ok true when doc is a
// playlist owned by ServiceUser (by its owner field) that names a
// listener and a kind. Access decisions must use the relay's owner
// record, not this owner field; ServiceOf only reads the content.
func ServiceOf(doc *automerge.Doc) (ServiceInfo, bool) {
	if k, err := KindOf(doc); err != nil || k != KindPlaylist {
		return ServiceInfo{}, false
	}
	root := doc.RootMap()
	if model.UserID(strField(root, "owner")) != ServiceUser {
		return ServiceInfo{}, false
	}
	s := ServiceInfo{Kind: strField(root, fieldService), Listener: model.UserID(strField(root, fieldListener)), Period: strField(root, fieldPeriod)}
	if s.Kind == "" || s.Listener == "" {
		return ServiceInfo{}, false
	}
	return s, true
}

// Replace makes tracks the playlist's whole content, in order, and sets
// its name, description and period, in one commit ("replace N for
// period"): every existing entry is deleted and one entry per track is
// added, attributed to ServiceUser. A device that synced the previous
// content receives the replacement as one change; the document id stays
// the same, so the listener's library and downloads keep pointing at it.
// Only service playlists (ServiceOf) may be replaced (ErrWrongType
// otherwise).
func (p *Playlist) Replace(name, description, period string, tracks []model.TrackID) error {
	if _, ok := ServiceOf(p.doc); !ok {
		return fmt.Errorf("%w: not a service playlist", ErrWrongType)
	}
	for _, t := range tracks {
		if t == "" {
			return fmt.Errorf("%w: empty track id", ErrInvalidArgument)
		}
	}
	m := p.entries()
	keys, err := m.Keys()
	if err != nil {
		return fmt.Errorf("replace: read entries: %w", err)
	}
	for _, k := range keys {
		if err := m.Delete(k); err != nil {
			return fmt.Errorf("replace: delete %s: %w", k, err)
		}
	}
	var pos []string
	if len(tracks) > 0 {
		if pos, err = fracindex.N("", "", len(tracks), p.opts.rand); err != nil {
			return fmt.Errorf("replace: place entries: %w", err)
		}
	}
	now := p.opts.now()
	for i, t := range tracks {
		id, err := randomID(p.opts.rand)
		if err != nil {
			return err
		}
		e := automerge.NewMap()
		if err := m.Set(id, e); err != nil {
			return fmt.Errorf("replace: add entry: %w", err)
		}
		for _, kv := range []struct {
			k string
			v any
		}{{"trackId", string(t)}, {"pos", pos[i]}, {"addedBy", string(ServiceUser)}, {"addedAt", now}} {
			if err := e.Set(kv.k, kv.v); err != nil {
				return fmt.Errorf("replace: set %s: %w", kv.k, err)
			}
		}
	}
	root := p.doc.RootMap()
	for _, kv := range [][2]string{{"name", name}, {"description", description}, {fieldPeriod, period}} {
		if err := root.Set(kv[0], kv[1]); err != nil {
			return fmt.Errorf("replace: set %s: %w", kv[0], err)
		}
	}
	p.view.drop()
	if _, err := p.commit(now, fmt.Sprintf("replace %d for %s", len(tracks), period)); err != nil {
		return err
	}
	return nil
}

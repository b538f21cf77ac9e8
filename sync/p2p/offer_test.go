package p2p_test

import (
	"slices"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/repo"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// slowWatch is a peer.Repo whose Watch starts only once held is closed:
// the time a session takes between starting and watching the repository
// for changes, stretched.
type slowWatch struct {
	*peer.RepoAdapter
	held chan struct{}
}

func (w slowWatch) Watch(fn func(id docs.DocumentID)) func() {
	<-w.held
	return w.RepoAdapter.Watch(fn)
}

// TestNewDocumentBeforeWatch: a playlist created right after a session
// with a LAN peer started, before the session watched the repository,
// reaches the peer. Before, the node listed the documents to offer when
// the session started and the session watched for changes later, so a
// playlist made in between reached the peer only with its next change
// (a clean-clone CI failed TestPeerVanishedFromOthersSession this way:
// the phone made its playlist as soon as Connect returned).
func TestNewDocumentBeforeWatch(t *testing.T) {
	ctx := t.Context()
	held := make(chan struct{})
	phone := newDeviceWith(t, "alice", 1, func(r *repo.Repo) peer.Repo {
		return slowWatch{RepoAdapter: peer.NewRepoAdapter(r), held: held}
	})
	laptop := newDevice(t, "alice", 2)
	if err := phone.node.Connect(ctx, addr(t, laptop, "/tcp")); err != nil {
		t.Fatal(err)
	}
	pl, err := phone.repo.CreatePlaylist(ctx, "alice", "mix")
	if err != nil {
		t.Fatal(err)
	}
	if err := pl.Playlist(ctx, func(p *docs.Playlist) error { _, err := p.Add(docs.AtEnd(), "alice", "t1"); return err }); err != nil {
		t.Fatal(err)
	}
	close(held)
	eventually(t, "the laptop gets the playlist made before the phone's session watched", func() bool {
		return slices.Equal(tracksOf(t, laptop.repo, pl.ID()), []model.TrackID{"t1"})
	})
}

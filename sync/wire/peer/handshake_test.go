package peer_test

import (
	"testing"

	"github.com/segue-fm/segue/sync/wire"
	"github.com/segue-fm/segue/sync/wire/peer"
)

// TestRemoteStorage: only a persistent remote's storage id is kept.
func TestRemoteStorage(t *testing.T) {
	tests := []struct {
		name string
		meta *wire.PeerMetadata
		want string
	}{
		{"no metadata", nil, ""},
		{"persistent", &wire.PeerMetadata{StorageID: "dev-1"}, "dev-1"},
		{"ephemeral", &wire.PeerMetadata{StorageID: "dev-1", IsEphemeral: true}, ""},
		{"no storage id", &wire.PeerMetadata{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := &wire.Message{Type: wire.TypeJoin, SenderID: "p", PeerMetadata: tt.meta}
			if got := peer.RemoteStorage(m); got != tt.want {
				t.Fatalf("RemoteStorage = %q, want %q", got, tt.want)
			}
		})
	}
}

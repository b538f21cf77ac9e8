package relay

import (
	"crypto/ed25519"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
)

// catalogPub returns the catalog's Ed25519 public key (manifests and
// licenses are signed with its private half), shared: do not modify.
func (s *Server) catalogPub() ed25519.PublicKey { return s.catPub }

// openManifest verifies a stored envelope against the catalog key and
// decodes it.
func (s *Server) openManifest(env []byte) (*model.Manifest, error) {
	return crypto.OpenManifest(s.catPub, env)
}

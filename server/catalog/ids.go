package catalog

import (
	"crypto/sha256"
	"encoding/base32"
	"strings"

	"golang.org/x/text/unicode/norm"

	"github.com/segue-fm/segue/core/model"
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// idFrom is prefix followed by the lowercase base32 of the first 10 bytes
// of sum: 16 characters after the prefix, 80 bits of the hash.
func idFrom(prefix string, sum [32]byte) string {
	return prefix + idEncoding.EncodeToString(sum[:10])
}

// TrackIDFromMaster returns the track id of the master file whose SHA-256
// is sha: "tr" + base32 of its first 10 bytes. Re-ingesting the same master
// yields the same id.
func TrackIDFromMaster(sha [32]byte) model.TrackID {
	return model.TrackID(idFrom("tr", sha))
}

// NormalizeName folds a display name for identity: in Unicode NFC, so a
// name spelt with combining marks (NFD, as macOS file names and some
// tagging tools write it) is the name spelt precomposed, case-folded, with
// runs of white space collapsed to one space and trimmed.
func NormalizeName(name string) string {
	return strings.Join(strings.Fields(strings.ToLower(norm.NFC.String(name))), " ")
}

// ArtistIDFor returns the artist id of a display name: "ar" + base32 of the
// SHA-256 of the normalised name, so "Segue  Ensemble" and "segue ensemble"
// are one artist.
func ArtistIDFor(name string) model.ArtistID {
	return model.ArtistID(idFrom("ar", sha256.Sum256([]byte(NormalizeName(name)))))
}

// AlbumIDFor returns the album id of (first album artist, album title):
// "al" + base32 of the SHA-256 of both normalised names.
func AlbumIDFor(artist, title string) model.AlbumID {
	return model.AlbumID(idFrom("al", sha256.Sum256([]byte(NormalizeName(artist)+"\x00"+NormalizeName(title)))))
}

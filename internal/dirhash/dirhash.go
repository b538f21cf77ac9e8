// Package dirhash fingerprints a directory tree, for tests that assert a
// failed operation left a directory's bytes unchanged.
package dirhash

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Sum returns a hex SHA-256 over every entry under dir in lexical order:
// its slash-separated relative path, type and mode bits, and a regular
// file's contents. Two trees with equal sums hold the same names, modes
// and bytes (modification times are ignored).
func Sum(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%v\x00", filepath.ToSlash(rel), info.Mode())
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		n, err := io.Copy(h, f)
		fmt.Fprintf(h, "\x00%d\x00", n)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("dirhash: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

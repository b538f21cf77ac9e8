package download

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/segue-fm/segue/store"
)

// Keys of a blob store (Deps.BlobStore): the encrypted bytes under
// dl/blob/<sha256 hex> and their length (8 bytes, big endian) under
// dl/bsz/<sha256 hex>, written and deleted together in one transaction,
// so reconcile lists the blobs without reading them.
const (
	pBlob     = "dl/blob/"
	pBlobSize = "dl/bsz/"
)

func storeBlobKey(h [32]byte) []byte { return []byte(pBlob + hex.EncodeToString(h[:])) }
func storeSizeKey(h [32]byte) []byte { return []byte(pBlobSize + hex.EncodeToString(h[:])) }

// storeRead returns h's bytes (caller-owned); ok is false when there are
// none.
func (f *blobFiles) storeRead(h [32]byte) ([]byte, bool, error) {
	b, err := f.st.Get(context.Background(), storeBlobKey(h))
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, true, nil
}

// storeInstall writes t's bytes as h, with its size, in one transaction.
func (f *blobFiles) storeInstall(t *tempBlob, h [32]byte) error {
	err := f.st.Update(context.Background(), func(tx store.Txn) error {
		if err := tx.Set(storeBlobKey(h), t.buf); err != nil {
			return err
		}
		return tx.Set(storeSizeKey(h), binary.BigEndian.AppendUint64(nil, uint64(len(t.buf))))
	})
	if err != nil {
		return fmt.Errorf("install blob: %w", err)
	}
	t.buf = nil
	return nil
}

// storeRemove deletes h and its size (missing is fine).
func (f *blobFiles) storeRemove(h [32]byte) error {
	err := f.st.Update(context.Background(), func(tx store.Txn) error {
		if err := tx.Delete(storeBlobKey(h)); err != nil {
			return err
		}
		return tx.Delete(storeSizeKey(h))
	})
	if err != nil {
		return fmt.Errorf("remove blob: %w", err)
	}
	return nil
}

// storeList returns every stored blob with its size, from the size
// records; a malformed record counts as a blob of size -1 (never matching
// a done bit, so the blob is fetched again).
func (f *blobFiles) storeList() (map[[32]byte]int64, error) {
	out := map[[32]byte]int64{}
	err := f.st.Iterate(context.Background(), []byte(pBlobSize), false, func(k, v []byte) error {
		h, ok := blobName(string(k[len(pBlobSize):]))
		if !ok {
			return nil
		}
		out[h] = -1
		if len(v) == 8 {
			out[h] = int64(binary.BigEndian.Uint64(v))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list blobs: %w", err)
	}
	return out, nil
}

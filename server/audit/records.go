package audit

import (
	"context"
	"fmt"

	"github.com/segue-fm/segue/store"
)

// Records calls fn with every record of the audit log in st, in index
// order, without verifying the chain (Verify does). An error from fn ends
// the iteration and is returned.
func Records(ctx context.Context, st store.Store, fn func(Record) error) error {
	return st.Iterate(ctx, recPfx, false, func(k, v []byte) error {
		rs, _, err := decodeBlock(v)
		if err != nil {
			return fmt.Errorf("%w: record block key %x does not decode: %v", ErrTampered, k, err)
		}
		for _, r := range rs {
			if err := fn(r); err != nil {
				return err
			}
		}
		return nil
	})
}

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
		var r Record
		if err := dec.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("%w: record key %x does not decode: %v", ErrTampered, k, err)
		}
		return fn(r)
	})
}

// Package ctxsleep waits for a duration or a context's end, whichever
// comes first: the real-time sleep that options taking an injectable
// sleep function (sync/client, server/recs/relayrecs) use by default.
package ctxsleep

import (
	"context"
	"time"
)

// Sleep returns nil after d, or ctx.Err() as soon as ctx ends first. A d
// of zero or less returns at once (nil, or ctx.Err() when ctx has ended).
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/segue-fm/segue/core"
	"github.com/segue-fm/segue/core/api"
)

// The device keeps every play in its history queue (core.History) until
// the relay has answered for it; `segue sync now` and the end of `segue
// play` send the queue (core.Engine.UploadPlays), so plays count for
// royalties. A play made with the relay unreachable stays queued and goes
// with the next of them; the relay de-duplicates by (device, sequence
// number), so a resend never counts twice.

// playUploadTimeout bounds the upload at the end of `segue play`: a relay
// that takes longer leaves the plays queued for the next command.
const playUploadTimeout = 15 * time.Second

// playsSent is what one upload of the play history did.
type playsSent struct {
	core.PlayUpload
	// queued is how many plays the device still holds afterwards (those
	// not sent, or -1 when the queue could not be read).
	queued int
	err    error // the upload's failure, nil when every queued play was sent
}

// sent returns how many plays the relay answered for.
func (p playsSent) sent() int {
	n := p.Accepted + p.Duplicate + p.Held
	for _, r := range p.Rejected {
		n += r
	}
	return n
}

// rejected returns how many plays the relay rejected for good.
func (p playsSent) rejected() int { return p.sent() - p.Accepted - p.Duplicate - p.Held }

// uploadPlays sends e's queued plays to its relay, waiting at most
// timeout, and reads how many remain queued.
func uploadPlays(ctx context.Context, e *core.Engine, timeout time.Duration) playsSent {
	uctx, cancel := context.WithTimeout(ctx, timeout)
	up, err := e.UploadPlays(uctx)
	cancel()
	p := playsSent{PlayUpload: up, err: err, queued: -1}
	if hs, lerr := e.History().List(ctx, 0); lerr == nil {
		p.queued = len(hs)
	} else if p.err == nil {
		p.err = lerr
	}
	return p
}

// printSyncLine writes `segue sync now`'s line for the plays, then one
// line per rejection reason.
func (p playsSent) printSyncLine(w io.Writer) {
	msg := ""
	if p.err != nil {
		msg = p.err.Error()
	}
	fmt.Fprintf(w, "plays sent=%d accepted=%d duplicate=%d rejected=%d queued=%d error=%q\n",
		p.sent(), p.Accepted, p.Duplicate, p.rejected(), p.queued, msg)
	for _, reason := range slices.Sorted(maps.Keys(p.Rejected)) {
		fmt.Fprintf(w, "rejected %d play(s): %s\n", p.Rejected[reason], reason)
	}
	if p.Held > 0 {
		fmt.Fprintf(w, "held %d play(s) the relay dated after its clock (is this device's clock ahead?): kept on this device, sent again at the next sync\n", p.Held)
	}
}

// printPlayLine writes `segue play`'s short line on the upload: nothing
// when there was nothing to send, else what the relay answered and, when
// the upload failed, that the rest stays on the device.
func (p playsSent) printPlayLine(w io.Writer) {
	if p.err == nil && p.sent() == 0 {
		return
	}
	fmt.Fprint(w, "plays: ")
	if n := p.sent(); n > 0 {
		fmt.Fprintf(w, "%d sent to the relay, %d accepted", n, p.Accepted)
		if p.Duplicate > 0 {
			fmt.Fprintf(w, ", %d already there", p.Duplicate)
		}
		if r := p.rejected(); r > 0 {
			fmt.Fprintf(w, ", %d rejected", r)
		}
		if p.Held > 0 {
			fmt.Fprintf(w, ", %d held (dated after the relay's clock: is this device's clock ahead?)", p.Held)
		}
		if p.err != nil {
			fmt.Fprint(w, "; ")
		}
	}
	if p.err != nil {
		if p.queued >= 0 {
			fmt.Fprintf(w, "%d ", p.queued)
		}
		why := "relay unreachable"
		var busy *api.RetryLaterError
		switch {
		case errors.As(p.err, &busy) && busy.After > 0:
			why = fmt.Sprintf("relay busy, retry in %d s", int64(math.Ceil(busy.After.Seconds())))
		case errors.Is(p.err, api.ErrRetryLater):
			why = "relay busy, retry later"
		case !errors.Is(p.err, core.ErrOffline):
			why = "not sent: " + p.err.Error()
		}
		fmt.Fprintf(w, "kept on this device (%s); `segue sync now` or the next play sends them", why)
	}
	fmt.Fprintln(w)
}

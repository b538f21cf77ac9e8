package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/playlog"
	"github.com/segue-fm/segue/internal/jsfetch"
)

// WithUploadRetry sets the wait before the play uploader tries again
// after a failed upload (first), doubled after each failure up to most
// (default 5 s, up to 5 min), and never before the Retry-After of a
// relay that refused for now (429/503, api.ErrRetryLater; at most
// api.MaxRetryAfter). Values below 1 ms are raised to it; most is at
// least first.
func (o Options) WithUploadRetry(first, most time.Duration) Options {
	o.uploadRetry = max(first, time.Millisecond)
	o.uploadRetryMax = max(most, o.uploadRetry)
	return o
}

// WithUploadTimeout bounds each play upload request (POST /v1/plays) to
// d (default 2 min; values ≤ 0 keep it): a request the relay has not
// answered by then is abandoned and fails the upload, which keeps its
// batch queued and is tried again (WithUploadRetry). Without it a request
// that never got an answer held the upload, and with it the other tabs'
// (WithUploadLock), for as long as the browser kept it open.
func (o Options) WithUploadTimeout(d time.Duration) Options {
	if d > 0 {
		o.uploadTimeout = d
	}
	return o
}

// WithUploadLock sets a lock each play upload holds from before it reads
// the queue until its last batch is acknowledged, shared with the other
// engines on the same store (the page's tabs: segueweb passes a Web Lock,
// idbstore.WebLock), so one batch is sent by one of them: lock waits for
// the lock and returns its release. An upload that waited then finds
// only what is still queued. Default nil: uploads are one at a time in
// this Engine only, and two engines on one store may send a batch twice
// (the relay answers the second duplicate).
func (o Options) WithUploadLock(lock func(ctx context.Context) (release func(), err error)) Options {
	o.uploadLock = lock
	return o
}

// UploadPlays sends the play history to the relay (POST /v1/plays) as
// the native engine does (playlog.Uploader.Upload): in batches of at most
// playlog.MaxBatch events, each signed with this device's identity over
// crypto.PlaysMessage, and removes a batch from the store only once the
// relay answered for every event of it (plays dated after the relay's
// clock are kept, see playlog.FutureRetryWindow). A failed request — no
// network, a relay error, the page closed mid-upload — removes nothing;
// the relay de-duplicates by (device, sequence number), so sending a
// batch again counts nothing twice. Uploads are one at a time. Without
// queued plays it sends nothing; with some, before Login it is
// ErrNotLoggedIn, and a refused token is ErrUnauthorized. It returns
// what was uploaded before any error.
func (e *Engine) UploadPlays(ctx context.Context) (playlog.Summary, error) {
	return e.uploadPlays(ctx, false)
}

// uploadPlays is UploadPlays; with keepalive, each request is sent with
// fetch's keepalive (jsfetch.WithKeepalive) and its body kept within
// jsfetch.KeepaliveMax (playlog.Uploader.MaxBody).
func (e *Engine) uploadPlays(ctx context.Context, keepalive bool) (playlog.Summary, error) {
	e.upMu.Lock()
	defer e.upMu.Unlock()
	if e.opts.uploadLock != nil {
		release, err := e.opts.uploadLock(ctx)
		if err != nil {
			return playlog.Summary{Rejected: map[string]int{}}, fmt.Errorf("engine: take the upload lock: %w", err)
		}
		defer release()
	}
	if err := e.hist.adopt(ctx); err != nil {
		return playlog.Summary{Rejected: map[string]int{}}, err
	}
	e.hist.Flush()
	u := playlog.Uploader{Device: e.DeviceID(), Sign: e.id.Sign, Now: e.opts.clock,
		Post: func(ctx context.Context, req api.PlaysRequest) (api.PlaysAnswer, error) {
			ctx, cancel := context.WithTimeout(ctx, e.opts.uploadTimeout)
			defer cancel()
			var ans api.PlaysAnswer
			if _, err := e.api.Do(ctx, http.MethodPost, "/v1/plays", req, &ans, true); err != nil {
				return ans, e.authErr(err)
			}
			return ans, nil
		}}
	if keepalive {
		ctx, u.MaxBody = jsfetch.WithKeepalive(ctx), jsfetch.KeepaliveMax
	}
	sum, err := u.Upload(ctx, e.hist.q)
	switch {
	case errors.Is(err, playlog.ErrBadAnswer):
		return sum, fmt.Errorf("engine: %w: %w", ErrBadAnswer, err)
	case err != nil:
		return sum, fmt.Errorf("engine: %w", err)
	}
	return sum, nil
}

// PendingPlays returns how many plays wait in the store to be uploaded.
func (e *Engine) PendingPlays(ctx context.Context) (int, error) { return e.hist.Pending(ctx) }

// SendPlays asks the background uploader to upload the play history now
// (the page calls it when the browser goes online and when the page is
// hidden); it returns at once. The uploader also runs after each stored
// play (unless it is waiting to retry a failed upload) and after Login.
func (e *Engine) SendPlays() {
	select {
	case e.upKick <- struct{}{}:
	default:
	}
}

// SendPlaysOnHide is SendPlays for a page being hidden, perhaps closed
// (segue.js calls it on visibilitychange to hidden): the upload's
// requests are sent with fetch's keepalive, so the browser completes the
// one in flight when the tab closes, and each is cut to the plays whose
// body fits keepalive's 64 KiB (jsfetch.KeepaliveMax); the rest go in the
// next request, or at the next visit if the tab is gone. An answer lost
// with the tab acknowledges nothing: those plays are sent again and the
// relay answers duplicate.
func (e *Engine) SendPlaysOnHide() {
	e.upHidden.Store(true)
	select {
	case e.upKick <- struct{}{}:
	default:
	}
}

// OnPlaysUploaded sets fn to be told the outcome of each background
// upload (nil removes it). fn runs on the uploader's goroutine and must
// not block.
func (e *Engine) OnPlaysUploaded(fn func(playlog.Summary, error)) {
	e.mu.Lock()
	e.onUploaded = fn
	e.mu.Unlock()
}

// playStored is the history's word that it stored the plays it had.
func (e *Engine) playStored() {
	select {
	case e.upStored <- struct{}{}:
	default:
	}
}

// runUploads is the background uploader: it uploads when told (SendPlays,
// SendPlaysOnHide, Login, a stored play) and, after a failure, again after a wait doubled
// each time from Options.WithUploadRetry's first to its most — and, when
// the relay refused for now (api.ErrRetryLater: 429/503), at least its
// Retry-After (at most api.MaxRetryAfter); stored
// plays do not cut that wait short, SendPlays does. A refused or missing
// token waits for the next Login or SendPlays. It returns when ctx ends.
func (e *Engine) runUploads(ctx context.Context) {
	defer close(e.upDone)
	var (
		wait  time.Duration
		timer *time.Timer
		retry <-chan time.Time
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.upKick:
		case <-e.upStored:
			if retry != nil {
				continue
			}
		case <-retry:
		}
		if timer != nil {
			timer.Stop()
		}
		timer, retry = nil, nil
		sum, err := e.uploadPlays(ctx, e.upHidden.Swap(false))
		if ctx.Err() != nil {
			return
		}
		e.mu.Lock()
		fn := e.onUploaded
		e.mu.Unlock()
		if fn != nil {
			fn(sum, err)
		}
		switch {
		case err == nil, errors.Is(err, ErrNotLoggedIn), errors.Is(err, ErrUnauthorized):
			wait = 0
		default:
			wait = min(max(2*wait, e.opts.uploadRetry), e.opts.uploadRetryMax)
			if after, ok := api.RetryAfter(err); ok {
				wait = max(wait, after) // the relay is busy: not before its Retry-After
			}
			e.opts.logger.Warn("engine: plays not uploaded; trying again later", "in", wait, "err", err)
			if fake := e.upTimer.Load(); fake != nil {
				retry = (*fake)(wait)
			} else {
				timer = time.NewTimer(wait)
				retry = timer.C
			}
		}
	}
}

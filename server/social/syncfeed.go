package social

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/cborx"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/sync/relaysync"
	"github.com/segue-fm/segue/sync/wire"
)

// The Service is the relay sync endpoint's relaysync.ActivitySource: a
// device that holds the sync WebSocket subscribes there
// (wire.TypeActivitySubscribe) instead of opening GET /v1/activity/stream,
// and publishes there (wire.TypeActivityPublish) instead of POST
// /v1/activity; it gets the same events under the same rules — the user is the
// connection's authenticated caller, friends come from the follow graph
// at each publication (a block ends the friendship at once), hidden
// activity is never published — and the same limits (its subscriptions
// count against the streams per user and in all).
var _ relaysync.ActivitySource = (*Service)(nil)

// ErrActivityUnavailable refuses a sync-connection subscription whose
// snapshot could not be read (the cause is logged, not sent).
var ErrActivityUnavailable = errors.New("social: friend activity unavailable, try again later")

// SubscribeActivity implements relaysync.ActivitySource: it registers out
// for user's friends' activity and returns the current feed (oldest
// first) as encoded api.ActivityItem values. ErrUserStreams or
// ErrStreamsFull when the limits are reached, ErrActivityUnavailable when
// the feed cannot be read; their text goes to the device.
func (s *Service) SubscribeActivity(ctx context.Context, user model.UserID, out *relaysync.ActivityOutbox) ([][]byte, func(), error) {
	remove, err := s.hub.add(user, wsSink{out})
	if err != nil {
		return nil, nil, err
	}
	s.syncSubs.Add(1)
	var once sync.Once
	done := func() { once.Do(func() { remove(); s.syncSubs.Add(-1) }) }
	feed, err := s.Feed(ctx, user)
	if err != nil {
		done()
		s.log.Error("social: activity snapshot", "user", user, "err", err)
		return nil, nil, ErrActivityUnavailable
	}
	items := make([][]byte, 0, len(feed))
	for i := len(feed) - 1; i >= 0; i-- {
		b, err := cborx.Marshal(feed[i].Item())
		if err != nil {
			done()
			s.log.Error("social: encode activity snapshot", "user", user, "err", err)
			return nil, nil, ErrActivityUnavailable
		}
		items = append(items, b)
	}
	return items, done, nil
}

// ActivityWritten implements relaysync.ActivitySource: the fan-out
// latency of activities written to a sync connection.
func (s *Service) ActivityWritten(now time.Time, written []*relaysync.Activity) {
	s.lat.record(now, len(written), func(i int) time.Time { return written[i].At() })
}

// SyncSubscriptions returns how many sync connections are subscribed to
// friend activity (they are counted in Streams too).
func (s *Service) SyncSubscriptions() int { return int(s.syncSubs.Load()) }

// ErrActivityRate: a device published activity on its sync connection
// faster than the activity-post limit allows (WithActivityRate); the
// publication is dropped.
var ErrActivityRate = fmt.Errorf("social: too many activity updates: %w", relay.ErrTooManyRequests)

// PublishActivity implements relaysync.ActivitySource: a publication sent
// on user's sync connection, under the same per-user rate limit as POST
// /v1/activity, then Publish.
func (s *Service) PublishActivity(ctx context.Context, user model.UserID, p wire.ActivityPublish) error {
	if ok, _ := s.posts.Allow(string(user), s.opts.now()); !ok {
		return ErrActivityRate
	}
	_, err := s.Publish(ctx, user, api.ActivityPost{Track: model.TrackID(p.Track),
		Context: model.PlayContext{Kind: p.ContextKind, ID: p.ContextID}, Playing: p.Playing})
	return err
}

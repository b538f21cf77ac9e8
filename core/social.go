package core

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/player"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/client"
	"github.com/segue-fm/segue/sync/wire"
)

// privateSessionKey is the store key of the private-session switch: "1"
// while on. See SetPrivateSession.
var privateSessionKey = []byte("cfg/private-session")

// activityTimeout bounds one activity post.
const activityTimeout = 10 * time.Second

// maxActivityEvent bounds one event line of the activity stream.
const maxActivityEvent = 64 << 10

// socialState is the engine's friend-activity publisher (Engine.social).
type socialState struct {
	mu      sync.Mutex
	private *bool             // nil: read from the store on first use
	ctx     model.PlayContext // context of the last PlayTracks/Album/Playlist
}

// setContext records the context the player was last given.
func (s *socialState) setContext(c model.PlayContext) {
	s.mu.Lock()
	s.ctx = c
	s.mu.Unlock()
}

// SetPrivateSession turns the private session on or off. While it is on
// the engine publishes no activity: friends see neither the now-playing
// track nor a last-played one from this device. The switch is stored
// (cfg/private-session), so it holds across restarts until turned off;
// WithPrivateSession sets it at Open instead.
func (e *Engine) SetPrivateSession(ctx context.Context, on bool) error {
	ctx, done, err := e.calls.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	v := []byte("0")
	if on {
		v = []byte("1")
	}
	if err := e.st.Set(ctx, privateSessionKey, v); err != nil {
		return fmt.Errorf("core: store private session: %w", err)
	}
	e.social.mu.Lock()
	e.social.private = &on
	e.social.mu.Unlock()
	return nil
}

// PrivateSession reports whether the private session is on.
func (e *Engine) PrivateSession(ctx context.Context) (bool, error) {
	ctx, done, err := e.calls.enter(ctx)
	if err != nil {
		return false, err
	}
	defer done()
	e.social.mu.Lock()
	defer e.social.mu.Unlock()
	if e.social.private != nil {
		return *e.social.private, nil
	}
	if e.opts.privateSession {
		on := true
		e.social.private = &on
		return true, nil
	}
	v, err := e.st.Get(ctx, privateSessionKey)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("core: read private session: %w", err)
	}
	on := string(v) != "0"
	if on && string(v) != "1" {
		// A damaged switch keeps the session private (nothing is
		// published) until it is set again, rather than publishing what
		// the user may have hidden.
		e.log.Warn("core: private session switch damaged; keeping the session private until it is set again", "key", string(privateSessionKey), "len", len(v))
	}
	e.social.private = &on
	return on, nil
}

// PublishActivity tells the relay what this device plays (post), for the
// user's friends to see. In a private session it publishes nothing and
// returns nil. While documents sync with the relay (Docs.StartSync) and
// the connection is up and the relay announced that it takes them, it
// goes on that WebSocket (a segue-activity-publish message, which the
// relay does not answer: a refused publication is dropped there);
// otherwise it is POST /v1/activity. In offline mode (SetOfflineMode) it
// sends nothing and returns an error matching ErrOffline. The player's engine calls it on every track change and
// play/pause; apps with their own player call it themselves.
func (e *Engine) PublishActivity(ctx context.Context, post api.ActivityPost) error {
	ctx, done, err := e.calls.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	if private, err := e.PrivateSession(ctx); err != nil || private {
		return err
	}
	if e.OfflineMode() {
		return fmt.Errorf("core: activity not published: %w", ErrOffline)
	}
	if c, _ := e.syncClient(); c != nil {
		err := c.PublishActivity(ctx, wire.ActivityPublish{Track: string(post.Track),
			ContextKind: post.Context.Kind, ContextID: post.Context.ID, Playing: post.Playing})
		if !errors.Is(err, client.ErrDisconnected) && !errors.Is(err, client.ErrUnsupported) {
			return err
		}
	}
	return e.call(ctx, http.MethodPost, "/v1/activity", post, noContent, true)
}

// watchActivity publishes p's track changes and play/pause transitions
// until p closes. Posts run one at a time, newest wins: a post queued
// behind a slow one is replaced by a newer one.
func (e *Engine) watchActivity(p *player.Player) {
	st, stop := p.Subscribe()
	pending := make(chan api.ActivityPost, 1)
	go func() {
		unsupported := false
		for post := range pending {
			if unsupported {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), activityTimeout)
			err := e.PublishActivity(ctx, post)
			cancel()
			var se *fetch.StatusError
			switch {
			case errors.As(err, &se) && se.Code == http.StatusNotFound:
				// A relay without the social routes: stop asking it.
				e.log.Info("core: the relay does not take friend activity; not publishing")
				unsupported = true
			case err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrNotRegistered) && !errors.Is(err, ErrOffline):
				e.log.Debug("core: publish activity", "err", err)
			}
		}
	}()
	go func() {
		defer stop()
		defer close(pending)
		var last api.ActivityPost
		for s := range st {
			post := last
			post.Playing = false // stopped: the last track becomes last played
			if s.Track != "" {
				e.social.mu.Lock()
				c := e.social.ctx
				e.social.mu.Unlock()
				playing := s.State == player.StatePlaying || s.State == player.StateBuffering
				post = api.ActivityPost{Track: s.Track, Context: c, Playing: playing}
			}
			if post == last || post.Track == "" {
				continue
			}
			last = post
			for {
				select {
				case pending <- post:
				default:
					select {
					case <-pending:
					default:
					}
					continue
				}
				break
			}
		}
	}()
}

// gatedCall is call with the engine's gate: refused with ErrClosed after
// Close, and cancelled and waited for by it.
func (e *Engine) gatedCall(ctx context.Context, method, path string, in, out any) error {
	ctx, done, err := e.calls.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	return e.call(ctx, method, path, in, out, true)
}

func userPath(prefix string, user model.UserID) string { return prefix + url.PathEscape(string(user)) }

// Follow makes the account follow user; mutual follows are friends.
func (e *Engine) Follow(ctx context.Context, user model.UserID) error {
	return e.gatedCall(ctx, http.MethodPost, userPath("/v1/follows/", user), nil, noContent)
}

// Unfollow stops following user.
func (e *Engine) Unfollow(ctx context.Context, user model.UserID) error {
	return e.gatedCall(ctx, http.MethodDelete, userPath("/v1/follows/", user), nil, noContent)
}

// Block blocks user: follows both ways end, and neither sees the other's
// profile or activity until Unblock.
func (e *Engine) Block(ctx context.Context, user model.UserID) error {
	return e.gatedCall(ctx, http.MethodPost, userPath("/v1/blocks/", user), nil, noContent)
}

// Unblock lifts a block.
func (e *Engine) Unblock(ctx context.Context, user model.UserID) error {
	return e.gatedCall(ctx, http.MethodDelete, userPath("/v1/blocks/", user), nil, noContent)
}

// Users lists one of the account's user sets: "follows", "followers",
// "friends" or "blocks", ascending, the whole of it: it reads every page
// of the relay's list (api.MaxUserListLimit names a page). The slice is
// owned by the caller.
func (e *Engine) Users(ctx context.Context, set string) ([]model.UserID, error) {
	switch set {
	case "follows", "followers", "friends", "blocks":
	default:
		return nil, fmt.Errorf("core: unknown user set %q", set)
	}
	all := []model.UserID{}
	cursor := ""
	for {
		q := url.Values{"limit": {strconv.Itoa(api.MaxUserListLimit)}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		var out api.UserList
		if err := e.gatedCall(ctx, http.MethodGet, "/v1/"+set+"?"+q.Encode(), nil, &out); err != nil {
			return nil, err
		}
		if out.Users == nil { // a relay sends [] for an empty page
			return nil, e.badAnswer("list %s: the answer has no users list", set)
		}
		all = append(all, out.Users...)
		if out.Next == "" {
			return all, nil
		}
		if out.Next == cursor || len(out.Users) == 0 {
			return nil, fmt.Errorf("core: list %s: the relay's next page does not advance", set)
		}
		cursor = out.Next
	}
}

// Profile returns user's profile as this account sees it.
func (e *Engine) Profile(ctx context.Context, user model.UserID) (api.Profile, error) {
	var out api.Profile
	if err := e.gatedCall(ctx, http.MethodGet, userPath("/v1/users/", user), nil, &out); err != nil {
		return api.Profile{}, err
	}
	if out.User != user {
		return api.Profile{}, e.badAnswer("profile of %s answered for %q", user, out.User)
	}
	return out, nil
}

// SetProfile changes the account's display name and privacy settings
// (nil fields unchanged).
func (e *Engine) SetProfile(ctx context.Context, set api.ProfileSettings) error {
	return e.gatedCall(ctx, http.MethodPut, "/v1/profile", set, noContent)
}

// FriendActivity returns each friend's latest activity, most recent
// first, owned by the caller.
func (e *Engine) FriendActivity(ctx context.Context) ([]api.Activity, error) {
	var out api.ActivityFeed
	if err := e.gatedCall(ctx, http.MethodGet, "/v1/activity", nil, &out); err != nil {
		return nil, err
	}
	if out.Activities == nil { // a relay sends [] when no friend played
		return nil, e.badAnswer("friend activity: the answer has no activities list")
	}
	return out.Activities, nil
}

// WatchFriends calls fn with each friend's activity: first the current
// feed (oldest first), then every change as it happens. When documents
// sync with the relay (Docs.StartSync) it subscribes on that sync
// WebSocket (segue-activity messages: one connection carries the
// device's sync and its activity feed; a reconnection delivers the
// current feed again); otherwise, or when the relay does not answer the
// subscription there within 10 s, it holds the relay's activity stream
// (Server-Sent Events on the engine's HTTP client). It returns when ctx
// ends (nil), or with the error that ended the stream (ErrActivityRefused
// when the relay refused it); callers reconnect. fn runs on the calling
// goroutine.
func (e *Engine) WatchFriends(ctx context.Context, fn func(api.Activity)) error {
	ctx, done, err := e.calls.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	tok := e.Token()
	if tok == "" {
		return ErrNotRegistered
	}
	if c, stopped := e.syncClient(); c != nil {
		err := e.watchSync(ctx, c, stopped, fn)
		if !errors.Is(err, errNoSyncActivity) {
			return err
		}
		e.log.Info("core: the relay does not deliver friend activity on the sync connection; using its SSE stream")
	}
	var errs []error
	for _, base := range e.opts.origins {
		err := e.watchOne(ctx, base, tok, fn)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil || !errors.Is(err, ErrOffline) {
			return err
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// watchOne streams activity from one origin. A connection that could
// not be made wraps ErrOffline.
func (e *Engine) watchOne(ctx context.Context, base, tok string, fn func(api.Activity)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(base, "/")+"/v1/activity/stream", nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "text/event-stream")
	c := *e.client
	c.Timeout = 0 // a stream lasts as long as ctx
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("core: activity stream %s: %w: %w", base, ErrOffline, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		return fmt.Errorf("%w: activity stream", ErrUnauthorized)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("core: activity stream: %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 4096), maxActivityEvent)
	var event string
	var data []string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if event == "activity" && len(data) > 0 {
				var a api.Activity
				if err := json.Unmarshal([]byte(strings.Join(data, "\n")), &a); err != nil {
					return fmt.Errorf("%w: activity event: %w", ErrBadResponse, err)
				}
				fn(a)
			}
			event, data = "", nil
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("core: activity stream: %w", err)
	}
	return nil
}

// Share creates a share link of a track, album or playlist (kind
// api.ShareTrack, api.ShareAlbum, api.SharePlaylist).
func (e *Engine) Share(ctx context.Context, kind, id string) (api.Share, error) {
	return e.share(ctx, api.ShareRequest{Kind: kind, ID: id})
}

// InviteLink creates a collaborator invite link to a playlist the
// account owns, valid for ttl (0: the relay's longest, 7 days by default).
func (e *Engine) InviteLink(ctx context.Context, playlist string, ttl time.Duration) (api.Share, error) {
	return e.share(ctx, api.ShareRequest{Kind: api.SharePlaylist, ID: playlist, Invite: true, TTL: int64(ttl / time.Second)})
}

// share posts req and checks that the answer is a share link.
func (e *Engine) share(ctx context.Context, req api.ShareRequest) (api.Share, error) {
	var out api.Share
	if err := e.gatedCall(ctx, http.MethodPost, "/v1/shares", req, &out); err != nil {
		return api.Share{}, err
	}
	if out.Token == "" || out.URL == "" {
		return api.Share{}, e.badAnswer("share of %s %s answered without a token or link", req.Kind, req.ID)
	}
	return out, nil
}

// RevokeShare revokes one of the account's share links.
func (e *Engine) RevokeShare(ctx context.Context, token string) error {
	return e.gatedCall(ctx, http.MethodDelete, "/v1/shares/"+url.PathEscape(token), nil, noContent)
}

// AcceptShare follows a shared playlist (and, for an invite, becomes a
// collaborator).
func (e *Engine) AcceptShare(ctx context.Context, token string) (api.ShareAccepted, error) {
	var out api.ShareAccepted
	if err := e.gatedCall(ctx, http.MethodPost, "/v1/shares/"+url.PathEscape(token)+"/accept", nil, &out); err != nil {
		return api.ShareAccepted{}, err
	}
	if out.Kind == "" || out.ID == "" {
		return api.ShareAccepted{}, e.badAnswer("share accepted without what it shares")
	}
	return out, nil
}

package social

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/internal/cborx"
	"github.com/segue-fm/segue/internal/safetext"
	"github.com/segue-fm/segue/server/relay"
	"github.com/segue-fm/segue/store"
)

// Errors of the follow graph. Each wraps the relay error that gives its
// HTTP status.
var (
	// ErrNoUser: the named user does not exist, or has blocked the
	// caller (the two are indistinguishable on purpose) (404).
	ErrNoUser = fmt.Errorf("social: no such user: %w", relay.ErrNotFound)
	// ErrBadUser: a user name that cannot exist (400).
	ErrBadUser = fmt.Errorf("social: bad user name: %w", relay.ErrBadRequest)
	// ErrSelf: following or blocking oneself (400).
	ErrSelf = fmt.Errorf("social: not with yourself: %w", relay.ErrBadRequest)
	// ErrBlocked: the caller has blocked the user; unblock first (403).
	ErrBlocked = fmt.Errorf("social: you blocked this user: %w", relay.ErrForbidden)
	// ErrTooMany: the caller follows or blocks as many users as allowed (403).
	ErrTooMany = fmt.Errorf("social: limit reached: %w", relay.ErrForbidden)
	// ErrBadProfile: a display name that is too long or not printable
	// UTF-8 (400).
	ErrBadProfile = fmt.Errorf("social: bad profile: %w", relay.ErrBadRequest)
	// ErrBadPage: a user list's limit outside 1 to api.MaxUserListLimit,
	// or a cursor the relay did not give (400).
	ErrBadPage = fmt.Errorf("social: bad page: %w", relay.ErrBadRequest)
)

// MaxDisplayName bounds a display name in bytes.
const MaxDisplayName = 64

var userRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]{0,63}$`)

// Keys of the follow graph (docs/ARCHITECTURE.md §5, "Social"):
//
//	soc/fo/<user>/<followee>  empty: user follows followee
//	soc/fi/<user>/<follower>  empty: follower follows user (the reverse index)
//	soc/bl/<user>/<blocked>   empty: user blocked blocked
//	soc/prof/<user>           CBOR profile
//	soc/act/<user>            CBOR last activity
func followKey(u, v model.UserID) []byte   { return store.Key("soc", "fo", string(u), string(v)) }
func followerKey(u, v model.UserID) []byte { return store.Key("soc", "fi", string(u), string(v)) }
func blockKey(u, v model.UserID) []byte    { return store.Key("soc", "bl", string(u), string(v)) }
func profileKey(u model.UserID) []byte     { return store.Key("soc", "prof", string(u)) }
func activityKey(u model.UserID) []byte    { return store.Key("soc", "act", string(u)) }
func followPrefix(u model.UserID) []byte   { return store.Prefix("soc", "fo", string(u)) }
func followerPrefix(u model.UserID) []byte { return store.Prefix("soc", "fi", string(u)) }
func blockPrefix(u model.UserID) []byte    { return store.Prefix("soc", "bl", string(u)) }

// profile is the record at soc/prof/<user>.
type profile struct {
	DisplayName    string `cbor:"1,keyasint,omitempty"`
	HideActivity   bool   `cbor:"2,keyasint,omitempty"`
	ShowTopArtists bool   `cbor:"3,keyasint,omitempty"`
}

var (
	cborEnc = cborx.EncMode()
	cborDec = cborx.Limits{MaxNestedLevels: 4, MaxArrayElements: 1 << 10, MaxMapPairs: 64}.DecMode()
)

// checkUser validates a user name from a request.
func checkUser(u string) (model.UserID, error) {
	if !userRE.MatchString(u) {
		return "", fmt.Errorf("%w %s", ErrBadUser, relay.QuoteInput(u))
	}
	return model.UserID(u), nil
}

// checkDisplayName accepts up to MaxDisplayName bytes of valid UTF-8
// that safetext.Check passes (no control character, no bidirectional
// embedding, override or isolate), and without any other format
// character (zero-width spaces and joiners, the direction marks) or
// line and paragraph separator either, and not only white space (""
// unsets it: the user name is shown; "   " would show nothing).
func checkDisplayName(s string) error {
	if len(s) > MaxDisplayName || !utf8.ValidString(s) {
		return fmt.Errorf("%w: display name over %d bytes or not UTF-8", ErrBadProfile, MaxDisplayName)
	}
	if err := safetext.Check(s); err != nil {
		return fmt.Errorf("%w: display name: %w", ErrBadProfile, err)
	}
	for _, r := range s {
		if unicode.Is(unicode.Cf, r) {
			return fmt.Errorf("%w: display name has the format character U+%04X", ErrBadProfile, r)
		}
		if unicode.In(r, unicode.Zl, unicode.Zp) {
			return fmt.Errorf("%w: display name has the separator U+%04X", ErrBadProfile, r)
		}
	}
	if s != "" && strings.TrimFunc(s, unicode.IsSpace) == "" {
		return fmt.Errorf("%w: display name is only white space", ErrBadProfile)
	}
	return nil
}

// has reports whether key exists in tx.
func has(tx store.Txn, key []byte) (bool, error) {
	_, err := tx.Get(key)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// exists reports whether user has an account.
func exists(tx store.Txn, user model.UserID) (bool, error) { return has(tx, relay.AccountKey(user)) }

// countPrefix counts keys under prefix, up to limit (then it stops).
func countPrefix(it func(prefix []byte, reverse bool, fn func(k, v []byte) error) error, prefix []byte, limit int) (int, error) {
	n := 0
	err := it(prefix, false, func(_, _ []byte) error {
		n++
		if n >= limit {
			return store.ErrStop
		}
		return nil
	})
	return n, err
}

// target checks that them is a user other than me who has not blocked
// me (ErrNoUser otherwise).
func target(tx store.Txn, me, them model.UserID) error {
	if me == them {
		return ErrSelf
	}
	ok, err := exists(tx, them)
	if err != nil {
		return err
	}
	if !ok {
		return ErrNoUser
	}
	blocked, err := has(tx, blockKey(them, me))
	if err != nil {
		return err
	}
	if blocked {
		return ErrNoUser
	}
	return nil
}

// Follow makes me follow them. Following a user who blocked me is
// ErrNoUser; one I blocked, ErrBlocked; following again is a no-op.
func (s *Service) Follow(ctx context.Context, me, them model.UserID) error {
	s.graph.wmu.Lock()
	defer s.graph.wmu.Unlock()
	err := s.st.Update(ctx, func(tx store.Txn) error {
		if err := target(tx, me, them); err != nil {
			return err
		}
		b, err := has(tx, blockKey(me, them))
		if err != nil {
			return err
		}
		if b {
			return ErrBlocked
		}
		if f, err := has(tx, followKey(me, them)); err != nil || f {
			return err
		}
		n, err := countPrefix(tx.Iterate, followPrefix(me), s.opts.maxFollowing)
		if err != nil {
			return err
		}
		if n >= s.opts.maxFollowing {
			return fmt.Errorf("%w: you follow %d users", ErrTooMany, n)
		}
		if err := tx.Set(followKey(me, them), nil); err != nil {
			return err
		}
		return tx.Set(followerKey(them, me), nil)
	})
	if err == nil {
		s.graph.follow(me, them)
	}
	return err
}

// Unfollow makes me stop following them: a no-op when I do not follow
// a user who exists, ErrNoUser (as Follow) when them does not exist or
// blocked me, ErrSelf for myself. A follow I have is always removed.
func (s *Service) Unfollow(ctx context.Context, me, them model.UserID) error {
	s.graph.wmu.Lock()
	defer s.graph.wmu.Unlock()
	err := s.st.Update(ctx, func(tx store.Txn) error {
		f, err := has(tx, followKey(me, them))
		if err != nil {
			return err
		}
		if !f {
			return target(tx, me, them)
		}
		if err := tx.Delete(followKey(me, them)); err != nil {
			return err
		}
		return tx.Delete(followerKey(them, me))
	})
	if err == nil {
		s.graph.unfollow(me, them)
	}
	return err
}

// Block makes me block them: both follows between us go, and neither of
// us can follow the other or see the other's activity until I unblock.
// them must exist (blocking someone who blocked me is allowed).
func (s *Service) Block(ctx context.Context, me, them model.UserID) error {
	s.graph.wmu.Lock()
	defer s.graph.wmu.Unlock()
	err := s.st.Update(ctx, func(tx store.Txn) error {
		if me == them {
			return ErrSelf
		}
		ok, err := exists(tx, them)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNoUser
		}
		if b, err := has(tx, blockKey(me, them)); err != nil || b {
			return err
		}
		n, err := countPrefix(tx.Iterate, blockPrefix(me), s.opts.maxBlocks)
		if err != nil {
			return err
		}
		if n >= s.opts.maxBlocks {
			return fmt.Errorf("%w: you block %d users", ErrTooMany, n)
		}
		for _, k := range [][]byte{followKey(me, them), followerKey(them, me), followKey(them, me), followerKey(me, them)} {
			if err := tx.Delete(k); err != nil {
				return err
			}
		}
		return tx.Set(blockKey(me, them), nil)
	})
	if err == nil {
		s.graph.unfollow(me, them)
		s.graph.unfollow(them, me)
	}
	return err
}

// Unblock lifts my block of them (follows are not restored): a no-op
// when I did not block a user who exists; ErrNoUser when them does not
// exist (as Block, whether them blocked me does not matter), ErrSelf for
// myself. A block I have is always lifted.
func (s *Service) Unblock(ctx context.Context, me, them model.UserID) error {
	return s.st.Update(ctx, func(tx store.Txn) error {
		b, err := has(tx, blockKey(me, them))
		switch {
		case err != nil:
			return err
		case b:
			return tx.Delete(blockKey(me, them))
		case me == them:
			return ErrSelf
		}
		ok, err := exists(tx, them)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNoUser
		}
		return nil
	})
}

// users lists the last key components under prefix, ascending.
func (s *Service) users(ctx context.Context, prefix []byte) ([]model.UserID, error) {
	out := []model.UserID{}
	err := s.st.Iterate(ctx, prefix, false, func(k, _ []byte) error {
		out = append(out, model.UserID(k[len(prefix):]))
		return nil
	})
	return out, err
}

// usersPage lists the last key components under prefix that sort after
// after ("": from the first), ascending, at most limit of them, and
// reports whether more follow. With a store.Seeker (the relay's Badger)
// the scan starts at after's key, so a page costs its own keys however
// deep it is; another store's scan starts at the prefix's first key and
// skips the names before after.
func (s *Service) usersPage(ctx context.Context, prefix []byte, after model.UserID, limit int) ([]model.UserID, bool, error) {
	out := []model.UserID{}
	more := false
	fn := func(k, _ []byte) error {
		name := k[len(prefix):]
		if after != "" && bytes.Compare(name, []byte(after)) <= 0 {
			return nil
		}
		if len(out) == limit {
			more = true
			return store.ErrStop
		}
		out = append(out, model.UserID(name))
		return nil
	}
	var err error
	if sk, ok := s.st.(store.Seeker); ok && after != "" {
		err = sk.IterateFrom(ctx, prefix, append(bytes.Clone(prefix), after...), fn)
	} else {
		err = s.st.Iterate(ctx, prefix, false, fn)
	}
	return out, more, err
}

// pageOf returns the names of the ascending list l that sort after after
// ("": from the first), at most limit of them (a copy), and whether more
// follow.
func pageOf(l []model.UserID, after model.UserID, limit int) ([]model.UserID, bool) {
	i := 0
	if after != "" {
		j, found := slices.BinarySearch(l, after)
		if found {
			j++
		}
		i = j
	}
	end := min(len(l), i+limit)
	return append([]model.UserID{}, l[i:end]...), end < len(l)
}

// followPage is one page of the users me follows (followers: of those
// who follow me), after after, at most limit (see pageOf): from the
// friends index, or the store while the index is off.
func (s *Service) followPage(ctx context.Context, me model.UserID, followers bool, after model.UserID, limit int) ([]model.UserID, bool, error) {
	if p, more, ok := s.graph.page(me, followers, after, limit); ok {
		return p, more, nil
	}
	if err := s.LoadGraph(ctx); err != nil {
		return nil, false, err
	}
	if p, more, ok := s.graph.page(me, followers, after, limit); ok {
		return p, more, nil
	}
	prefix := followPrefix(me)
	if followers {
		prefix = followerPrefix(me)
	}
	return s.usersPage(ctx, prefix, after, limit)
}

// Following lists the users me follows.
func (s *Service) Following(ctx context.Context, me model.UserID) ([]model.UserID, error) {
	return s.users(ctx, followPrefix(me))
}

// Followers lists the users who follow me.
func (s *Service) Followers(ctx context.Context, me model.UserID) ([]model.UserID, error) {
	return s.users(ctx, followerPrefix(me))
}

// Blocks lists the users me blocked.
func (s *Service) Blocks(ctx context.Context, me model.UserID) ([]model.UserID, error) {
	return s.users(ctx, blockPrefix(me))
}

// LoadGraph builds the in-memory friends index from the store (see
// friendIndex), which is otherwise built on first use; the relay calls it
// at start so that the first publication does not wait for it.
func (s *Service) LoadGraph(ctx context.Context) error {
	s.graph.wmu.Lock()
	defer s.graph.wmu.Unlock()
	return s.graph.load(ctx, s.st)
}

// Friends lists the users me follows who follow me back, ascending, from
// the in-memory index (the store when the index is over its limit).
func (s *Service) Friends(ctx context.Context, me model.UserID) ([]model.UserID, error) {
	if f, ok := s.graph.friends(me); ok {
		return f, nil
	}
	if err := s.LoadGraph(ctx); err != nil {
		return nil, err
	}
	if f, ok := s.graph.friends(me); ok {
		return f, nil
	}
	return s.storedFriends(ctx, me)
}

// storedFriends is Friends read from the store (storedFriendsPage).
func (s *Service) storedFriends(ctx context.Context, me model.UserID) ([]model.UserID, error) {
	f, _, err := s.storedFriendsPage(ctx, me, "", math.MaxInt)
	return f, err
}

// friendsPage is a page of Friends (GET /v1/friends): from the in-memory
// index, else from the store (storedFriendsPage).
func (s *Service) friendsPage(ctx context.Context, me, after model.UserID, limit int) ([]model.UserID, bool, error) {
	if f, ok := s.graph.friends(me); ok {
		p, more := pageOf(f, after, limit)
		return p, more, nil
	}
	if err := s.LoadGraph(ctx); err != nil {
		return nil, false, err
	}
	if f, ok := s.graph.friends(me); ok {
		p, more := pageOf(f, after, limit)
		return p, more, nil
	}
	return s.storedFriendsPage(ctx, me, after, limit)
}

// friendScanBatch bounds the follows storedFriendsPage reads per scan
// before it checks them; its scans start at a page's worth and double.
const friendScanBatch = 1024

// storedFriendsPage lists from the store the users me follows who follow
// me back, after after ("": from the first), ascending, at most limit,
// and whether more follow. It walks me's follows from after (at most
// WithMaxFollowing of them) in batches and checks each with one point
// read of its follow of me, so its cost is bounded by me's follows and
// never depends on how many follow me: a popular user's followers are not
// read.
func (s *Service) storedFriendsPage(ctx context.Context, me, after model.UserID, limit int) ([]model.UserID, bool, error) {
	out := []model.UserID{}
	batch := min(limit, friendScanBatch-1) + 1 // a page's worth first, in case all are friends
	for {
		names, more, err := s.usersPage(ctx, followPrefix(me), after, batch)
		if err != nil {
			return nil, false, err
		}
		for _, f := range names {
			_, err := s.st.Get(ctx, followKey(f, me))
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return nil, false, err
			}
			if len(out) == limit {
				return out, true, nil
			}
			out = append(out, f)
		}
		if !more {
			return out, false, nil
		}
		after = names[len(names)-1]
		batch = min(2*batch, friendScanBatch)
	}
}

// readProfile returns user's profile record (the zero profile when none).
func (s *Service) readProfile(ctx context.Context, user model.UserID) (profile, error) {
	var p profile
	b, err := s.st.Get(ctx, profileKey(user))
	if errors.Is(err, store.ErrNotFound) {
		return p, nil
	}
	if err != nil {
		return p, err
	}
	if err := cborDec.Unmarshal(b, &p); err != nil {
		return p, fmt.Errorf("decode profile of %s: %w", user, err)
	}
	return p, nil
}

// ImportFollow records inside tx that follower follows followee, with no
// checks (existence, blocks, limits): for importers and load generators
// (bench/socialload) filling a relay's store before the relay starts.
func ImportFollow(tx store.Txn, follower, followee model.UserID) error {
	if err := tx.Set(followKey(follower, followee), nil); err != nil {
		return err
	}
	return tx.Set(followerKey(followee, follower), nil)
}

package relay

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/cborx"
	"github.com/segue-fm/segue/internal/safetext"
	"github.com/segue-fm/segue/internal/userlimit"
	"github.com/segue-fm/segue/store"
	"github.com/segue-fm/segue/sync/docs"
	"github.com/segue-fm/segue/sync/relaysync"
)

// Subscription states of an account. New accounts are SubscriptionActive;
// the license server may add states and gates content keys on them.
const (
	SubscriptionActive   = "active"
	SubscriptionInactive = "inactive"
)

// Account is a relay account as stored at acct/<username> (CBOR).
type Account struct {
	Username     string    `cbor:"1,keyasint"`
	Salt         []byte    `cbor:"2,keyasint"`
	Hash         []byte    `cbor:"3,keyasint"` // Argon2id(password, Salt, Params), 32 bytes
	Params       [3]uint32 `cbor:"4,keyasint"` // time, memory KiB, threads
	Subscription string    `cbor:"5,keyasint"`
	Created      time.Time `cbor:"6,keyasint"`
	// Country is the account's ISO 3166-1 alpha-2 country (ValidCountry),
	// set at sign-up or by the admin; "" when unknown. Play counts are
	// kept per country too (server/counting).
	Country string `cbor:"7,keyasint,omitempty"`
}

// Device is a registered device as stored at dev/<deviceID> (CBOR). It is
// what the auth middleware puts into the request context.
type Device struct {
	ID         model.DeviceID `cbor:"1,keyasint" json:"device_id"`
	User       model.UserID   `cbor:"2,keyasint" json:"user"`
	Name       string         `cbor:"3,keyasint" json:"name"`
	SignPub    []byte         `cbor:"4,keyasint" json:"sign_pub"` // Ed25519, 32 bytes
	HPKEPub    []byte         `cbor:"5,keyasint" json:"hpke_pub"` // X25519, 32 bytes
	Registered time.Time      `cbor:"6,keyasint" json:"registered"`
	// Reg names this registration of the device: drawn at random when
	// its record is created (its first registration, or the first after
	// a deregistration deleted the record), kept when its account
	// registers it again. Every token carries the Reg it was issued
	// under, and a token whose Reg is not its device's is refused, so a
	// deregistration ends the device's tokens for good. Records and
	// tokens from before it have 0 and match each other.
	Reg uint64 `cbor:"7,keyasint,omitempty" json:"-"`
}

// tokenRecord is the value at tok/<sha256(token) hex>.
type tokenRecord struct {
	Device  model.DeviceID `cbor:"1,keyasint"`
	Expires time.Time      `cbor:"2,keyasint"`
	Reg     uint64         `cbor:"3,keyasint,omitempty"` // the device's Reg when the token was issued
}

// Errors of account and device operations.
var (
	// ErrAccountExists: the username is taken (409).
	ErrAccountExists = errors.New("relay: account exists")
	// ErrTooManySignups: the client address created its share of
	// accounts (WithSignupRate); 429 with Retry-After. It is an
	// ErrTooManyRequests.
	ErrTooManySignups = fmt.Errorf("relay: too many signups from this address: %w", ErrTooManyRequests)
	// ErrBadUsername: the username does not match ^[a-z0-9][a-z0-9_.-]{0,63}$ (400).
	ErrBadUsername = errors.New("relay: bad username")
	// ErrBadPassword: at signup, the password is shorter than 8 or longer
	// than 1024 bytes, or only whitespace (400).
	ErrBadPassword = errors.New("relay: bad password")
	// ErrBadCredentials: unknown user or wrong password, indistinguishably (401).
	ErrBadCredentials = errors.New("relay: wrong username or password")
	// ErrBadProof: the device registration's keys, timestamp or signature
	// are invalid (400).
	ErrBadProof = errors.New("relay: bad device proof")
	// ErrDeviceTaken: the device key is registered to another account (409).
	ErrDeviceTaken = errors.New("relay: device registered to another account")
	// ErrUnauthorized: missing, unknown or expired token (401).
	ErrUnauthorized = errors.New("relay: unauthorized")
)

// ProofWindow is how far a device registration's Issued time may be from
// the relay's clock, either way.
const ProofWindow = 5 * time.Minute

var (
	cborEnc = cborx.EncMode()
	// cborDec reads the relay's own records (acct/, dev/, tok/).
	cborDec = cborx.Limits{MaxNestedLevels: 8, MaxArrayElements: 1 << 16, MaxMapPairs: 1 << 10}.DecMode()
)

// AccountKey is the store key of user's Account record, acct/<user>. The
// caller owns the returned slice.
func AccountKey(user model.UserID) []byte { return []byte("acct/" + string(user)) }

// DeviceKey is the store key of a Device record, dev/<id>. The caller
// owns the returned slice.
func DeviceKey(id model.DeviceID) []byte { return []byte("dev/" + string(id)) }

// DecodeRecord decodes a record the relay stored at AccountKey (into an
// *Account) or DeviceKey (into a *Device), with the relay's size limits,
// for packages sharing its data directory (the license server).
// Re-encode a changed record with the core deterministic encoding.
func DecodeRecord(b []byte, v any) error { return cborDec.Unmarshal(b, v) }
func tokKey(hash [32]byte) []byte        { return []byte("tok/" + hex.EncodeToString(hash[:])) }
func hashPassword(pw, salt []byte, p [3]uint32) []byte {
	return argon2.IDKey(pw, salt, p[0], p[1], uint8(p[2]), 32)
}

// accounts implements account, device and token storage over a store.
// Every Argon2id computation passes through gate (memory budget), and
// password checks and signups through guard (backoff and per-address cap).
// signupAddresses is how many client addresses the signup limiter
// remembers (WithSignupRate).
const signupAddresses = 10_000

type accounts struct {
	st    store.Store
	argon ArgonParams
	ttl   time.Duration
	now   func() time.Time
	gate  *hashGate
	guard *loginGuard
	cache *authCache
	// signups is the per-address signup bucket (WithSignupRate); nil: no limit.
	signups *userlimit.Limiter
	dummy   Account // hashed against when the user does not exist, to even out timing
}

func newAccounts(st store.Store, o Options) *accounts {
	a := &accounts{st: st, argon: o.argon, ttl: o.tokenTTL, now: o.now,
		gate:  newHashGate(o.hashMemory, o.hashQueue, o.hashWait),
		guard: newLoginGuard(o.loginLimits, o.now), cache: newAuthCache(o.authCache)}
	if o.signupRate > 0 {
		a.signups = userlimit.New(time.Hour/time.Duration(o.signupRate), o.signupRate, signupAddresses)
	}
	a.dummy = Account{Salt: make([]byte, 16), Params: [3]uint32{o.argon.Time, o.argon.MemoryK, uint32(o.argon.Threads)}}
	a.dummy.Hash = hashPassword([]byte("segue-dummy-password"), a.dummy.Salt, a.dummy.Params)
	return a
}

// hash computes Argon2id of pw with salt and p inside the memory budget,
// for the client address addr, after check (run once the slot is held,
// so a limit reached while waiting still applies) passes.
func (a *accounts) hash(ctx context.Context, pw, salt []byte, p [3]uint32, addr string, check func() error) ([]byte, error) {
	var out []byte
	err := a.gate.do(ctx, int64(p[1])<<10, addr, func() error {
		if err := check(); err != nil {
			return err
		}
		out = hashPassword(pw, salt, p)
		return nil
	})
	return out, err
}

// limiterUser is the account key of user in the login limiter: the
// username, or one shared key for strings that cannot be usernames, so
// the table never holds long input.
func limiterUser(user string) string {
	if !model.ValidUserID(model.UserID(user)) {
		return "\x00invalid"
	}
	return user
}

func validCredentials(user, pw string) error {
	if !model.ValidUserID(model.UserID(user)) {
		return fmt.Errorf("%w: %s", ErrBadUsername, QuoteInput(user))
	}
	if len(pw) < 8 || len(pw) > 1024 {
		return fmt.Errorf("%w: must be 8 to 1024 bytes", ErrBadPassword)
	}
	if strings.TrimSpace(pw) == "" {
		return fmt.Errorf("%w: only whitespace", ErrBadPassword)
	}
	return nil
}

// create stores a new account with an active subscription and, in the
// same transaction, binds its library document id
// (relaysync.BindLibrary), so the id is the account's before anyone can
// create a document there. addr is the client address (clientAddr), whose
// signups in flight are capped.
func (a *accounts) create(ctx context.Context, user, pw, country, addr string, limited bool) error {
	if err := validCredentials(user, pw); err != nil {
		return err
	}
	if country != "" && !ValidCountry(country) {
		return fmt.Errorf("%w: %w: %s", ErrBadRequest, ErrBadCountry, QuoteInput(country))
	}
	leave, err := a.guard.enter(addr)
	if err != nil {
		return err
	}
	defer leave()
	key := AccountKey(model.UserID(user))
	if _, err := a.st.Get(ctx, key); err == nil {
		return ErrAccountExists // before hashing: a taken name costs no hash
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("read account: %w", err)
	}
	if limited && a.signups != nil {
		if ok, wait := a.signups.Allow(addr, a.now()); !ok {
			return RetryLater(ErrTooManySignups, wait)
		}
	}
	acct := Account{
		Username:     user,
		Salt:         make([]byte, 16),
		Params:       [3]uint32{a.argon.Time, a.argon.MemoryK, uint32(a.argon.Threads)},
		Subscription: SubscriptionActive,
		Created:      a.now().UTC(),
		Country:      country,
	}
	if _, err := rand.Read(acct.Salt); err != nil {
		return fmt.Errorf("read salt: %w", err)
	}
	if acct.Hash, err = a.hash(ctx, []byte(pw), acct.Salt, acct.Params, addr, func() error { return nil }); err != nil {
		return err
	}
	val, err := cborEnc.Marshal(acct)
	if err != nil {
		return fmt.Errorf("encode account: %w", err)
	}
	return a.st.Update(ctx, func(tx store.Txn) error {
		_, err := tx.Get(key)
		switch {
		case err == nil:
			return ErrAccountExists
		case !errors.Is(err, store.ErrNotFound):
			return fmt.Errorf("read account: %w", err)
		}
		if err := tx.Set(key, val); err != nil {
			return err
		}
		_, err = relaysync.BindLibrary(tx, model.UserID(user), rand.Reader)
		return err
	})
}

// library returns user's library document id, binding one for an
// account created before ids were assigned (relaysync.BindLibrary).
func (a *accounts) library(ctx context.Context, user model.UserID) (docs.DocumentID, error) {
	var id docs.DocumentID
	err := a.st.Update(ctx, func(tx store.Txn) error {
		var err error
		id, err = relaysync.BindLibrary(tx, user, rand.Reader)
		return err
	})
	return id, err
}

// account loads an account.
func (a *accounts) account(ctx context.Context, user string) (Account, error) {
	var acct Account
	if !model.ValidUserID(model.UserID(user)) {
		return acct, store.ErrNotFound
	}
	val, err := a.st.Get(ctx, AccountKey(model.UserID(user)))
	if err != nil {
		return acct, err
	}
	if err := cborDec.Unmarshal(val, &acct); err != nil {
		return acct, fmt.Errorf("decode account %s: %w", user, err)
	}
	return acct, nil
}

// verify checks a password from the client address addr in constant time
// with respect to whether the account exists: an unknown user is hashed
// against a dummy account with the current parameters, through the same
// limiter and memory budget. A blocked account or address is
// ErrRateLimited, a full hashing queue ErrBusy; a wrong password counts
// a failure for both the account and the address, a right one clears the
// account's failures.
func (a *accounts) verify(ctx context.Context, user, pw, addr string) (Account, error) {
	leave, err := a.guard.enter(addr)
	if err != nil {
		return Account{}, err
	}
	defer leave()
	lu := limiterUser(user)
	allow := func() error { return a.guard.allow(lu, addr) }
	if err := allow(); err != nil {
		return Account{}, err
	}
	acct, err := a.account(ctx, user)
	found := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return acct, err
	}
	ref := acct
	if !found || len(ref.Salt) == 0 || ref.Params[0] == 0 || ref.Params[2] == 0 || ref.Params[2] > 255 {
		ref = a.dummy
	}
	got, err := a.hash(ctx, []byte(pw), ref.Salt, ref.Params, addr, allow)
	if err != nil {
		return Account{}, err
	}
	if subtle.ConstantTimeCompare(got, ref.Hash) != 1 || !found {
		a.guard.failed(lu, addr)
		return Account{}, ErrBadCredentials
	}
	a.guard.succeeded(lu)
	return acct, nil
}

// newReg returns a random, non-zero Device.Reg.
func newReg() (uint64, error) {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("read registration id: %w", err)
		}
		if r := binary.BigEndian.Uint64(b[:]); r != 0 {
			return r, nil
		}
	}
}

// MaxDeviceName is the longest device name (bytes) POST /v1/devices
// accepts.
const MaxDeviceName = 128

// checkProof validates the sizes of a POST /v1/devices body, its device
// name (at most MaxDeviceName bytes that safetext.Check passes: the name
// is shown back to the account's devices, GET /v1/licenses/devices) and
// its proof of possession (Sig over crypto.DeviceProofMessage).
func checkProof(r *api.RegisterRequest, now time.Time) error {
	switch {
	case len(r.SignPub) != ed25519.PublicKeySize:
		return fmt.Errorf("%w: sign_pub is %d bytes, want 32", ErrBadProof, len(r.SignPub))
	case len(r.HPKEPub) != 32:
		return fmt.Errorf("%w: hpke_pub is %d bytes, want 32", ErrBadProof, len(r.HPKEPub))
	case len(r.Sig) != ed25519.SignatureSize:
		return fmt.Errorf("%w: sig is %d bytes, want 64", ErrBadProof, len(r.Sig))
	case len(r.Name) > MaxDeviceName:
		return fmt.Errorf("%w: name longer than %d bytes", ErrBadProof, MaxDeviceName)
	}
	if err := safetext.Check(r.Name); err != nil {
		return fmt.Errorf("%w: name: %w", ErrBadProof, err)
	}
	issued := time.Unix(r.Issued, 0)
	if d := now.Sub(issued); d > ProofWindow || d < -ProofWindow {
		return fmt.Errorf("%w: issued %s is outside ±%s of relay time", ErrBadProof, issued.UTC().Format(time.RFC3339), ProofWindow)
	}
	msg := crypto.DeviceProofMessage(r.Username, r.Name, r.SignPub, r.HPKEPub, issued)
	if !ed25519.Verify(r.SignPub, msg, r.Sig) {
		return fmt.Errorf("%w: signature does not verify", ErrBadProof)
	}
	return nil
}

// register verifies the credentials and proof, stores (or refreshes) the
// device and returns a new token and the account's library document id
// (bound in the same transaction for an account created before ids were
// assigned). addr is the client address (clientAddr) for the login
// limiter. Re-registering a device of the same account keeps its id and
// issues an additional token.
func (a *accounts) register(ctx context.Context, r *api.RegisterRequest, addr string) (Device, string, docs.DocumentID, error) {
	acct, err := a.verify(ctx, r.Username, r.Password, addr)
	if err != nil {
		return Device{}, "", docs.DocumentID{}, err
	}
	now := a.now()
	if err := checkProof(r, now); err != nil {
		return Device{}, "", docs.DocumentID{}, err
	}
	dev := Device{
		ID:         crypto.DeviceIDFor(r.SignPub),
		User:       model.UserID(acct.Username),
		Name:       r.Name,
		SignPub:    r.SignPub,
		HPKEPub:    r.HPKEPub,
		Registered: now.UTC(),
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return Device{}, "", docs.DocumentID{}, fmt.Errorf("read token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw[:])
	var lib docs.DocumentID
	err = a.st.Update(ctx, func(tx store.Txn) error {
		old, err := tx.Get(DeviceKey(dev.ID))
		switch {
		case err == nil:
			var prev Device
			if err := cborDec.Unmarshal(old, &prev); err != nil {
				return fmt.Errorf("decode device %s: %w", dev.ID, err)
			}
			if prev.User != dev.User {
				return ErrDeviceTaken
			}
			dev.Reg = prev.Reg
		case errors.Is(err, store.ErrNotFound):
			if dev.Reg, err = newReg(); err != nil {
				return err
			}
		default:
			return fmt.Errorf("read device: %w", err)
		}
		devVal, err := cborEnc.Marshal(dev)
		if err != nil {
			return fmt.Errorf("encode device: %w", err)
		}
		tokVal, err := cborEnc.Marshal(tokenRecord{Device: dev.ID, Expires: now.Add(a.ttl).UTC(), Reg: dev.Reg})
		if err != nil {
			return fmt.Errorf("encode token: %w", err)
		}
		if err := tx.Set(DeviceKey(dev.ID), devVal); err != nil {
			return err
		}
		if err := tx.Set(tokKey(sha256.Sum256([]byte(token))), tokVal); err != nil {
			return err
		}
		lib, err = relaysync.BindLibrary(tx, dev.User, rand.Reader)
		return err
	})
	if err != nil {
		return Device{}, "", docs.DocumentID{}, err
	}
	a.cache.invalidate()
	return dev, token, lib, nil
}

// authenticate resolves a bearer token to its session (device and token
// expiry), from the token cache when it holds the token under the current
// generation, else from the store. The session may be shared with other
// requests: read only.
func (a *accounts) authenticate(ctx context.Context, token string) (*session, error) {
	if len(token) == 0 || len(token) > MaxTokenLen {
		return nil, ErrUnauthorized
	}
	sum := sha256.Sum256([]byte(token))
	if s, ok := a.cache.get(sum); ok {
		if !a.now().Before(s.Expires) {
			return nil, fmt.Errorf("%w: token expired", ErrUnauthorized)
		}
		return s, nil
	}
	gen := a.cache.generation()
	val, err := a.st.Get(ctx, tokKey(sum))
	if errors.Is(err, store.ErrNotFound) {
		return nil, ErrUnauthorized
	}
	if err != nil {
		return nil, fmt.Errorf("read token: %w", err)
	}
	var rec tokenRecord
	if err := cborDec.Unmarshal(val, &rec); err != nil {
		return nil, fmt.Errorf("decode token: %w", err)
	}
	now := a.now()
	if !now.Before(rec.Expires) {
		return nil, fmt.Errorf("%w: token expired", ErrUnauthorized)
	}
	val, err = a.st.Get(ctx, DeviceKey(rec.Device))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: device removed", ErrUnauthorized)
	}
	if err != nil {
		return nil, fmt.Errorf("read device: %w", err)
	}
	var dev Device
	if err := cborDec.Unmarshal(val, &dev); err != nil {
		return nil, fmt.Errorf("decode device: %w", err)
	}
	if dev.Reg != rec.Reg {
		// Issued before a deregistration, to this account or another.
		return nil, fmt.Errorf("%w: device removed", ErrUnauthorized)
	}
	return a.cache.fill(sum, session{Device: dev, Expires: rec.Expires}, gen, rec.Expires.Sub(now)), nil
}

package crypto

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/crypto/argon2"

	"github.com/segue-fm/segue/internal/dirsync"
)

// ErrKeyNotFound is returned by KeyStore.Load for a name never saved.
var ErrKeyNotFound = errors.New("crypto: key not found")

// ErrKeyExists is returned by KeyCreator.Create for a name a secret is
// saved under already.
var ErrKeyExists = errors.New("crypto: key exists")

// ErrWrongPassphrase is returned by FileKeyStore.Load when the passphrase
// does not open the file, or when the file's protection does not match the
// store's (protected file without passphrase, or the reverse).
var ErrWrongPassphrase = errors.New("crypto: wrong passphrase")

// ErrBadKeyName is returned for a key name that is empty, longer than 64
// bytes, or has characters other than [A-Za-z0-9._-] (or starts with '.').
var ErrBadKeyName = errors.New("crypto: bad key name")

// ErrBadKeyFile is returned for a key file that is not in the FileKeyStore
// format.
var ErrBadKeyFile = errors.New("crypto: malformed key file")

// KeyStore keeps small secrets (identity keys, at-rest keys) sealed at
// rest. The embedding app may provide one backed by the platform keychain;
// FileKeyStore is the default. Implementations are safe for concurrent use.
type KeyStore interface {
	// Load returns a copy of the secret saved under name, owned by the
	// caller, or an error matching ErrKeyNotFound.
	Load(ctx context.Context, name string) ([]byte, error)
	// Save stores secret under name, replacing any previous one,
	// atomically and durably.
	Save(ctx context.Context, name string, secret []byte) error
}

func checkKeyName(name string) error {
	if name == "" || len(name) > 64 || name[0] == '.' {
		return fmt.Errorf("%w: %q", ErrBadKeyName, name)
	}
	for _, c := range []byte(name) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("%w: %q", ErrBadKeyName, name)
		}
	}
	return nil
}

// KeyCreator is a KeyStore that can also save a secret only when none is
// saved under its name, in one step (ErrKeyExists otherwise), so that
// two users of one store creating a secret at once (two tabs of a
// browser) keep one. LoadOrCreateIdentity uses it when the store is one.
type KeyCreator interface {
	KeyStore
	Create(ctx context.Context, name string, secret []byte) error
}

// MemoryKeyStore is a KeyStore in memory, for tests and ephemeral engines.
// The zero value is ready to use.
type MemoryKeyStore struct {
	mu sync.Mutex
	m  map[string][]byte
}

// Load implements KeyStore.
func (s *MemoryKeyStore) Load(ctx context.Context, name string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkKeyName(name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.m[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrKeyNotFound, name)
	}
	return bytes.Clone(v), nil
}

// Save implements KeyStore.
func (s *MemoryKeyStore) Save(ctx context.Context, name string, secret []byte) error {
	return s.put(ctx, name, secret, false)
}

// Create implements KeyCreator.
func (s *MemoryKeyStore) Create(ctx context.Context, name string, secret []byte) error {
	return s.put(ctx, name, secret, true)
}

// put stores a copy of secret under name; with create only when name
// holds nothing (else ErrKeyExists).
func (s *MemoryKeyStore) put(ctx context.Context, name string, secret []byte, create bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkKeyName(name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.m[name]; ok && create {
		return fmt.Errorf("%w: %s", ErrKeyExists, name)
	}
	if s.m == nil {
		s.m = map[string][]byte{}
	}
	s.m[name] = append([]byte{}, secret...)
	return nil
}

// Argon2id parameters of passphrase-protected key files.
type Argon2Params struct {
	Time    uint32 // passes
	Memory  uint32 // KiB
	Threads uint8
}

// Bounds on Argon2 parameters read from a key file, so a tampered file
// cannot make Load spend unbounded memory or time.
const (
	maxArgonTime   = 16
	maxArgonMemory = 1 << 20 // KiB = 1 GiB
)

// FileKeyStoreOptions configures NewFileKeyStore. Start from
// DefaultFileKeyStoreOptions.
type FileKeyStoreOptions struct {
	passphrase []byte
	argon      Argon2Params
	rand       io.Reader
}

// DefaultFileKeyStoreOptions returns the defaults: no passphrase (files
// protected by permissions only, 0600 in a 0700 directory), Argon2id at
// RFC 9106's second recommended setting (3 passes, 64 MiB, 4 lanes) for
// when a passphrase is set, and crypto/rand for salts and nonces.
func DefaultFileKeyStoreOptions() FileKeyStoreOptions {
	return FileKeyStoreOptions{argon: Argon2Params{Time: 3, Memory: 64 << 10, Threads: 4}, rand: rand.Reader}
}

// WithPassphrase protects files with a key derived from passphrase by
// Argon2id and AES-256-GCM (default: none). The options keep a copy.
func (o FileKeyStoreOptions) WithPassphrase(p []byte) FileKeyStoreOptions {
	o.passphrase = bytes.Clone(p)
	return o
}

// WithArgon2 sets the Argon2id cost for files written from now on (default
// 3 passes, 64 MiB, 4 threads). Each file records its own parameters, so
// changing them keeps older files readable. Time must be 1..16, Memory
// 8·Threads..1 GiB (in KiB), Threads ≥ 1.
func (o FileKeyStoreOptions) WithArgon2(p Argon2Params) FileKeyStoreOptions {
	o.argon = p
	return o
}

// WithRand sets the source of salts and nonces (default crypto/rand).
func (o FileKeyStoreOptions) WithRand(r io.Reader) FileKeyStoreOptions {
	o.rand = r
	return o
}

func (p Argon2Params) check() error {
	if p.Time < 1 || p.Time > maxArgonTime || p.Threads < 1 || p.Memory < 8*uint32(p.Threads) || p.Memory > maxArgonMemory {
		return fmt.Errorf("crypto: argon2 parameters out of range: %+v", p)
	}
	return nil
}

// FileKeyStore is a KeyStore keeping one file per secret in a directory.
type FileKeyStore struct {
	dir  string
	opts FileKeyStoreOptions
}

var (
	_ KeyStore = (*FileKeyStore)(nil)
	_ KeyStore = (*MemoryKeyStore)(nil)
)

// NewFileKeyStore returns a store in dir, creating it with mode 0700.
func NewFileKeyStore(dir string, opts FileKeyStoreOptions) (*FileKeyStore, error) {
	if opts.passphrase != nil {
		if err := opts.argon.check(); err != nil {
			return nil, err
		}
	}
	if opts.rand == nil {
		opts.rand = rand.Reader
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("crypto: create key dir: %w", err)
	}
	return &FileKeyStore{dir: dir, opts: opts}, nil
}

// Key file format: magic "SGK1", then mode byte 0 (plain) followed by the
// secret, or mode byte 1 followed by Argon2 time (u32 BE), memory (u32 BE),
// threads (u8), salt (16), nonce (12) and the AES-256-GCM ciphertext of
// the secret with AAD = every preceding byte ‖ key name.
const (
	keyMagic      = "SGK1"
	modePlain     = 0
	modeProtected = 1
	saltSize      = 16
	nonceSize     = 12
	protHeader    = len(keyMagic) + 1 + 4 + 4 + 1 + saltSize + nonceSize
	maxKeyFile    = 1 << 20
)

func (s *FileKeyStore) path(name string) string { return filepath.Join(s.dir, name+".key") }

// Load implements KeyStore; it fails with ErrWrongPassphrase when the
// passphrase does not open the file and ErrBadKeyFile when the file is
// damaged.
func (s *FileKeyStore) Load(ctx context.Context, name string) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkKeyName(name); err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(s.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrKeyNotFound, name)
	}
	if err != nil {
		return nil, fmt.Errorf("crypto: read key %s: %w", name, err)
	}
	return decodeKeyFile(raw, name, s.opts.passphrase)
}

// decodeKeyFile parses and, when protected, decrypts a key file.
func decodeKeyFile(raw []byte, name string, passphrase []byte) ([]byte, error) {
	if len(raw) > maxKeyFile || len(raw) < len(keyMagic)+1 || string(raw[:len(keyMagic)]) != keyMagic {
		return nil, fmt.Errorf("%w: %s", ErrBadKeyFile, name)
	}
	switch raw[len(keyMagic)] {
	case modePlain:
		if passphrase != nil {
			return nil, fmt.Errorf("%w: %s is not passphrase-protected", ErrWrongPassphrase, name)
		}
		return bytes.Clone(raw[len(keyMagic)+1:]), nil
	case modeProtected:
		if passphrase == nil {
			return nil, fmt.Errorf("%w: %s is passphrase-protected", ErrWrongPassphrase, name)
		}
	default:
		return nil, fmt.Errorf("%w: %s: mode %d", ErrBadKeyFile, name, raw[len(keyMagic)])
	}
	if len(raw) < protHeader+16 {
		return nil, fmt.Errorf("%w: %s: %d bytes", ErrBadKeyFile, name, len(raw))
	}
	p := raw[len(keyMagic)+1:]
	params := Argon2Params{Time: binary.BigEndian.Uint32(p), Memory: binary.BigEndian.Uint32(p[4:]), Threads: p[8]}
	if err := params.check(); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadKeyFile, name, err)
	}
	salt := p[9 : 9+saltSize]
	nonce := p[9+saltSize : 9+saltSize+nonceSize]
	aead := fileAEAD(passphrase, salt, params)
	aad := append(bytes.Clone(raw[:protHeader]), name...)
	pt, err := aead.Open(nil, nonce, raw[protHeader:], aad)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrWrongPassphrase, name)
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, nil
}

func fileAEAD(passphrase, salt []byte, p Argon2Params) cipher.AEAD {
	key := argon2.IDKey(passphrase, salt, p.Time, p.Memory, p.Threads, 32)
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // unreachable: 32-byte key
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err) // unreachable: standard nonce size
	}
	return aead
}

func (s *FileKeyStore) encode(name string, secret []byte) ([]byte, error) {
	if s.opts.passphrase == nil {
		return append(append([]byte(keyMagic), modePlain), secret...), nil
	}
	hdr := make([]byte, protHeader)
	copy(hdr, keyMagic)
	hdr[len(keyMagic)] = modeProtected
	p := hdr[len(keyMagic)+1:]
	binary.BigEndian.PutUint32(p, s.opts.argon.Time)
	binary.BigEndian.PutUint32(p[4:], s.opts.argon.Memory)
	p[8] = s.opts.argon.Threads
	if _, err := io.ReadFull(s.opts.rand, p[9:9+saltSize+nonceSize]); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrShortRandom, err)
	}
	aead := fileAEAD(s.opts.passphrase, p[9:9+saltSize], s.opts.argon)
	aad := append(bytes.Clone(hdr), name...)
	return aead.Seal(hdr, p[9+saltSize:9+saltSize+nonceSize], secret, aad), nil
}

// Save implements KeyStore: it writes a temporary 0600 file, fsyncs it,
// renames it over name's file and fsyncs the directory, so a crash leaves
// either the old or the new secret.
func (s *FileKeyStore) Save(ctx context.Context, name string, secret []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkKeyName(name); err != nil {
		return err
	}
	if len(secret) > maxKeyFile-protHeader-16 {
		return fmt.Errorf("crypto: save key %s: secret of %d bytes is too large", name, len(secret))
	}
	data, err := s.encode(name, secret)
	if err != nil {
		return fmt.Errorf("crypto: save key %s: %w", name, err)
	}
	if err := dirsync.WriteFile(s.path(name), data, 0o600); err != nil {
		return fmt.Errorf("crypto: save key %s: %w", name, err)
	}
	return nil
}

// IdentityKeyName is the KeyStore name under which LoadOrCreateIdentity
// keeps the device identity.
const IdentityKeyName = "device-identity"

// LoadOrCreateIdentity returns the identity saved in ks under
// IdentityKeyName, creating it from rand and saving it on first use; later
// calls return an identical identity. A stored identity that does not
// parse is an error (never silently replaced: the device would lose its
// licenses). With a KeyCreator, an identity another user of the store
// saved after the load is the one returned, not replaced.
func LoadOrCreateIdentity(ctx context.Context, ks KeyStore, rand io.Reader) (*Identity, error) {
	raw, err := ks.Load(ctx, IdentityKeyName)
	switch {
	case err == nil:
		id, err := UnmarshalIdentity(raw)
		if err != nil {
			return nil, fmt.Errorf("load identity: %w", err)
		}
		return id, nil
	case !errors.Is(err, ErrKeyNotFound):
		return nil, fmt.Errorf("load identity: %w", err)
	}
	id, err := NewIdentity(rand)
	if err != nil {
		return nil, fmt.Errorf("create identity: %w", err)
	}
	raw, err = id.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("create identity: %w", err)
	}
	if kc, ok := ks.(KeyCreator); ok {
		switch err := kc.Create(ctx, IdentityKeyName, raw); {
		case err == nil:
			return id, nil
		case !errors.Is(err, ErrKeyExists):
			return nil, fmt.Errorf("create identity: %w", err)
		}
		// Saved by another user of the store since the load: that one,
		// unless it cannot be read (a store that reads an unreadable
		// secret as absent), which is replaced as before.
		switch other, err := ks.Load(ctx, IdentityKeyName); {
		case err == nil:
			id, err := UnmarshalIdentity(other)
			if err != nil {
				return nil, fmt.Errorf("load identity: %w", err)
			}
			return id, nil
		case !errors.Is(err, ErrKeyNotFound):
			return nil, fmt.Errorf("load identity: %w", err)
		}
	}
	if err := ks.Save(ctx, IdentityKeyName, raw); err != nil {
		return nil, fmt.Errorf("create identity: %w", err)
	}
	return id, nil
}

package download

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/fetch"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
)

// maxLicenseResponse bounds a license answer: 65,536 entries ≈ 3.5 MiB.
const maxLicenseResponse = 8 << 20

var strictDec = func() cbor.DecMode {
	m, err := cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		MaxArrayElements:  1 << 17,
		MaxMapPairs:       1 << 10,
		MaxNestedLevels:   8,
	}.DecMode()
	if err != nil {
		panic(err) // static options; cannot fail
	}
	return m
}()

var detEnc = func() cbor.EncMode {
	m, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic(err) // static options; cannot fail
	}
	return m
}()

// parseStatement verifies an api.StatementHeader value against the
// catalog key and checks it speaks to dev and echoes nonce (when nonce is
// non-empty). Errors match ErrBadResponse.
func parseStatement(pub ed25519.PublicKey, header string, dev model.DeviceID, nonce []byte) (api.Statement, error) {
	var s api.Statement
	if header == "" {
		return s, fmt.Errorf("%w: no signed statement", ErrBadResponse)
	}
	if len(header) > 4096 {
		return s, fmt.Errorf("%w: statement of %d bytes", ErrBadResponse, len(header))
	}
	env, err := base64.RawURLEncoding.DecodeString(header)
	if err != nil {
		return s, fmt.Errorf("%w: statement: %v", ErrBadResponse, err)
	}
	payload, err := crypto.Verify(pub, api.StatementDomain, env)
	if err != nil {
		return s, fmt.Errorf("%w: statement: %w", ErrBadResponse, err)
	}
	if err := strictDec.Unmarshal(payload, &s); err != nil {
		return s, fmt.Errorf("%w: statement: %v", ErrBadResponse, err)
	}
	if model.DeviceID(s.Device) != dev {
		return s, fmt.Errorf("%w: statement for device %q", ErrBadResponse, s.Device)
	}
	if len(nonce) > 0 && !bytes.Equal(s.Nonce, nonce) {
		return s, fmt.Errorf("%w: statement answers another request", ErrBadResponse)
	}
	return s, nil
}

// relayClient talks to the relay's license API and catalog through the
// engine's shared JSON request path.
type relayClient struct {
	json fetch.JSONClient
}

// answer is one relay answer: body, its content type and the signed
// statement header.
type answer struct {
	body      []byte
	ctype     string
	statement string
}

// do sends a JSON request to the origins in order until one answers (see
// fetch.JSONClient.Do); a refusal still carries its statement header.
func (c *relayClient) do(ctx context.Context, method, path string, in any, auth bool) (answer, error) {
	a, err := c.json.Do(ctx, method, path, in, nil, auth)
	if errors.Is(err, fetch.ErrNoToken) {
		return answer{}, ErrNotRegistered
	}
	return answer{body: a.Body, ctype: a.Header.Get("Content-Type"), statement: a.Header.Get(api.StatementHeader)}, err
}

// album returns an album and its tracks in album order (GET
// /v1/albums/{id}).
func (c *relayClient) album(ctx context.Context, id model.AlbumID) (api.AlbumResponse, error) {
	var out api.AlbumResponse
	a, err := c.do(ctx, http.MethodGet, "/v1/albums/"+url.PathEscape(string(id)), nil, true)
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(a.body, &out); err != nil {
		return out, fmt.Errorf("%w: album %s: %v", ErrBadResponse, id, err)
	}
	return out, nil
}

// track returns a track's catalog metadata (GET /v1/tracks/{id}).
func (c *relayClient) track(ctx context.Context, id model.TrackID) (model.Track, error) {
	var out model.Track
	a, err := c.do(ctx, http.MethodGet, "/v1/tracks/"+url.PathEscape(string(id)), nil, true)
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(a.body, &out); err != nil {
		return out, fmt.Errorf("%w: track %s: %v", ErrBadResponse, id, err)
	}
	if out.ID != id {
		return out, fmt.Errorf("%w: track %s answered as %q", ErrBadResponse, id, out.ID)
	}
	return out, nil
}

// refusal is a relay's signed refusal of a license request.
type refusal struct {
	status string
	err    error
}

func (r *refusal) Error() string { return fmt.Sprintf("relay refused (%s): %v", r.status, r.err) }

func (r *refusal) Unwrap() error { return r.err }

// Is makes a refusal for the account's offline-device limit match
// ErrDeviceLimit.
func (r *refusal) Is(target error) bool {
	return target == ErrDeviceLimit && r.status == api.StatusDeviceLimit
}

// licenseCall posts to a license route and returns the answer (a license
// envelope, or an api.IssueAnswer) with the verified statement. A 403
// carrying a signed statement is a *refusal; a statement that does not
// verify is ErrBadResponse.
func (c *relayClient) licenseCall(ctx context.Context, pub ed25519.PublicKey, dev model.DeviceID, path string, in any, nonce []byte, auth bool) (answer, api.Statement, error) {
	a, err := c.do(ctx, http.MethodPost, path, in, auth)
	if a.statement != "" {
		st, serr := parseStatement(pub, a.statement, dev, nonce)
		if serr != nil {
			return answer{}, st, serr
		}
		if err != nil {
			return answer{}, st, &refusal{status: st.Status, err: err}
		}
		if st.Status != api.StatusOK {
			return answer{}, st, fmt.Errorf("%w: status %q on success", ErrBadResponse, st.Status)
		}
		return a, st, nil
	}
	if err == nil {
		err = fmt.Errorf("%w: license answer without statement", ErrBadResponse)
	}
	return answer{}, api.Statement{}, err
}

func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

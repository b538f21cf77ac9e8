package license_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/internal/testbed"
)

// post sends body as JSON to base+path with token and returns the status
// and body.
func post(t *testing.T, client *http.Client, base, path, token string, body any) (int, []byte) {
	t.Helper()
	b, err := json.Marshal(body)
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	req, err := http.NewRequest(http.MethodPost, base+path, bytes.NewReader(b))
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Error(err)
		return 0, nil
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Error(err)
	}
	return resp.StatusCode, out
}

// registerDevices signs user up and registers n devices of it, returning
// their tokens.
func registerDevices(t *testing.T, client *http.Client, base, user string, n int) []string {
	t.Helper()
	if code, b := post(t, client, base, "/v1/accounts", "", api.AccountRequest{Username: user, Password: testbed.Password}); code != http.StatusCreated {
		t.Fatalf("sign up %s: %d %s", user, code, b)
	}
	toks := make([]string, n)
	for i := range toks {
		toks[i], _ = registerDevice(t, client, base, user, fmt.Sprintf("device %d", i))
	}
	return toks
}

// registerDevice registers a new device named name to the existing
// account user and returns its token and identity.
func registerDevice(t *testing.T, client *http.Client, base, user, name string) (string, *crypto.Identity) {
	t.Helper()
	id, err := crypto.NewIdentity(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return registerIdentity(t, client, base, user, name, id), id
}

// registerIdentity registers the device of identity id, named name, to
// the existing account user and returns its new token.
func registerIdentity(t *testing.T, client *http.Client, base, user, name string, id *crypto.Identity) string {
	t.Helper()
	issued := time.Now()
	sp, hp := id.SignPublic(), id.HPKEPublic()
	req := api.RegisterRequest{Username: user, Password: testbed.Password, Name: name, SignPub: sp, HPKEPub: hp,
		Issued: issued.Unix(), Sig: id.Sign(crypto.DeviceProofMessage(user, name, sp, hp, issued))}
	code, b := post(t, client, base, "/v1/devices", "", req)
	if code != http.StatusCreated {
		t.Fatalf("register %s %s: %d %s", user, name, code, b)
	}
	var out api.RegisterResponse
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out.Token
}

// TestDeviceLimitConcurrent sends bursts of 50 concurrent first-license
// requests, one per device of a fresh account, to a real relay over
// Badger on disk: in every burst exactly the limit (5) win and the other
// 45 get 403 device limit, never a sixth offline device.
func TestDeviceLimitConcurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("registers 200 devices")
	}
	const devices, limit, bursts = 50, 5, 4
	r := testbed.NewRelay(t, testbed.DefaultOptions().WithLicenses(true))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: devices}}
	defer client.CloseIdleConnections()
	for burst := range bursts {
		user := fmt.Sprintf("burst%d", burst)
		toks := registerDevices(t, client, r.URL, user, devices)
		codes := make([]int, devices)
		bodies := make([][]byte, devices)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i, tok := range toks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				codes[i], bodies[i] = post(t, client, r.URL, "/v1/licenses", tok,
					api.IssueRequest{Tracks: []model.TrackID{r.Tracks[0]}, Tier: model.TierLow})
			}()
		}
		close(start)
		wg.Wait()
		won, refused := 0, 0
		for i, c := range codes {
			switch {
			case c == http.StatusOK:
				won++
			case c == http.StatusForbidden && strings.Contains(string(bodies[i]), "offline device limit"):
				refused++
			default:
				t.Errorf("burst %d device %d: %d %s", burst, i, c, bodies[i])
			}
		}
		if won != limit || refused != devices-limit {
			t.Errorf("burst %d: %d licensed, %d refused; want %d and %d", burst, won, refused, limit, devices-limit)
		}
	}
}

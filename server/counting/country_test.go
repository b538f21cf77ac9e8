package counting_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/core/api"
	"github.com/segue-fm/segue/internal/testbed"
	"github.com/segue-fm/segue/server/counting"
)

// TestCountryCounts counts streams per country: from the country given
// at sign-up, under ZZ for an account without one, and from the one the
// admin sets later (earlier counts keep theirs). Bad codes are refused
// at sign-up, by the admin route and in the counts filter.
func TestCountryCounts(t *testing.T) {
	f := newFixture(t, counting.DefaultOptions().WithThreshold(time.Second))
	ctx := context.Background()
	if res := postJSON(t, f.r.URL+"/v1/accounts", "", api.AccountRequest{Username: "fiona", Password: testbed.Password, Country: "FR"}); res.StatusCode != http.StatusCreated {
		t.Fatalf("sign up with FR: %s", res.Status)
	}
	for _, bad := range []string{"XX", "fr", "FRA", "EU", "UK", "ZZ"} {
		if res := postJSON(t, f.r.URL+"/v1/accounts", "", api.AccountRequest{Username: "gil", Password: testbed.Password, Country: bad}); res.StatusCode != http.StatusBadRequest {
			t.Errorf("sign up with %q: %s, want 400", bad, res.Status)
		}
	}
	fr := newDevice(t, f, "fiona")
	none := newDevice(t, f, "gil")
	tr := f.r.Tracks[0]
	for _, d := range []*device{fr, none} {
		if _, a := d.upload(t, []api.PlayRecord{play(1, tr, 1500), play(2, tr, 500)}); a.Results[0].Status != api.PlayAccepted {
			t.Fatalf("upload: %+v", a)
		}
	}
	if _, err := f.svc.Step(ctx); err != nil {
		t.Fatal(err)
	}
	month := counting.Month(play(1, tr, 0).StartedAt)
	check := func(country string, want counting.CountsAnswer) {
		t.Helper()
		q := url.Values{"track": {string(tr)}, "month": {month}}
		if country != "" {
			q.Set("country", country)
		}
		code, got := f.getCounts(t, q)
		want.Track, want.Month = tr, month
		if code != http.StatusOK || !reflect.DeepEqual(got, want) {
			t.Errorf("counts country=%q: %d %+v, want %+v", country, code, got, want)
		}
	}
	check("", counting.CountsAnswer{Streams: 2, Countries: map[string]uint64{"FR": 1, "ZZ": 1}})
	check("FR", counting.CountsAnswer{Country: "FR", Streams: 1})
	check("DE", counting.CountsAnswer{Country: "DE", Streams: 0})
	for _, bad := range []string{"XX", "de", "D", "DEU"} {
		if code, _ := f.getCounts(t, url.Values{"track": {string(tr)}, "month": {month}, "country": {bad}}); code != http.StatusBadRequest {
			t.Errorf("counts country=%q: %d, want 400", bad, code)
		}
	}

	// The admin sets gil's country; later streams count under it.
	for _, c := range []struct {
		user, token, country string
		want                 int
	}{
		{"gil", "", "DE", http.StatusUnauthorized},
		{"gil", adminToken, "XX", http.StatusBadRequest},
		{"nobody", adminToken, "DE", http.StatusNotFound},
		{"gil", adminToken, "DE", http.StatusOK},
	} {
		if code := f.putCountry(t, c.user, c.token, c.country); code != c.want {
			t.Errorf("set %s to %q (token %q): %d, want %d", c.user, c.country, c.token, code, c.want)
		}
	}
	if _, a := none.upload(t, []api.PlayRecord{play(3, tr, 1500)}); a.Results[0].Status != api.PlayAccepted {
		t.Fatalf("upload: %+v", a)
	}
	if _, err := f.svc.Step(ctx); err != nil {
		t.Fatal(err)
	}
	check("", counting.CountsAnswer{Streams: 3, Countries: map[string]uint64{"FR": 1, "ZZ": 1, "DE": 1}})
	// Clearing it counts under ZZ again.
	if code := f.putCountry(t, "gil", adminToken, ""); code != http.StatusOK {
		t.Fatalf("clear country: %d", code)
	}
	if _, a := none.upload(t, []api.PlayRecord{play(4, tr, 1500)}); a.Results[0].Status != api.PlayAccepted {
		t.Fatalf("upload: %+v", a)
	}
	if _, err := f.svc.Step(ctx); err != nil {
		t.Fatal(err)
	}
	check("ZZ", counting.CountsAnswer{Country: "ZZ", Streams: 2})
}

func (f *fixture) getCounts(t *testing.T, q url.Values) (int, counting.CountsAnswer) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, f.r.URL+"/v1/admin/counts?"+q.Encode(), nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var a counting.CountsAnswer
	if res.StatusCode == http.StatusOK {
		if err := json.NewDecoder(res.Body).Decode(&a); err != nil {
			t.Fatal(err)
		}
	}
	return res.StatusCode, a
}

func (f *fixture) putCountry(t *testing.T, user, token, country string) int {
	t.Helper()
	b, _ := json.Marshal(counting.CountryRequest{Country: country})
	req, _ := http.NewRequest(http.MethodPut, f.r.URL+"/v1/admin/accounts/"+user+"/country", strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segue-fm/segue/crypto"
	"github.com/segue-fm/segue/server/catalog"
	"github.com/segue-fm/segue/server/counting"
	"github.com/segue-fm/segue/server/fraud"
	"github.com/segue-fm/segue/server/license"
	"github.com/segue-fm/segue/server/relay"
)

// TestRelayCacheFlags: a --store-cache-mib outside 0…MaxStoreCacheMiB,
// a --sync-cmem-mib whose byte count would wrap, a --sync-loaded-docs
// outside MinSyncLoadedDocs…MaxSyncLoadedDocs, a --sync-commit-linger
// outside 0…MaxSyncCommitLinger, a --sync-pace outside 0…MaxSyncPace,
// a --sync-window outside 0…MaxSyncWindow, a --sync-rate or --sync-burst
// outside MinSyncRate…MaxSyncRate, a --sync-ephemeral-kib or
// --sync-ephemeral-burst-kib outside 1…maxSyncEphemeralKiB, a --sync-user-quota-mib or
// --sync-doc-max-mib outside their bounds, a --signups-per-hour outside
// 0…MaxSignupsPerHour, a --blob-memory-mib outside 16…maxBlobMemoryMiB,
// a --blob-memory-per-client-mib outside 0, 16…--blob-memory-mib,
// a --blob-wait outside 0…relay.MaxBlobWait, a --max-inflight outside
// 0…MaxMaxInFlight, a --sync-max-sessions or --sync-max-sessions-per-user
// outside 0…MaxSyncSessions, a --sync-keepalive outside 0,
// MinSyncKeepalive…MaxSyncKeepalive, a --tcp-user-timeout outside 0,
// MinTCPUserTimeout…MaxTCPUserTimeout, a --memory-limit-mib
// outside 0, minMemoryLimitMiB…maxMemoryLimitMiB, a --recs-pacing
// outside (0, 1], a --max-body outside MinMaxBody…MaxMaxBody, a negative
// --shutdown-timeout, a --lan-key-epoch under relay.MinLANKeyEpoch, a
// --token-ttl under minTokenTTL, an
// --event-retention under minEventRetention or a --fraud-scan-interval
// under minFraudScanInterval (both but 0), a --device-plays-per-day
// outside 0…counting.MaxDeviceQuota or a --license-entries-per-day
// outside 0 and crypto.MaxLicenseEntries…license.MaxDeviceEntriesPerDay,
// or an --admin-token relay.CheckAdminToken refuses (under
// MinAdminTokenLen characters, or with spaces or non-ASCII) is a usage
// error
// before anything is opened or created (a huge store cache used to end
// the process out of memory when Badger opened; --max-body -1 used to
// start a relay that answered every JSON request 413).
func TestRelayCacheFlags(t *testing.T) {
	for _, c := range []struct{ flag, value string }{
		{"store-cache-mib", "-5"},
		{"store-cache-mib", strconv.FormatInt(catalog.MaxStoreCacheMiB+1, 10)},
		{"store-cache-mib", "99999999"},
		{"store-cache-mib", strconv.FormatInt(1<<50, 10)},
		{"sync-cmem-mib", strconv.FormatUint(1<<44, 10)},
		{"sync-loaded-docs", "0"},
		{"sync-loaded-docs", "-3"},
		{"sync-loaded-docs", strconv.Itoa(relay.MinSyncLoadedDocs - 1)},
		{"sync-loaded-docs", strconv.Itoa(relay.MaxSyncLoadedDocs + 1)},
		{"sync-commit-linger", "-1ms"},
		{"sync-commit-linger", (relay.MaxSyncCommitLinger + time.Microsecond).String()},
		{"sync-commit-linger", "1h"},
		{"sync-pace", "-1ms"},
		{"sync-pace", (relay.MaxSyncPace + time.Microsecond).String()},
		{"sync-window", "-1ms"},
		{"sync-window", (relay.MaxSyncWindow + time.Microsecond).String()},
		{"sync-rate", "0"},
		{"sync-rate", "NaN"},
		{"sync-rate", strconv.Itoa(relay.MaxSyncRate + 1)},
		{"sync-burst", "0.5"},
		{"sync-burst", strconv.Itoa(relay.MaxSyncRate + 1)},
		{"sync-ephemeral-kib", "0"},
		{"sync-ephemeral-kib", strconv.Itoa(maxSyncEphemeralKiB + 1)},
		{"sync-ephemeral-burst-kib", "-1"},
		{"sync-ephemeral-burst-kib", strconv.Itoa(maxSyncEphemeralKiB + 1)},
		{"sync-user-quota-mib", "-1"},
		{"sync-user-quota-mib", strconv.Itoa(maxSyncMiB + 1)},
		{"sync-doc-max-mib", "-1"},
		{"sync-doc-max-mib", strconv.Itoa(maxSyncDocMiB + 1)},
		{"signups-per-hour", "-1"},
		{"signups-per-hour", strconv.Itoa(relay.MaxSignupsPerHour + 1)},
		{"blob-memory-mib", "15"},
		{"blob-memory-mib", strconv.Itoa(maxBlobMemoryMiB + 1)},
		{"blob-memory-per-client-mib", "-1"},
		{"blob-memory-per-client-mib", "15"},
		{"blob-memory-per-client-mib", "1025"}, // over the default --blob-memory-mib
		{"blob-wait", "-1s"},
		{"blob-wait", "61s"},
		{"max-inflight", "-1"},
		{"max-inflight", strconv.Itoa(relay.MaxMaxInFlight + 1)},
		{"sync-max-sessions", "-1"},
		{"sync-max-sessions", strconv.Itoa(relay.MaxSyncSessions + 1)},
		{"sync-max-sessions-per-user", "-1"},
		{"sync-max-sessions-per-user", strconv.Itoa(relay.MaxSyncSessions + 1)},
		{"sync-keepalive", "-1s"},
		{"sync-keepalive", (relay.MinSyncKeepalive - time.Millisecond).String()},
		{"sync-keepalive", (relay.MaxSyncKeepalive + time.Second).String()},
		{"tcp-user-timeout", "-1s"},
		{"tcp-user-timeout", (relay.MinTCPUserTimeout - time.Millisecond).String()},
		{"tcp-user-timeout", (relay.MaxTCPUserTimeout + time.Second).String()},
		{"memory-limit-mib", "-1"},
		{"memory-limit-mib", strconv.Itoa(minMemoryLimitMiB - 1)},
		{"memory-limit-mib", strconv.Itoa(maxMemoryLimitMiB + 1)},
		{"memory-limit-mib", strconv.FormatInt(1<<50, 10)},
		{"recs-pacing", "0"},
		{"recs-pacing", "-0.25"},
		{"recs-pacing", "1.01"},
		{"recs-pacing", "NaN"},
		{"max-body", "-1"},
		{"max-body", "0"},
		{"max-body", strconv.Itoa(relay.MinMaxBody - 1)},
		{"max-body", strconv.Itoa(relay.MaxMaxBody + 1)},
		{"shutdown-timeout", "-1s"},
		{"lan-key-epoch", "0s"},
		{"lan-key-epoch", "-1h"},
		{"lan-key-epoch", (relay.MinLANKeyEpoch - time.Second).String()},
		{"token-ttl", "0s"},
		{"token-ttl", "-1h"},
		{"token-ttl", (minTokenTTL - time.Second).String()},
		{"event-retention", "-1h"},
		{"event-retention", "1ns"},
		{"event-retention", (minEventRetention - time.Second).String()},
		{"access-retention", "-1h"},
		{"access-retention", "24h"},
		{"access-retention", (minAccessRetention - time.Second).String()},
		{"device-plays-per-day", "-1"},
		{"device-plays-per-day", strconv.Itoa(counting.MaxDeviceQuota + 1)},
		{"license-entries-per-day", "-1"},
		{"license-entries-per-day", strconv.Itoa(crypto.MaxLicenseEntries - 1)},
		{"license-entries-per-day", strconv.Itoa(license.MaxDeviceEntriesPerDay + 1)},
		{"fraud-scan-interval", "-5s"},
		{"fraud-scan-interval", "1ns"},
		{"fraud-scan-interval", (minFraudScanInterval - time.Second).String()},
		{"admin-token", "x"},
		{"admin-token", strings.Repeat("a", relay.MinAdminTokenLen-1)},
		{"admin-token", " leading-space-0123456789abcdef"},
		{"admin-token", "inner space 0123456789abcdef"},
		{"admin-token", "non-ascii-é-0123456789abcdef"},
	} {
		t.Run(c.flag+"="+c.value, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			args := []string{"-init", "-data", data, "-listen", "127.0.0.1:0", "-insecure-fast-passwords", "-" + c.flag, c.value}
			var stdout, stderr bytes.Buffer
			err := runRelay(context.Background(), args, &stdout, &stderr)
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--"+c.flag) {
				t.Fatalf("err %v, want a usage error naming --%s", err, c.flag)
			}
			if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("data directory after the refusal: %v", err)
			}
		})
	}
}

// TestFraudRetentionCoversScannedMonths: with minFraudEventRetention the
// events of every month the relay's scheduled scan rescans (fraud.Months)
// are all kept, at every hour of two years: retention cuts the log at
// now − retention, and a scan needs it from fraud.PruneMargin before its
// month began. With 1512 h, the bound before the scan covered three
// months on a month's first days, January was cut on 3 and 4 March.
func TestFraudRetentionCoversScannedMonths(t *testing.T) {
	var worst time.Duration
	for now := time.Date(2027, 1, 1, 0, 30, 0, 0, time.UTC); now.Year() < 2029; now = now.Add(time.Hour) {
		for _, m := range fraud.Months(now) {
			start, err := time.Parse("2006-01", m)
			if err != nil {
				t.Fatal(err)
			}
			need := now.Sub(start) + fraud.PruneMargin
			worst = max(worst, need)
			if need > minFraudEventRetention {
				t.Fatalf("at %s the scan of %s needs %v of events, more than minFraudEventRetention (%v)", now, m, need, minFraudEventRetention)
			}
		}
	}
	if minFraudEventRetention-worst > 24*time.Hour {
		t.Errorf("minFraudEventRetention %v is more than a day over the most a scan needed (%v)", minFraudEventRetention, worst)
	}
}

// TestFraudRetention: the relay's fraud scan needs a month's events until
// the next month ends, so with --fraud-scan-interval an --event-retention
// under minFraudEventRetention (but 0) is a usage error before anything
// is opened; the bound itself, 0, or no scan are accepted.
func TestFraudRetention(t *testing.T) {
	for _, c := range []struct {
		interval, retention time.Duration
		ok                  bool
	}{
		{6 * time.Hour, minFraudEventRetention - time.Second, false},
		{6 * time.Hour, 24 * time.Hour, false},
		{6 * time.Hour, minFraudEventRetention, true},
		{6 * time.Hour, 0, true},
		{0, time.Hour, true},
	} {
		if err := checkFraudRetention(c.interval, c.retention); (err == nil) != c.ok || (err != nil && !errors.Is(err, errUsage)) {
			t.Errorf("interval %v, retention %v: %v; want ok %v", c.interval, c.retention, err, c.ok)
		}
	}
	data := filepath.Join(t.TempDir(), "data")
	args := []string{"-init", "-data", data, "-listen", "127.0.0.1:0", "-insecure-fast-passwords",
		"-fraud-scan-interval", "6h", "-event-retention", "720h"}
	err := runRelay(context.Background(), args, io.Discard, io.Discard)
	if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--event-retention") {
		t.Fatalf("err %v, want a usage error naming --event-retention", err)
	}
	if _, err := os.Stat(data); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("data directory after the refusal: %v", err)
	}
}

// TestSetMemoryLimit: --memory-limit-mib sets the Go runtime's soft limit
// to that many MiB and restores the previous one; 0 leaves it alone; the
// bounds are inclusive.
func TestSetMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	for _, c := range []struct {
		mib  int64
		want int64
	}{
		{0, before},
		{minMemoryLimitMiB, minMemoryLimitMiB << 20},
		{768, 768 << 20},
		{maxMemoryLimitMiB, maxMemoryLimitMiB << 20},
	} {
		t.Run(strconv.FormatInt(c.mib, 10), func(t *testing.T) {
			restore, err := setMemoryLimit(c.mib)
			if err != nil {
				t.Fatal(err)
			}
			if got := debug.SetMemoryLimit(-1); got != c.want {
				t.Errorf("limit %d, want %d", got, c.want)
			}
			restore()
			if got := debug.SetMemoryLimit(-1); got != before {
				t.Errorf("limit after restore %d, want %d", got, before)
			}
		})
	}
}

// TestSetGCPercent: the relay sets the collector's target to
// relayGCPercent unless GOGC is set, and restores the one before.
func TestSetGCPercent(t *testing.T) {
	before := debug.SetGCPercent(100)
	defer debug.SetGCPercent(before)
	for _, c := range []struct {
		gogc string
		want int
	}{
		{"", relayGCPercent},
		{"100", 100},
		{"off", 100},
	} {
		t.Run(c.gogc, func(t *testing.T) {
			restore := setGCPercent(c.gogc)
			if got := gcPercent(); got != c.want {
				t.Errorf("GOGC %q: target %d, want %d", c.gogc, got, c.want)
			}
			restore()
			if got := gcPercent(); got != 100 {
				t.Errorf("GOGC %q: target after restore %d, want 100", c.gogc, got)
			}
		})
	}
}

// gcPercent returns the collector's target (debug.SetGCPercent has no
// read-only form: a negative value turns collection off).
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// TestTCPUserTimeoutFlag: --tcp-user-timeout takes 0 (off) and
// relay.MinTCPUserTimeout…relay.MaxTCPUserTimeout; a negative value or one
// outside them is a usage error naming the flag.
func TestTCPUserTimeoutFlag(t *testing.T) {
	for _, c := range []struct {
		in string
		ok bool
	}{
		{"0", true},
		{"30s", true},
		{relay.MinTCPUserTimeout.String(), true},
		{relay.MaxTCPUserTimeout.String(), true},
		{"-1s", false},
		{"-1ns", false},
		{"999ms", false},
		{"10m1s", false},
	} {
		d, err := time.ParseDuration(c.in)
		if err != nil {
			t.Fatal(err)
		}
		err = checkTCPUserTimeout(d)
		if c.ok && err != nil {
			t.Errorf("%s: %v", c.in, err)
		}
		if !c.ok && (!errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--tcp-user-timeout")) {
			t.Errorf("%s: err %v, want a usage error naming --tcp-user-timeout", c.in, err)
		}
	}
}

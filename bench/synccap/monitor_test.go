package main

import (
	"strings"
	"testing"
	"time"
)

// TestVerdict checks when a run is reported as generator-bound.
func TestVerdict(t *testing.T) {
	for _, tc := range []struct {
		name  string
		v     verdict
		bound bool
		says  string
	}{
		{"idle", verdict{cores: 0.2, lagP99: time.Millisecond}, false, "generator not the limit"},
		{"just under", verdict{cores: 0.89, lagP99: genBoundLag}, false, "generator not the limit"},
		{"CPU at the bound", verdict{cores: 0.9, lagP99: time.Millisecond}, true, "CPU 0.90 ≥ 0.9 core"},
		{"schedule behind", verdict{cores: 0.5, lagP99: genBoundLag + time.Millisecond}, true, "schedule lag p99"},
		{"both", verdict{cores: 0.98, lagP99: 3 * time.Second}, true, "CPU 0.98 ≥ 0.9 core, schedule lag p99 3s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.v.bound() != tc.bound {
				t.Fatalf("bound() = %v, want %v", tc.v.bound(), tc.bound)
			}
			s := tc.v.String()
			if !strings.Contains(s, tc.says) || strings.HasPrefix(s, "GENERATOR-BOUND") != tc.bound {
				t.Fatalf("String() = %q, want it to say %q (bound %v)", s, tc.says, tc.bound)
			}
		})
	}
}

package automerge

import "testing"

// BenchmarkHeads reads the heads of a document with one head and with
// two (concurrent changes merged), as the relay does after each applied
// message and ACL check (segue fork: allocations per call).
func BenchmarkHeads(b *testing.B) {
	one := New()
	if err := one.RootMap().Set("k", "v"); err != nil {
		b.Fatal(err)
	}
	if _, err := one.Commit("a"); err != nil {
		b.Fatal(err)
	}
	two, err := one.Fork()
	if err != nil {
		b.Fatal(err)
	}
	if err := two.RootMap().Set("k", "w"); err != nil {
		b.Fatal(err)
	}
	if _, err := two.Commit("b"); err != nil {
		b.Fatal(err)
	}
	if err := one.RootMap().Set("k", "x"); err != nil {
		b.Fatal(err)
	}
	if _, err := one.Commit("c"); err != nil {
		b.Fatal(err)
	}
	if _, err := two.Merge(one); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		doc  *Doc
		want int
	}{{"heads=1", one, 1}, {"heads=2", two, 2}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if hs := tc.doc.Heads(); len(hs) != tc.want {
					b.Fatalf("%d heads, want %d", len(hs), tc.want)
				}
			}
		})
	}
}

package royalties_test

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/segue-fm/segue/core/model"
	"github.com/segue-fm/segue/server/royalties"
)

func rs(party string, role model.Role, share string) model.RightsShare {
	s, err := model.ParseShare(share)
	if err != nil {
		panic(err)
	}
	return model.RightsShare{Party: party, Role: role, Share: s}
}

func TestComputeHolders(t *testing.T) {
	streams := map[model.TrackID]uint64{"a": 1, "b": 2, "c": 1, "z": 0}
	rights := map[model.TrackID][]model.RightsShare{
		"a": {rs("Ann, Jr.", model.RolePerformer, "0.5"), rs("Blue Label", model.RoleLabel, "0.5")},
		"b": {rs("Ann, Jr.", model.RolePerformer, "1")},
		// c has none: its money is held on the Unassigned line.
		"z": {rs("Zed", model.RoleSongwriter, "1")},
	}
	s := royalties.ComputeHolders("2026-11", eur, 10000, streams, rights)
	// Ann: 10000 × 2.5/4 = 6250; Blue: 10000 × 0.5/4 = 1250; unassigned 2500.
	want := "month,currency,party,role,tracks,streams,amount\n" +
		"2026-11,EUR,\"Ann, Jr.\",performer,2,2.5,62.50\n" +
		"2026-11,EUR,Blue Label,label,1,0.5,12.50\n" +
		"2026-11,EUR,(unassigned),(unassigned),1,1,25.00\n"
	if got := string(s.CSV()); got != want {
		t.Errorf("csv:\n%s\nwant:\n%s", got, want)
	}
	if s.UnassignedTracks != 1 || s.Streams != 4 {
		t.Errorf("unassigned %d streams %d", s.UnassignedTracks, s.Streams)
	}
	// 100 cents over three equal thirds: 33.33… each, the leftover cent
	// to the first by (party, role).
	third := map[model.TrackID][]model.RightsShare{"t": {
		rs("A", model.RolePerformer, "0.333333333"), rs("B", model.RoleSongwriter, "0.333333333"), rs("C", model.RoleLabel, "0.333333334")}}
	s = royalties.ComputeHolders("2026-11", eur, 100, map[model.TrackID]uint64{"t": 3}, third)
	if got := fmt.Sprint(s.Holders[0].Amount, " ", s.Holders[1].Amount, " ", s.Holders[2].Amount); got != "0.33 0.33 0.34" {
		t.Errorf("thirds: %s", got)
	}
	if s := royalties.ComputeHolders("2026-11", eur, 100, nil, nil); len(s.Holders) != 0 || s.Streams != 0 {
		t.Errorf("no streams: %+v", s)
	}
}

// TestComputeHoldersProperties: on seeded random catalogs the holder lines
// sum to the pool exactly, each is within one cent of its exact rational
// entitlement, and the same input gives the same bytes.
func TestComputeHoldersProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	parties := []string{"p0", "p1", "p2", "p3", "p4", "p5", "p6"}
	roles := []model.Role{model.RolePerformer, model.RoleSongwriter, model.RoleLabel, model.RoleDistributor}
	for range 200 {
		streams := map[model.TrackID]uint64{}
		rights := map[model.TrackID][]model.RightsShare{}
		exact := map[string]*big.Rat{}
		var total uint64
		for i := range 1 + rng.IntN(40) {
			id := model.TrackID(fmt.Sprint("t", i))
			n := rng.Uint64N(1e7)
			streams[id] = n
			total += n
			if rng.IntN(5) == 0 {
				exact["(unassigned)/(unassigned)"] = addRat(exact["(unassigned)/(unassigned)"], new(big.Rat).SetInt64(int64(n)))
				continue
			}
			k := 1 + rng.IntN(4)
			left := uint64(model.ShareScale)
			used := map[string]bool{}
			for j := range k {
				share := left
				if j < k-1 {
					share = 1 + rng.Uint64N(left-uint64(k-j-1))
				}
				left -= share
				var p string
				var r model.Role
				for {
					p, r = parties[rng.IntN(len(parties))], roles[rng.IntN(len(roles))]
					if !used[p+string(r)] {
						break
					}
				}
				used[p+string(r)] = true
				rights[id] = append(rights[id], model.RightsShare{Party: p, Role: r, Share: model.Share(share)})
				w := new(big.Rat).SetFrac(new(big.Int).SetUint64(n*share), big.NewInt(model.ShareScale))
				exact[p+"/"+string(r)] = addRat(exact[p+"/"+string(r)], w)
			}
		}
		pool := rng.Int64N(royalties.MaxPoolMinor)
		s := royalties.ComputeHolders("2026-11", eur, pool, streams, rights)
		if total == 0 {
			continue
		}
		var sum int64
		for _, l := range s.Holders {
			sum += l.Minor
			e := new(big.Rat).Mul(exact[l.Party+"/"+string(l.Role)], new(big.Rat).SetFrac64(pool, 1))
			e.Quo(e, new(big.Rat).SetFrac(new(big.Int).SetUint64(total), big.NewInt(1)))
			diff := new(big.Rat).Sub(e, new(big.Rat).SetInt64(l.Minor))
			if diff.Abs(diff).Cmp(big.NewRat(1, 1)) >= 0 {
				t.Fatalf("%s/%s: %d cents, exact %s", l.Party, l.Role, l.Minor, e.FloatString(3))
			}
		}
		if sum != pool {
			t.Fatalf("holders sum to %d, pool %d", sum, pool)
		}
		if again := royalties.ComputeHolders("2026-11", eur, pool, streams, rights); string(again.CSV()) != string(s.CSV()) {
			t.Fatal("not reproducible")
		}
	}
}

func addRat(a, b *big.Rat) *big.Rat {
	if a == nil {
		return b
	}
	return new(big.Rat).Add(a, b)
}

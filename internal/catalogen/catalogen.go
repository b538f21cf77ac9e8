// Package catalogen generates large, realistic, seeded catalogs of
// metadata (artists, albums, tracks) for search benchmarks and tests: names
// in several languages with diacritics, punctuation like AC/DC, Guns N'
// Roses and P!nk, "The The", featured artists, and remasters and live
// versions that share their titles. The same seed gives the same catalog.
package catalogen

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// Artist is a generated artist.
type Artist struct {
	ID, Name   string
	Popularity float64
}

// Album is a generated album of one artist.
type Album struct {
	ID, Title, ArtistID, ReleaseDate, Label string
	Genres                                  []string
}

// Track is a generated track; ArtistIDs[0] is the main artist, the others
// are featured.
type Track struct {
	ID, Title, AlbumID, ISRC string
	ArtistIDs                []string
	DiscNumber, TrackNumber  int
	DurationMS               int
	Explicit                 bool
	Popularity               float64
}

// Catalog is a generated catalog.
type Catalog struct {
	Artists []Artist
	Albums  []Album
	Tracks  []Track
}

// Named artists whose punctuation and shape search must handle.
var named = []string{"AC/DC", "Guns N' Roses", "P!nk", "The The", "Sigur Rós", "Björk", "Mötley Crüe", "Beyoncé", "Ke$ha", "will.i.am", "Florence + the Machine", "!!!", "Þursaflokkurinn", "Ólafur Arnalds", "Die Ärzte", "Æthernaut"}

// Syllables per language family; diacritics included.
var syllables = [][]string{
	{"an", "ber", "cla", "de", "el", "fin", "gar", "hol", "is", "jo", "ka", "lin", "mar", "nor", "ol", "pe", "ran", "sol", "tor", "ven"},
	{"mü", "schä", "brö", "kel", "wald", "stein", "ber", "gü", "hof", "lin", "ßer", "fä"},
	{"é", "lou", "ré", "ça", "mé", "lie", "char", "ton", "bel", "vè", "gné", "ro"},
	{"jo", "sé", "ma", "ría", "nú", "ñez", "gar", "cía", "lo", "pez", "ân", "ção"},
	{"bjö", "sig", "urð", "þór", "ól", "af", "dóttir", "son", "hild", "ær", "øy", "å"},
	{"ka", "zu", "ki", "mi", "ya", "shi", "ta", "ro", "na", "ko", "ha", "ru"},
	{"ło", "wski", "kra", "ść", "ża", "dvo", "řák", "czy", "no", "vá", "mi", "le"},
}

var words = []string{"love", "night", "day", "tripper", "heart", "fire", "rain", "road", "home", "light", "dream", "city", "river", "gold", "blue", "wild", "sun", "moon", "dance", "song", "time", "world", "soul", "star", "ghost", "summer", "winter", "highway", "hell", "yesterday", "forever", "nuit", "amour", "corazón", "liebe", "straße", "sommer", "hjarta", "ljós", "sakura", "yoru", "miłość", "ciudad", "mañana", "été", "träume", "jour", "noche"}

var labels = []string{"Nordlys Records", "Blue Fjord", "Sello Ñandú", "Chanson & Fils", "Kōbō Music", "Wytwórnia Łąka"}
var genres = []string{"rock", "pop", "electronic", "jazz", "folk", "hip-hop", "classical", "metal"}

// Generate returns a catalog of about tracks tracks by tracks/10 artists
// (at least the named ones), albums of 4 to 16 tracks, from seed.
func Generate(seed uint64, tracks int) Catalog {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var c Catalog
	nArtists := max(tracks/10, len(named))
	for i := range nArtists {
		name := ""
		if i < len(named) {
			name = named[i]
		} else {
			name = artistName(r)
		}
		// Zipf-like popularity: a few artists dominate.
		pop := math.Round(1000/float64(1+r.IntN(i+1))*100) / 100
		c.Artists = append(c.Artists, Artist{ID: fmt.Sprintf("ar%07d", i), Name: name, Popularity: pop})
	}
	for len(c.Tracks) < tracks {
		ai := r.IntN(len(c.Artists))
		a := c.Artists[ai]
		al := Album{
			ID: fmt.Sprintf("al%07d", len(c.Albums)), Title: title(r, 1+r.IntN(3)), ArtistID: a.ID,
			ReleaseDate: fmt.Sprintf("%04d-%02d-%02d", 1960+r.IntN(66), 1+r.IntN(12), 1+r.IntN(28)),
			Label:       labels[r.IntN(len(labels))], Genres: []string{genres[r.IntN(len(genres))]},
		}
		c.Albums = append(c.Albums, al)
		n := 4 + r.IntN(13)
		for k := 1; k <= n && len(c.Tracks) < tracks; k++ {
			t := Track{
				ID: fmt.Sprintf("tr%08d", len(c.Tracks)), AlbumID: al.ID, ArtistIDs: []string{a.ID},
				ISRC:       isrc(len(c.Tracks)),
				DiscNumber: 1, TrackNumber: k, DurationMS: 90000 + r.IntN(400000),
				Explicit: r.IntN(10) == 0, Popularity: math.Round(a.Popularity*r.Float64()*100) / 100,
				Title: title(r, 1+r.IntN(4)),
			}
			if f := c.Artists[r.IntN(len(c.Artists))].ID; r.IntN(8) == 0 && f != a.ID {
				t.ArtistIDs = append(t.ArtistIDs, f)
			}
			c.Tracks = append(c.Tracks, t)
			// Remasters and live versions share the title.
			if r.IntN(10) == 0 && len(c.Tracks) < tracks {
				v := t
				v.ID = fmt.Sprintf("tr%08d", len(c.Tracks))
				v.ISRC = isrc(len(c.Tracks))
				v.Popularity /= 3
				if r.IntN(2) == 0 {
					v.Title += fmt.Sprintf(" (Remastered %d)", 1990+r.IntN(36))
				} else {
					v.Title += " - Live"
				}
				c.Tracks = append(c.Tracks, v)
			}
		}
	}
	return c
}

// isrc is the ISRC of the n-th generated track: country QZ, registrant
// SGX, then 7 digits (unique below 10 million tracks).
func isrc(n int) string { return fmt.Sprintf("QZSGX%07d", n%10_000_000) }

func artistName(r *rand.Rand) string {
	lang := syllables[r.IntN(len(syllables))]
	word := func() string {
		var b strings.Builder
		for range 2 + r.IntN(2) {
			b.WriteString(lang[r.IntN(len(lang))])
		}
		s := b.String()
		rs := []rune(s)
		return strings.ToUpper(string(rs[0])) + string(rs[1:])
	}
	switch r.IntN(6) {
	case 0:
		return "The " + word() + "s"
	case 1:
		return word()
	case 2:
		return word() + " & " + word()
	default:
		return word() + " " + word()
	}
}

func title(r *rand.Rand, n int) string {
	parts := make([]string, n)
	for i := range parts {
		w := words[r.IntN(len(words))]
		rs := []rune(w)
		parts[i] = strings.ToUpper(string(rs[0])) + string(rs[1:])
	}
	return strings.Join(parts, " ")
}

package eval

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/segue-fm/segue/server/recs"
)

// ErrBadData is returned for a malformed or oversized data file.
var ErrBadData = errors.New("eval: bad lastfm data")

// ErrNoData is returned by FindLastFM when the data directory is absent.
var ErrNoData = errors.New("eval: lastfm-2k data not found")

// EnvLastFMDir names the environment variable that overrides the location
// of the lastfm-2k directory.
const EnvLastFMDir = "SEGUE_LASTFM_DIR"

// Limits on the input files; lastfm-2k is far inside them.
const (
	// MaxRows bounds the data lines of one file.
	MaxRows = 1_000_000
	// MaxLineBytes bounds one line.
	MaxLineBytes = 4096
	// MaxID bounds a user or artist id.
	MaxID = 10_000_000
)

// Dataset is the listening data as dense indices: user u is UserIDs[u] in
// the files, item i is ArtistIDs[i]. Friends[u] lists the dense indices of
// u's friends, ascending.
type Dataset struct {
	Plays     []recs.Play
	UserIDs   []int
	ArtistIDs []int
	Friends   [][]int
}

// Matrix builds the users × artists play matrix.
func (d *Dataset) Matrix() (*recs.Matrix, error) {
	return recs.NewMatrix(len(d.UserIDs), len(d.ArtistIDs), d.Plays)
}

// FindLastFM returns the lastfm-2k directory: $SEGUE_LASTFM_DIR when set,
// else the first shared/data/lastfm-2k found beside the repository root or
// any of its parents (../shared/data/lastfm-2k for a checkout next to the
// shared directory, further up for a worktree nested below it). It returns
// ErrNoData, naming the path it expected, when none holds user_artists.dat.
func FindLastFM() (string, error) {
	if d := os.Getenv(EnvLastFMDir); d != "" {
		if _, err := os.Stat(filepath.Join(d, "user_artists.dat")); err != nil {
			return "", fmt.Errorf("%w: %s=%s: %v", ErrNoData, EnvLastFMDir, d, err)
		}
		return d, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("eval: find lastfm data: %w", err)
	}
	root := wd
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			root = wd
			break
		}
		root = parent
	}
	for dir := filepath.Dir(root); ; dir = filepath.Dir(dir) {
		cand := filepath.Join(dir, "shared", "data", "lastfm-2k")
		if _, err := os.Stat(filepath.Join(cand, "user_artists.dat")); err == nil {
			return cand, nil
		}
		if filepath.Dir(dir) == dir {
			break
		}
	}
	return "", fmt.Errorf("%w: expected %s or $%s", ErrNoData, filepath.Join(filepath.Dir(root), "shared", "data", "lastfm-2k"), EnvLastFMDir)
}

// LoadLastFM reads user_artists.dat and user_friends.dat from dir.
func LoadLastFM(dir string) (*Dataset, error) {
	ua, err := os.Open(filepath.Join(dir, "user_artists.dat"))
	if err != nil {
		return nil, fmt.Errorf("eval: open plays: %w", err)
	}
	defer ua.Close()
	fr, err := os.Open(filepath.Join(dir, "user_friends.dat"))
	if err != nil {
		return nil, fmt.Errorf("eval: open friends: %w", err)
	}
	defer fr.Close()
	return ParseLastFM(ua, fr)
}

// ParseLastFM parses user_artists.dat (header "userID artistID weight",
// then tab-separated rows) and user_friends.dat ("userID friendID" rows,
// header optional). CR line ends are accepted. Users and artists are
// numbered densely in increasing id order; friends who have no plays are
// dropped. Every malformed line is an ErrBadData naming the line.
func ParseLastFM(plays, friends io.Reader) (*Dataset, error) {
	type row struct{ u, a, w int }
	var rows []row
	users, artists := map[int]int{}, map[int]int{}
	err := eachRow(plays, "user_artists.dat", 3, func(f []int) error {
		if f[2] < 0 {
			return fmt.Errorf("negative weight %d", f[2])
		}
		rows = append(rows, row{f[0], f[1], f[2]})
		users[f[0]], artists[f[1]] = 0, 0
		return nil
	})
	if err != nil {
		return nil, err
	}
	d := &Dataset{UserIDs: sortedKeys(users), ArtistIDs: sortedKeys(artists)}
	for i, id := range d.UserIDs {
		users[id] = i
	}
	for i, id := range d.ArtistIDs {
		artists[id] = i
	}
	d.Plays = make([]recs.Play, len(rows))
	for i, r := range rows {
		d.Plays[i] = recs.Play{User: users[r.u], Item: artists[r.a], Count: float64(r.w)}
	}
	d.Friends = make([][]int, len(d.UserIDs))
	seen := map[[2]int]bool{}
	err = eachRow(friends, "user_friends.dat", 2, func(f []int) error {
		u, ok1 := users[f[0]]
		v, ok2 := users[f[1]]
		if ok1 && ok2 && u != v && !seen[[2]int{u, v}] {
			seen[[2]int{u, v}] = true
			d.Friends[u] = append(d.Friends[u], v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for _, f := range d.Friends {
		slices.Sort(f)
	}
	return d, nil
}

// eachRow calls fn with the integer fields of every data line; a first
// line that does not parse as integers is taken as the header.
func eachRow(r io.Reader, name string, fields int, fn func([]int) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, MaxLineBytes), MaxLineBytes)
	vals := make([]int, fields)
	line, n := 0, 0
	for sc.Scan() {
		line++
		text := strings.TrimRight(sc.Text(), "\r")
		if text == "" {
			continue
		}
		parts := strings.Split(text, "\t")
		if len(parts) != fields {
			return fmt.Errorf("%w: %s line %d: %d fields, want %d", ErrBadData, name, line, len(parts), fields)
		}
		ok := true
		for i, p := range parts {
			v, err := strconv.Atoi(p)
			if err != nil || v > MaxID || (i < 2 && v < 0) {
				ok = false
				break
			}
			vals[i] = v
		}
		if !ok {
			if line == 1 {
				continue // header
			}
			return fmt.Errorf("%w: %s line %d: %q", ErrBadData, name, line, text)
		}
		if n++; n > MaxRows {
			return fmt.Errorf("%w: %s has more than %d rows", ErrBadData, name, MaxRows)
		}
		if err := fn(vals); err != nil {
			return fmt.Errorf("%w: %s line %d: %v", ErrBadData, name, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: %s line %d: %v", ErrBadData, name, line+1, err)
	}
	return nil
}

package ingest

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/segue-fm/segue/internal/filekind"
)

// Labeler is implemented by a Request's FS whose file names are not the
// ones its user knows the files by: Label returns how progress reports,
// results and errors name a file of the FS. The segue CLI's FS is rooted
// at "/" and names /tmp/a.wav "tmp/a.wav"; its Label gives back the path
// as it was typed. Without a Labeler they show the FS's names.
type Labeler interface {
	Label(name string) string
}

// label returns how messages name the file name of fsys.
func label(fsys fs.FS, name string) string {
	if l, ok := fsys.(Labeler); ok {
		return l.Label(name)
	}
	return name
}

// open opens name in fsys; a *fs.PathError naming the file names it as
// label does. A name that is not a regular file is refused
// (ErrNotRegular) from its fs.Stat, before it is opened: opening a FIFO
// blocks until a writer opens it, out of reach of the context (the CLI,
// given one, waited for ever, Ctrl-C or not). With an FS that does not
// implement fs.StatFS, fs.Stat opens the file to learn its mode.
func open(fsys fs.FS, name string) (fs.File, error) {
	st, err := fs.Stat(fsys, name)
	if err == nil && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is %s", ErrNotRegular, label(fsys, name), filekind.Of(st.Mode()))
	}
	var f fs.File
	if err == nil {
		f, err = fsys.Open(name)
	}
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) && pe.Path == name {
		return nil, &fs.PathError{Op: "open", Path: label(fsys, name), Err: pe.Err}
	}
	return f, err
}

package ingest

import (
	"errors"
	"io/fs"
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
// label does.
func open(fsys fs.FS, name string) (fs.File, error) {
	f, err := fsys.Open(name)
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) && pe.Path == name {
		return nil, &fs.PathError{Op: pe.Op, Path: label(fsys, name), Err: pe.Err}
	}
	return f, err
}

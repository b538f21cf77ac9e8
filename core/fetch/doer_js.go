//go:build js

package fetch

import "github.com/segue-fm/segue/internal/jsfetch"

func defaultDoer() Doer { return jsfetch.Client{} }

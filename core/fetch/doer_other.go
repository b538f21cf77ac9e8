//go:build !js

package fetch

import "net/http"

func defaultDoer() Doer { return http.DefaultClient }

package certs

import (
	"net/http"
	"strings"
)

// Redirect sends plain-HTTP requests to the same path and query under
// base, the https origin (https://host[:port]). The host comes from base,
// never from the request, so the redirect cannot be pointed elsewhere. GET
// and HEAD get a 301; other methods get a 400 telling the client to use
// https, since a client resending a POST through a redirect would send its
// body twice in the clear.
func Redirect(base string) http.Handler {
	base = strings.TrimRight(base, "/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "use "+base, http.StatusBadRequest)
			return
		}
		path := r.URL.EscapedPath()
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		target := base + path
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		w.Header().Set("Location", target)
		w.WriteHeader(http.StatusMovedPermanently)
	})
}

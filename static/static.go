// Package static embeds the portal's browser assets: the vendored htmx (version in the
// file name), app.css and app.js.
package static

import (
	"embed"
	"net/http"
	"strings"
)

//go:embed *.css *.js
var files embed.FS

// Handler serves the assets. The versioned htmx file is cached for a year; the others
// are revalidated on each use.
func Handler() http.Handler {
	fs := http.FileServerFS(files)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "htmx-") {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			w.Header().Set("Cache-Control", "no-cache")
		}
		fs.ServeHTTP(w, r)
	})
}

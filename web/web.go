// Package web holds the operators' UI: HTML templates and static assets,
// embedded in the binary. The pages work without JavaScript.
package web

import "embed"

// Templates holds templates/layout.html, which every page extends, and
// one file per page.
//
//go:embed templates/*.html
var Templates embed.FS

// Static holds the stylesheet and other assets served under /static/.
//
//go:embed static
var Static embed.FS

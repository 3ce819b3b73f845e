package web

import (
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"sync"

	qrcode "github.com/skip2/go-qrcode"
)

// qrCache keeps recent QR codes: an invoice's code changes only with a
// partial payment, while its page may be reloaded every few seconds (the
// no-script refresh) and encoding is most of a page's cost. It is
// emptied when full, which bounds it without bookkeeping.
type qrCache struct {
	mu    sync.Mutex
	max   int
	codes map[string]template.HTML
}

func newQRCache(max int) *qrCache {
	return &qrCache{max: max, codes: make(map[string]template.HTML, max)}
}

// get returns the SVG for content and label, encoding it on a miss.
func (c *qrCache) get(content, label string) (template.HTML, error) {
	key := content + "\x00" + label
	c.mu.Lock()
	svg, ok := c.codes[key]
	c.mu.Unlock()
	if ok {
		return svg, nil
	}
	svg, err := QRSVG(content, label)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	if len(c.codes) >= c.max {
		clear(c.codes)
	}
	c.codes[key] = svg
	c.mu.Unlock()
	return svg, nil
}

// QRSVG renders content as a QR code in an SVG element: one path of
// horizontal runs of dark modules on a white square, including the
// four-module quiet zone, so it scans from a screen and prints crisply. The
// SVG is built from numbers only; the label is HTML-escaped.
func QRSVG(content, label string) (template.HTML, error) {
	q, err := qrcode.New(content, qrcode.Medium)
	if err != nil {
		return "", fmt.Errorf("qr code for %d bytes: %w", len(content), err)
	}
	bits := q.Bitmap()
	n := len(bits)
	var b strings.Builder
	b.Grow(n * n / 2)
	size := strconv.Itoa(n)
	b.WriteString(`<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ` + size + ` ` + size +
		`" shape-rendering="crispEdges" role="img" aria-label="` + template.HTMLEscapeString(label) + `">` +
		`<rect width="` + size + `" height="` + size + `" fill="#fff"/><path fill="#000" d="`)
	for y, row := range bits {
		for x := 0; x < n; {
			if !row[x] {
				x++
				continue
			}
			start := x
			for x < n && row[x] {
				x++
			}
			// M x y h w v 1 h -w z: a run one module high.
			fmt.Fprintf(&b, "M%d %dh%dv1h-%dz", start, y, x-start, x-start)
		}
	}
	b.WriteString(`"/></svg>`)
	// Built from numbers and an escaped label: safe to inline.
	return template.HTML(b.String()), nil
}

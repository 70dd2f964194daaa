package ical

import (
	"bytes"
	"strings"
	"unicode/utf8"
)

// maxLineOctets is the longest content line RFC 5545 allows, in octets
// and without the CRLF. A folded line's leading space counts towards it.
const maxLineOctets = 75

// writeLine writes one content line and its CRLF, folded so that no
// physical line exceeds maxLineOctets and no UTF-8 sequence is split.
func writeLine(b *bytes.Buffer, line string) {
	limit := maxLineOctets
	for len(line) > limit {
		cut := limit
		for !utf8.RuneStart(line[cut]) {
			cut--
		}
		b.WriteString(line[:cut])
		// A fold is CRLF and one space, which readers remove again.
		b.WriteString("\r\n ")
		line = line[cut:]
		limit = maxLineOctets - 1
	}
	b.WriteString(line)
	b.WriteString("\r\n")
}

// escapeText escapes s as an RFC 5545 TEXT value: a backslash, semicolon
// and comma get a backslash, and a newline becomes \n. Invalid UTF-8
// becomes U+FFFD, CR LF and a lone CR count as a newline, and control
// characters other than tab are dropped.
func escapeText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' || c == ';' || c == ',':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\r':
			if i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
			b.WriteString(`\n`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '\t':
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			// TEXT has no escape for other control characters.
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// hasControl reports whether s contains an ASCII control character.
func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

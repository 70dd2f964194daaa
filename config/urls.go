package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// checkURL returns what is wrong with raw as the URL of endpoint
// ("Persium's token endpoint"), and the URL's lower-case host name when it
// has one. It
// requires https://, or also http:// to a loopback host when loopbackHTTP
// is set. No message quotes the user name, password, query or fragment of
// the URL.
func checkURL(raw, endpoint string, loopbackHTTP bool) (host string, problems []string) {
	printable := displayURL(raw)

	s := raw
	if trimmed := strings.TrimSpace(raw); trimmed != raw {
		problems = append(problems, fmt.Sprintf("%s has white space at the start or end; remove it", printable))
		s = trimmed
	}
	if strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
		return "", append(problems, fmt.Sprintf("%s contains a space or a control character; remove it", printable))
	}

	u, err := url.Parse(s)
	if err != nil {
		return "", append(problems, fmt.Sprintf("%s is not a valid URL%s; write it as https://HOST/PATH", printable, parseReason(s, err)))
	}

	if u.Scheme == "" {
		if strings.HasPrefix(s, "//") {
			return "", append(problems, fmt.Sprintf("%s has no scheme; start it with https://", printable))
		}
		return "", append(problems, fmt.Sprintf("%s is not an absolute URL; write it as https://HOST/PATH", printable))
	}

	switch {
	case u.Scheme == "https" && s[:len("https")] != "https":
		problems = append(problems, fmt.Sprintf("%s writes the scheme in capitals; write https:// in lower case", printable))
	case u.Scheme == "https":
	case loopbackHTTP && u.Scheme == "http" && isLoopback(u.Hostname()):
	case loopbackHTTP:
		problems = append(problems, fmt.Sprintf("%s uses %s; %s must be https:// unless it is on this machine (localhost, 127.0.0.1 or ::1)", printable, u.Scheme, endpoint))
	default:
		problems = append(problems, fmt.Sprintf("%s uses %s; %s must be https://", printable, u.Scheme, endpoint))
	}

	if u.Opaque != "" || u.Hostname() == "" {
		return "", append(problems, fmt.Sprintf("%s has no host; write it as https://HOST/PATH, with two slashes after the colon", printable))
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			problems = append(problems, fmt.Sprintf("%s has port %s, which is not a number from 1 to 65535", printable, quote(port)))
		}
	}
	if u.User != nil {
		problems = append(problems, fmt.Sprintf("%s contains a user name or password; remove them, because rotor's configuration holds no credentials", printable))
	}
	if u.RawQuery != "" || u.ForceQuery {
		problems = append(problems, fmt.Sprintf("%s has a query (?…); remove it", printable))
	}
	if u.Fragment != "" {
		problems = append(problems, fmt.Sprintf("%s has a fragment (#…); remove it", printable))
	}
	return normalizeHost(u.Hostname()), problems
}

// displayURL returns raw quoted for a message, with "…" in place of the
// user name and password, the query and the fragment. A value that cannot
// be shown safely becomes "the value".
func displayURL(raw string) string {
	if !strings.ContainsAny(raw, "@?#") {
		return quote(raw)
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return "the value"
	}
	hadUser := u.User != nil
	hadQuery := u.RawQuery != "" || u.ForceQuery
	hadFragment := u.Fragment != ""
	u.User = nil
	u.RawQuery, u.ForceQuery = "", false
	u.Fragment, u.RawFragment = "", ""

	text := u.String()
	if strings.Contains(text, "@") {
		// An @ outside the authority, as in "https:user:pw@host", may
		// still be part of a password.
		return "the value"
	}
	if hadUser {
		authority := "//"
		if u.Scheme != "" {
			authority = u.Scheme + "://"
		}
		if !strings.HasPrefix(text, authority) {
			return "the value"
		}
		text = authority + "…@" + strings.TrimPrefix(text, authority)
	}
	if hadQuery {
		text += "?…"
	}
	if hadFragment {
		text += "#…"
	}
	return quote(text)
}

// parseReason returns url.Parse's reason for rejecting s, in brackets, or
// nothing when s has an @, since the reason may then quote part of a
// password.
func parseReason(s string, err error) string {
	if strings.Contains(s, "@") {
		return ""
	}
	if uerr, ok := err.(*url.Error); ok {
		err = uerr.Err
	}
	return " (" + strings.TrimPrefix(err.Error(), "net/url: ") + ")"
}

// IsLoopback reports whether host (without a port) names this machine
// only: localhost, or an address in 127.0.0.0/8 or ::1.
func IsLoopback(host string) bool { return isLoopback(host) }

func isLoopback(host string) bool {
	host = normalizeHost(host)
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func normalizeHost(host string) string {
	return strings.TrimSuffix(strings.ToLower(host), ".")
}

// hostName matches a DNS name or an IPv4 address: labels of letters, digits
// and hyphens separated by dots.
var hostName = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$`)

func validHostName(host string) bool {
	return len(host) <= 254 && hostName.MatchString(host)
}

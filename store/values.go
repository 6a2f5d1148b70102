package store

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/nyaruka/phonenumbers"
)

// This file holds the parsers behind the settings: each turns an admin's text
// into a typed value or says, without the key (the caller adds it), what is
// wrong and what is allowed.

// MinDuration is the smallest duration any setting accepts.
const MinDuration = time.Second

// CountOrPercent is users.max_removals: an absolute count, or a percentage of
// the extensions currently linked.
type CountOrPercent struct {
	N       int
	Percent bool
}

// String is "25" or "10%".
func (c CountOrPercent) String() string {
	if c.Percent {
		return strconv.Itoa(c.N) + "%"
	}
	return strconv.Itoa(c.N)
}

// Limit is the number of removals allowed with linked extensions: N, or N
// percent of linked rounded down but at least 1.
func (c CountOrPercent) Limit(linked int) int {
	if !c.Percent {
		return c.N
	}
	return max(linked*c.N/100, 1)
}

// TimeOfDay is a local wall-clock time, schedule.nightly.
type TimeOfDay struct {
	Hour, Minute int
}

// String is "HH:MM".
func (t TimeOfDay) String() string { return fmt.Sprintf("%02d:%02d", t.Hour, t.Minute) }

// Next is the first instant strictly after after at this time of day, in
// after's location (so daylight-saving changes follow the wall clock).
func (t TimeOfDay) Next(after time.Time) time.Time {
	y, m, d := after.Date()
	n := time.Date(y, m, d, t.Hour, t.Minute, 0, 0, after.Location())
	if !n.After(after) {
		n = time.Date(y, m, d+1, t.Hour, t.Minute, 0, 0, after.Location())
	}
	return n
}

func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "on", "1":
		return true, nil
	case "false", "no", "off", "0":
		return false, nil
	}
	return false, fmt.Errorf("%q is not a boolean: use true or false (yes/no, on/off, 1/0)", s)
}

var daysRe = regexp.MustCompile(`^(\d+)d(.*)$`)

// parseDuration reads a Go duration (30s, 5m, 1h30m), or with days, a
// number of days optionally followed by a Go duration (7d, 1d12h).
func parseDuration(s string, days bool) (time.Duration, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	form := "use a Go duration like 30s, 5m or 1h"
	if days {
		form = "use a Go duration like 30s, 5m or 1h, or days like 7d"
	}
	var d time.Duration
	rest, hasDays := s, false
	if m := daysRe.FindStringSubmatch(s); days && m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n > 36500 {
			return 0, fmt.Errorf("%q is not a duration: %s", s, form)
		}
		d, rest, hasDays = time.Duration(n)*24*time.Hour, m[2], true
	}
	if rest != "" || !hasDays {
		r, err := time.ParseDuration(rest)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration: %s", s, form)
		}
		d += r
	}
	if d < MinDuration {
		return 0, fmt.Errorf("%q is shorter than the minimum of 1s: %s", s, form)
	}
	return d, nil
}

func parseCountOrPercent(s string) (CountOrPercent, error) {
	t := strings.TrimSpace(s)
	bad := fmt.Errorf("%q is not a count or a percentage: use a number like 25 or a percentage like 10%%", s)
	c := CountOrPercent{}
	if num, ok := strings.CutSuffix(t, "%"); ok {
		c.Percent, t = true, strings.TrimSpace(num)
	}
	if t == "" || strings.TrimLeft(t, "0123456789") != "" || len(t) > 9 {
		return c, bad
	}
	c.N, _ = strconv.Atoi(t)
	if c.Percent && c.N > 100 {
		return c, fmt.Errorf("%q is more than 100%%: use a percentage from 0%% to 100%% or a count", s)
	}
	return c, nil
}

func parseTimeOfDay(s string) (TimeOfDay, error) {
	bad := fmt.Errorf("%q is not a time of day: use HH:MM from 00:00 to 23:59", s)
	h, m, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || len(h) < 1 || len(h) > 2 || len(m) != 2 {
		return TimeOfDay{}, bad
	}
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if err1 != nil || err2 != nil || hh < 0 || hh > 23 || mm < 0 || mm > 59 || h[0] == '+' || h[0] == '-' {
		return TimeOfDay{}, bad
	}
	return TimeOfDay{Hour: hh, Minute: mm}, nil
}

var guidRe = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func normGUID(s string) (string, error) {
	s = strings.TrimSpace(s)
	if !guidRe.MatchString(s) {
		return "", fmt.Errorf("%q is not a GUID: use the form 00000000-0000-0000-0000-000000000000", s)
	}
	return strings.ToLower(s), nil
}

var labelRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// isDomain accepts a DNS name with at least two labels and a letter TLD.
func isDomain(s string) bool {
	labels := strings.Split(s, ".")
	if len(labels) < 2 || len(s) > 253 {
		return false
	}
	for _, l := range labels {
		if !labelRe.MatchString(l) {
			return false
		}
	}
	tld := labels[len(labels)-1]
	return strings.IndexFunc(tld, func(r rune) bool { return !unicode.IsLetter(r) }) < 0
}

// normTenant accepts a tenant GUID or a verified domain name.
func normTenant(s string) (string, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	if guidRe.MatchString(t) || isDomain(t) {
		return t, nil
	}
	return "", fmt.Errorf("%q is neither a tenant ID (a GUID like 00000000-0000-0000-0000-000000000000) nor a domain name like contoso.onmicrosoft.com", s)
}

// normEmail accepts a bare address, local@domain.
func normEmail(s string) (string, error) {
	t := strings.TrimSpace(s)
	a, err := mail.ParseAddress(t)
	_, domain, _ := strings.Cut(t, "@")
	if err != nil || a.Address != t || !isDomain(strings.ToLower(domain)) {
		return "", fmt.Errorf("%q is not an email address: use the form name@example.com", s)
	}
	return t, nil
}

// normUserRef accepts an object id (GUID) or a UPN.
func normUserRef(s string) (string, error) {
	if g, err := normGUID(s); err == nil {
		return g, nil
	}
	if e, err := normEmail(s); err == nil {
		return e, nil
	}
	return "", fmt.Errorf("%q is neither an object ID (GUID) nor a UPN like name@example.com", s)
}

func isLoopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// urlRule says which schemes a URL setting accepts.
type urlRule struct {
	loopbackHTTP bool   // http allowed when the host is loopback
	forbidSuffix string // a path suffix the URL must not have (pbx.url: /xapi/v1)
}

func (r urlRule) normalize(s string) (string, error) {
	t := strings.TrimSpace(s)
	form := "use an https:// URL"
	if r.loopbackHTTP {
		form = "use an https:// URL (http:// only for 127.0.0.1, ::1 or localhost)"
	}
	u, err := url.Parse(t)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("%q is not a URL: %s", s, form)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%q must not carry credentials, a query or a fragment: %s", s, form)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
	case "http":
		if !r.loopbackHTTP || !isLoopbackHost(u.Hostname()) {
			return "", fmt.Errorf("%q is not https: %s", s, form)
		}
	default:
		return "", fmt.Errorf("%q is not an http(s) URL: %s", s, form)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	if r.forbidSuffix != "" && strings.HasSuffix(strings.ToLower(u.Path), r.forbidSuffix) {
		return "", fmt.Errorf("%q ends in %s: give the base URL without it, e.g. https://pbx.example.com", s, r.forbidSuffix)
	}
	return u.String(), nil
}

// normPath makes a path absolute (relative paths are taken from the current
// directory at the time of config set, which is what the admin means).
func normPath(s string) (string, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return "", fmt.Errorf("%q is not a path: give a file path", s)
	}
	a, err := filepath.Abs(t)
	if err != nil {
		return "", fmt.Errorf("%q is not a path: %v", s, err)
	}
	return a, nil
}

// normDigits accepts an extension number: 1 to 16 digits.
func normDigits(s string) (string, error) {
	t := strings.TrimSpace(s)
	if t == "" || len(t) > 16 || strings.TrimLeft(t, "0123456789") != "" {
		return "", fmt.Errorf("%q is not an extension number: use digits only, like 100", s)
	}
	return t, nil
}

// compareDigits compares two digit strings numerically.
func compareDigits(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

func normRegion(s string) (string, error) {
	t := strings.ToUpper(strings.TrimSpace(s))
	if len(t) == 2 && phonenumbers.GetSupportedRegions()[t] {
		return t, nil
	}
	return "", fmt.Errorf("%q is not a region: use a 2-letter region code like US, GB or DE", s)
}

func normListen(s string) (string, error) {
	t := strings.TrimSpace(s)
	_, port, err := net.SplitHostPort(t)
	p, perr := strconv.Atoi(port)
	if err != nil || perr != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("%q is not a listen address: use host:port like :8080 or 127.0.0.1:8080", s)
	}
	return t, nil
}

// normText accepts any non-empty single-line text.
func normText(s string) (string, error) {
	t := strings.TrimSpace(s)
	if t == "" || strings.ContainsFunc(t, unicode.IsControl) {
		return "", fmt.Errorf("%q is not a usable value: give non-empty text on one line", s)
	}
	return t, nil
}

// normToken accepts non-empty text without spaces (client IDs, secrets).
func normToken(s string) (string, error) {
	t := strings.TrimSpace(s)
	if t == "" || strings.ContainsFunc(t, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return "", fmt.Errorf("value is empty or contains spaces: give it without spaces")
	}
	return t, nil
}

func enumNormalizer(allowed ...string) func(string) (string, error) {
	return func(s string) (string, error) {
		t := strings.ToLower(strings.TrimSpace(s))
		if slices.Contains(allowed, t) {
			return t, nil
		}
		return "", fmt.Errorf("%q is not one of %s", s, strings.Join(allowed, ", "))
	}
}

// listNormalizer accepts comma-separated items, each checked by item; empty
// items are dropped and repeats (ignoring case) removed.
func listNormalizer(item func(string) (string, error)) func(string) (string, error) {
	return func(s string) (string, error) {
		var out []string
		seen := map[string]bool{}
		for _, p := range strings.Split(s, ",") {
			if strings.TrimSpace(p) == "" {
				continue
			}
			v, err := item(p)
			if err != nil {
				return "", fmt.Errorf("item %w", err)
			}
			if k := strings.ToLower(v); !seen[k] {
				seen[k] = true
				out = append(out, v)
			}
		}
		if len(out) == 0 {
			return "", fmt.Errorf("%q is an empty list: give comma-separated values, or unset the key", s)
		}
		return strings.Join(out, ","), nil
	}
}

// splitList splits a normalized list value.
func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

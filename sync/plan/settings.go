package plan

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
)

// Defaults of the settings the planner reads (PRODUCT.md's settings table).
const (
	DefaultScope       = "all"
	DefaultPhoneRegion = "US"
	DefaultDepartment  = "Azure AD"
	DefaultRemoval     = "disable"
	DefaultGrace       = 7 * 24 * time.Hour
	DefaultMaxRemovals = "10%"
	DefaultSSOUsers    = "all"
)

// maxDigits bounds numbers the planner reads as numeric: 18 digits fit a uint64.
const maxDigits = 18

// maxNumber is the top of an open range (users.ext_end empty).
const maxNumber uint64 = 999_999_999_999_999_999

// settings is Settings checked, with defaults filled in and values parsed.
type settings struct {
	Settings
	selected    map[string]bool // lower-cased object ids and UPNs
	ssoSelected map[string]bool
	start       uint64 // 0 = derive from the PBX ("first free")
	end         uint64
	width       int // zero-padding of assigned numbers (users.ext_start "0100" → 4)
	maxCount    int // max_removals as a count, or -1 when a percentage
	maxPercent  int
}

// Validate checks the settings the planner reads and returns an error naming
// the first bad key and its allowed values. Empty values mean the defaults.
func (s Settings) Validate() error {
	_, err := normalize(s)
	return err
}

func normalize(s Settings) (settings, error) {
	n := settings{Settings: s}
	if n.Scope == "" {
		n.Scope = DefaultScope
	}
	switch n.Scope {
	case "all", "groups", "selected", "all-except":
	default:
		return n, fmt.Errorf("users.scope: %q is not one of all, groups, selected, all-except", s.Scope)
	}
	if n.PhoneRegion == "" {
		n.PhoneRegion = DefaultPhoneRegion
	}
	n.PhoneRegion = strings.ToUpper(strings.TrimSpace(n.PhoneRegion))
	if !phonenumbers.GetSupportedRegions()[n.PhoneRegion] {
		return n, fmt.Errorf("users.phone_region: %q is not a two-letter region code such as US, GB or DE", s.PhoneRegion)
	}
	if strings.TrimSpace(n.Department) == "" {
		n.Department = DefaultDepartment
	}
	n.Department = strings.TrimSpace(n.Department)
	if n.Removal == "" {
		n.Removal = DefaultRemoval
	}
	switch n.Removal {
	case "keep", "disable", "delete":
	default:
		return n, fmt.Errorf("users.removal: %q is not one of keep, disable, delete", s.Removal)
	}
	if n.RemovalGrace < 0 {
		return n, fmt.Errorf("users.removal_grace: %s is negative; use a duration such as 7d or 48h", s.RemovalGrace)
	}
	if n.MaxRemovals == "" {
		n.MaxRemovals = DefaultMaxRemovals
	}
	if p, ok := strings.CutSuffix(n.MaxRemovals, "%"); ok {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 || v > 100 {
			return n, fmt.Errorf("users.max_removals: %q is not a count (e.g. 25) or a percentage from 0%% to 100%% (e.g. 10%%)", s.MaxRemovals)
		}
		n.maxCount, n.maxPercent = -1, v
	} else {
		v, err := strconv.Atoi(n.MaxRemovals)
		if err != nil || v < 0 {
			return n, fmt.Errorf("users.max_removals: %q is not a count (e.g. 25) or a percentage (e.g. 10%%)", s.MaxRemovals)
		}
		n.maxCount = v
	}
	if n.SSOUsers == "" {
		n.SSOUsers = DefaultSSOUsers
	}
	switch n.SSOUsers {
	case "all", "selected":
	default:
		return n, fmt.Errorf("sso.users: %q is not one of all, selected", s.SSOUsers)
	}
	n.end = maxNumber
	if s.ExtEnd != "" {
		v, ok := parseNumber(s.ExtEnd)
		if !ok {
			return n, fmt.Errorf("users.ext_end: %q is not a number of 1 to %d digits", s.ExtEnd, maxDigits)
		}
		n.end = v
	}
	if s.ExtStart != "" {
		v, ok := parseNumber(s.ExtStart)
		if !ok {
			return n, fmt.Errorf("users.ext_start: %q is not a number of 1 to %d digits", s.ExtStart, maxDigits)
		}
		if v > n.end {
			return n, fmt.Errorf("users.ext_start: %s is above users.ext_end %s", s.ExtStart, s.ExtEnd)
		}
		n.start = v
		if len(s.ExtStart) > 1 && s.ExtStart[0] == '0' {
			n.width = len(s.ExtStart)
		}
	}
	n.selected = lowerSet(s.Selected)
	n.ssoSelected = lowerSet(s.SSOSelected)
	return n, nil
}

// limit is the removal threshold for linked extensions currently on the PBX.
func (s settings) limit(linked int) int {
	if s.maxCount >= 0 {
		return s.maxCount
	}
	return max(linked*s.maxPercent/100, 1)
}

func lowerSet(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		if x = strings.ToLower(strings.TrimSpace(x)); x != "" {
			m[x] = true
		}
	}
	return m
}

// parseNumber reads an extension number: ASCII digits only, at most maxDigits
// of them once leading zeros are dropped. "0101" and "101" read as the same
// value, so a number never collides with another spelling of itself.
func parseNumber(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	t := strings.TrimLeft(s, "0")
	if len(t) > maxDigits {
		return 0, false
	}
	if t == "" {
		return 0, true
	}
	v, err := strconv.ParseUint(t, 10, 64)
	return v, err == nil
}

// formatNumber writes v zero-padded to width digits (0: no padding).
func formatNumber(v uint64, width int) string {
	s := strconv.FormatUint(v, 10)
	if len(s) < width {
		s = strings.Repeat("0", width-len(s)) + s
	}
	return s
}

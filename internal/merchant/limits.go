package merchant

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Limits caps how fast one store creates invoices. Each non-zero field is
// a token bucket holding that many invoices and refilling at that rate
// over its period: PerHour is the sustained rate, PerMinute and PerSecond
// bound the bursts the hourly bucket would otherwise allow. A zero field
// sets no cap for its period; Off, or all three zero, sets none at all.
type Limits struct {
	PerHour   int
	PerMinute int
	PerSecond int
	Off       bool
}

// DefaultLimits are the limits of a store without its own when the
// server sets no default (KASSA_INVOICE_LIMITS). The legacy API document
// (seed 004) restricts a merchant to "no more than 100 invoices per hour"
// and mentions per-second and per-minute limits without numbers; 10 a
// second and 60 a minute are kassa's choice: a checkout never creates
// more than a few invoices a second, and the hourly budget still cannot
// be spent in under two minutes. The limit exists so that a leaked pos
// token (it sits in shop pages) cannot fill the database and burn the
// receiving key's gap limit; a busy shop raises it or turns it off.
var DefaultLimits = Limits{PerHour: 100, PerMinute: 60, PerSecond: 10}

// MaxLimit is the largest count one period may allow.
const MaxLimit = 1_000_000

// Unlimited reports whether l limits nothing.
func (l Limits) Unlimited() bool {
	return l.Off || (l.PerHour <= 0 && l.PerMinute <= 0 && l.PerSecond <= 0)
}

// String is l in the syntax ParseLimits reads: "100/h,60/m,10/s" (the
// periods set, longest first) or "off".
func (l Limits) String() string {
	if l.Unlimited() {
		return "off"
	}
	var parts []string
	for _, p := range []struct {
		n    int
		unit string
	}{{l.PerHour, "h"}, {l.PerMinute, "m"}, {l.PerSecond, "s"}} {
		if p.n > 0 {
			parts = append(parts, strconv.Itoa(p.n)+"/"+p.unit)
		}
	}
	return strings.Join(parts, ",")
}

// ErrLimits is wrapped by every error of ParseLimits.
var ErrLimits = errors.New("invoice limits")

// ParseLimits reads invoice limits written as comma-separated COUNT/PERIOD
// pairs, PERIOD one of s, m or h (also sec, second, min, minute, hour,
// hr), each period at most once, such as "100/h,60/m,10/s"; or "off" for
// none. Spaces around the parts are ignored.
func ParseLimits(s string) (Limits, error) {
	s = strings.TrimSpace(s)
	if strings.EqualFold(s, "off") || strings.EqualFold(s, "none") {
		return Limits{Off: true}, nil
	}
	if s == "" {
		return Limits{}, fmt.Errorf(`%w: empty: give COUNT/PERIOD pairs such as "100/h,60/m,10/s", or "off"`, ErrLimits)
	}
	var l Limits
	seen := map[string]bool{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		count, period, ok := strings.Cut(part, "/")
		if !ok {
			return Limits{}, fmt.Errorf(`%w: %q is not COUNT/PERIOD (such as "100/h")`, ErrLimits, part)
		}
		n, err := strconv.Atoi(strings.TrimSpace(count))
		if err != nil || n < 1 || n > MaxLimit {
			return Limits{}, fmt.Errorf("%w: %q: the count must be a whole number from 1 to %d", ErrLimits, part, MaxLimit)
		}
		var field *int
		unit := strings.ToLower(strings.TrimSpace(period))
		switch unit {
		case "h", "hr", "hour":
			field, unit = &l.PerHour, "h"
		case "m", "min", "minute":
			field, unit = &l.PerMinute, "m"
		case "s", "sec", "second":
			field, unit = &l.PerSecond, "s"
		default:
			return Limits{}, fmt.Errorf("%w: %q: the period must be s, m or h", ErrLimits, part)
		}
		if seen[unit] {
			return Limits{}, fmt.Errorf("%w: %q: the period %s is given twice", ErrLimits, s, unit)
		}
		seen[unit] = true
		*field = n
	}
	return l, nil
}

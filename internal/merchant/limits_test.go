package merchant

import (
	"errors"
	"strings"
	"testing"
)

func TestParseLimits(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Limits
		str  string
	}{
		{"100/h,60/m,10/s", Limits{PerHour: 100, PerMinute: 60, PerSecond: 10}, "100/h,60/m,10/s"},
		{" 10/s , 5000/hour ", Limits{PerHour: 5000, PerSecond: 10}, "5000/h,10/s"},
		{"30/MIN", Limits{PerMinute: 30}, "30/m"},
		{"off", Limits{Off: true}, "off"},
		{"OFF", Limits{Off: true}, "off"},
		{"1000000/s", Limits{PerSecond: 1000000}, "1000000/s"},
	} {
		got, err := ParseLimits(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseLimits(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			continue
		}
		if got.String() != tc.str {
			t.Errorf("%q: String %q, want %q", tc.in, got.String(), tc.str)
		}
		again, err := ParseLimits(got.String())
		if err != nil || again != got {
			t.Errorf("%q: round trip %+v, %v", tc.in, again, err)
		}
	}
	for _, tc := range []struct{ in, msg string }{
		{"5/fortnight", `"5/fortnight": the period must be s, m or h`},
		{"", "empty"},
		{"100", `"100" is not COUNT/PERIOD`},
		{"0/h", "from 1 to 1000000"},
		{"-5/h", "from 1 to 1000000"},
		{"1.5/s", "from 1 to 1000000"},
		{"2000000/h", "from 1 to 1000000"},
		{"10/s,20/sec", "the period s is given twice"},
		{"10/s,", `"" is not COUNT/PERIOD`},
	} {
		_, err := ParseLimits(tc.in)
		if !errors.Is(err, ErrLimits) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ParseLimits(%q) = %v; want an error saying %q", tc.in, err, tc.msg)
		}
	}
	if DefaultLimits.Unlimited() || !(Limits{}).Unlimited() || !(Limits{PerHour: 5, Off: true}).Unlimited() {
		t.Error("Unlimited")
	}
}

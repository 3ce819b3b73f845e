package rates

import "github.com/shopspring/decimal"

// medianPlaces is the number of decimals kept when a median is the mean of
// two middle rates.
const medianPlaces = 8

var two = decimal.NewFromInt(2)

// median returns the median of rates, which must be sorted ascending and not
// empty. For an even count it is the mean of the two middle values, rounded
// half away from zero to medianPlaces decimals.
func median(sorted []decimal.Decimal) decimal.Decimal {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return sorted[n/2-1].Add(sorted[n/2]).Div(two).Round(medianPlaces)
}

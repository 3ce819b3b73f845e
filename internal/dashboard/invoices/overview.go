package invoices

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/kassa-pay/kassa/internal/invoice"
	"github.com/kassa-pay/kassa/internal/money"
	"github.com/kassa-pay/kassa/internal/store"
	"github.com/shopspring/decimal"
)

// The overview's date range: 30 days by default, a year at most (the
// queries read every sale and one index entry per invoice of the range).
const (
	defaultDays = 30
	maxDays     = 366
	maxCharts   = 4 // fiat currencies charted; the table lists every one
)

// The chart's drawing area in SVG units: bars stand on a baseline at
// chartTop+chartHeight, with a line of text above and below.
const (
	chartWidth  = 720
	chartHeight = 160
	chartTop    = 22
)

type overviewPage struct {
	Root     string
	From, To string
	Errors   []string
	Days     int
	Charts   []chart
	Sales    []salesRow
	Counts   []countRow
	Total    int
	GapRun   int
	GapLimit int
	GapOver  bool
	// Chain is set when the Chain hook is; ChainErr when it failed.
	Chain    *ChainStatus
	ChainErr bool
	BlockAge string
	Rates    []rateRow
	HasRates bool
}

type chart struct {
	ID, Title    string
	Max          string
	Width        int
	Height       int
	Base         int // the baseline's y
	LabelY       int
	Bars         []bar
	First, Last  string
	LastLabelX   int
	TotalText    string
	NothingToAdd bool
}

type bar struct {
	X, Y, W, H int
	Label      string
}

type salesRow struct {
	Day   string
	Count int
	BTC   money.Sats
	Fiat  []string
}

type countRow struct {
	Status invoice.Status
	Count  int
	URL    string
}

type rateRow struct {
	Name    string
	Updated time.Time
	Age     string
	Stale   bool
	Err     string
}

// Overview serves the store's overview: GET /dashboard/stores/{id}?from=&to=
// (YYYY-MM-DD, default the last 30 days).
func (h *Handler) Overview(w http.ResponseWriter, r *http.Request, v Viewer) {
	ctx := r.Context()
	now := h.cfg.Clock().UTC()
	root := h.root(v.StoreID())
	p := overviewPage{Root: root, From: r.URL.Query().Get("from"), To: r.URL.Query().Get("to")}
	from, to, bad := parseRange(p.From, p.To)
	if bad == "" && (!from.IsZero() && to.IsZero() || from.IsZero() && !to.IsZero()) {
		bad = "Give both the first and the last day."
	}
	if bad == "" && !from.IsZero() && to.Sub(from) > maxDays*24*time.Hour {
		bad = "The overview shows at most " + strconv.Itoa(maxDays) + " days."
	}
	if bad != "" || from.IsZero() {
		if bad != "" {
			p.Errors = append(p.Errors, bad)
		}
		to = now.Truncate(24*time.Hour).AddDate(0, 0, 1)
		from = to.AddDate(0, 0, -defaultDays)
	}
	p.From, p.To = from.Format(time.DateOnly), to.AddDate(0, 0, -1).Format(time.DateOnly)
	p.Days = int(to.Sub(from) / (24 * time.Hour))

	st, err := h.cfg.Store.GetStore(ctx, v.StoreID())
	if err != nil {
		h.serverError(w, r, "load store", err)
		return
	}
	sales, err := h.cfg.Store.SalesPerDay(ctx, v.StoreID(), from, to)
	if err != nil {
		h.serverError(w, r, "sales per day", err)
		return
	}
	counts, err := h.cfg.Store.CountByStatus(ctx, v.StoreID(), from, to)
	if err != nil {
		h.serverError(w, r, "count by status", err)
		return
	}
	if p.GapRun, err = h.cfg.Store.GapRun(ctx, v.StoreID()); err != nil {
		h.serverError(w, r, "gap run", err)
		return
	}
	p.GapLimit = st.GapLimit
	p.GapOver = p.GapRun >= st.GapLimit
	p.Charts, p.Sales = salesCharts(sales, from, p.Days, st.DefaultCurrency)
	for _, s := range statuses {
		q := url.Values{"status": {string(s)}, "from": {p.From}, "to": {p.To}}
		p.Counts = append(p.Counts, countRow{Status: s, Count: counts[s], URL: root + "/invoices?" + q.Encode()})
		p.Total += counts[s]
	}
	if h.cfg.Chain != nil {
		cs, err := h.cfg.Chain(ctx)
		if err != nil {
			h.cfg.Log.Warn("dashboard invoices: chain status", "err", err)
			p.ChainErr = true
		} else {
			p.Chain = &cs
			if !cs.LastBlock.IsZero() {
				p.BlockAge = age(now.Sub(cs.LastBlock))
			}
		}
	}
	if h.cfg.Rates != nil {
		p.HasRates = true
		for _, src := range h.cfg.Rates(ctx) {
			row := rateRow{Name: src.Name, Updated: src.Updated, Err: src.Err, Stale: true, Age: "never"}
			if !src.Updated.IsZero() {
				row.Age = age(now.Sub(src.Updated))
				row.Stale = now.Sub(src.Updated) > h.cfg.RateMaxAge
			}
			p.Rates = append(p.Rates, row)
		}
	}
	status := http.StatusOK
	if len(p.Errors) > 0 {
		status = http.StatusBadRequest
	}
	h.render(w, r, status, st.Name, "overview", p)
}

// salesCharts draws the days' sales as bar charts, BTC first and then the
// fiat currencies (the store's default first, at most maxCharts), and
// lists them for the table. Bars are scaled in integers: a day's height is
// value × chartHeight / the largest day's value.
func salesCharts(sales []store.DaySales, from time.Time, days int, defaultCurrency string) ([]chart, []salesRow) {
	byDay := make(map[time.Time]store.DaySales, len(sales))
	totals := map[string]decimal.Decimal{}
	var totalBTC money.Sats
	for _, s := range sales {
		byDay[s.Day] = s
		totalBTC += s.BTC
		for c, v := range s.Fiat {
			totals[c] = totals[c].Add(v)
		}
	}
	currencies := make([]string, 0, len(totals))
	for c := range totals {
		currencies = append(currencies, c)
	}
	slices.SortFunc(currencies, func(a, b string) int {
		switch {
		case a == defaultCurrency:
			return -1
		case b == defaultCurrency:
			return 1
		}
		return totals[b].Cmp(totals[a])
	})
	var rows []salesRow
	for i := range days {
		day := from.AddDate(0, 0, i)
		s, ok := byDay[day]
		if !ok {
			continue
		}
		row := salesRow{Day: day.Format(time.DateOnly), Count: s.Count, BTC: s.BTC}
		for _, c := range currencies {
			if v, ok := s.Fiat[c]; ok {
				row.Fiat = append(row.Fiat, formatFiat(v, c))
			}
		}
		rows = append(rows, row)
	}

	newChart := func(id, title, total string) chart {
		c := chart{ID: id, Title: title, Width: chartWidth, Height: chartTop + chartHeight + 24,
			Base: chartTop + chartHeight, LabelY: chartTop + chartHeight + 18,
			First: from.Format(time.DateOnly), Last: from.AddDate(0, 0, days-1).Format(time.DateOnly),
			LastLabelX: chartWidth, TotalText: total}
		return c
	}
	slot := chartWidth / max(days, 1)
	barW := max(1, slot*4/5)

	btc := newChart("chart-btc", "Sales in BTC", totalBTC.BTC()+" BTC")
	var maxSats money.Sats
	for _, s := range sales {
		maxSats = max(maxSats, s.BTC)
	}
	btc.Max = maxSats.BTC() + " BTC"
	for i := range days {
		day := from.AddDate(0, 0, i)
		s := byDay[day]
		if s.BTC <= 0 || maxSats <= 0 {
			continue
		}
		hgt := max(1, int(int64(s.BTC)*chartHeight/int64(maxSats)))
		btc.Bars = append(btc.Bars, bar{X: i * slot, Y: chartTop + chartHeight - hgt, W: barW, H: hgt,
			Label: day.Format(time.DateOnly) + ": " + s.BTC.BTC() + " BTC, " + strconv.Itoa(s.Count) + " invoices"})
	}
	charts := []chart{btc}
	for _, c := range currencies[:min(len(currencies), maxCharts)] {
		ch := newChart("chart-"+c, "Sales in "+c, formatFiat(totals[c], c))
		var maxV decimal.Decimal
		for _, s := range sales {
			if v := s.Fiat[c]; v.GreaterThan(maxV) {
				maxV = v
			}
		}
		ch.Max = formatFiat(maxV, c)
		for i := range days {
			day := from.AddDate(0, 0, i)
			v := byDay[day].Fiat[c]
			if !v.IsPositive() || !maxV.IsPositive() {
				continue
			}
			hgt := max(1, int(v.Mul(decimal.NewFromInt(chartHeight)).Div(maxV).IntPart()))
			ch.Bars = append(ch.Bars, bar{X: i * slot, Y: chartTop + chartHeight - hgt, W: barW, H: hgt,
				Label: day.Format(time.DateOnly) + ": " + formatFiat(v, c)})
		}
		charts = append(charts, ch)
	}
	for i := range charts {
		charts[i].NothingToAdd = len(charts[i].Bars) == 0
	}
	return charts, rows
}

// age renders a duration for people: "42 s", "7 min", "3 h", "2 days".
func age(d time.Duration) string {
	switch {
	case d < 0:
		return "just now"
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + " s ago"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min ago"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " h ago"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + " days ago"
}

// Package metrics is kassa's small, dependency-free Prometheus
// instrumentation: a Registry of counters, gauges and histograms (with or
// without labels), values computed at scrape time (GaugeFunc, SampleFunc),
// the text exposition format (version 0.0.4) served by Handler, and the
// HTTP middleware that records request latency by route pattern and gives
// every request an id that also reaches the logs (LogHandler).
//
// Metric and label names are checked when a metric is created; a bad or
// duplicate name is a programming error and panics, as in
// prometheus/client_golang. Recording a value never allocates once a
// labelled series exists, and is safe from any goroutine.
//
// Process-wide instruments that packages increment without being handed a
// registry (the IPN worker's, see ipn.go) live in Default; kassa serve
// exposes Default next to its own per-run registry.
package metrics

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Type is a metric family's type as the exposition format names it.
type Type string

// The metric types.
const (
	CounterType   Type = "counter"
	GaugeType     Type = "gauge"
	HistogramType Type = "histogram"
)

var (
	metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelName  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// collector is one metric family in a registry.
type collector interface {
	meta() *desc
	// collect writes the family's samples (not its HELP and TYPE lines).
	collect(ctx context.Context, w *bufio.Writer)
}

// desc is what every family has: its name, help, type and label names.
type desc struct {
	name   string
	help   string
	typ    Type
	labels []string
}

func (d *desc) meta() *desc { return d }

// Registry holds metric families and writes them in the text format.
type Registry struct {
	mu       sync.Mutex
	families map[string]collector
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{families: map[string]collector{}}
}

// Default holds the process-wide instruments (ipn.go).
var Default = NewRegistry()

func (r *Registry) register(c collector) {
	d := c.meta()
	if !metricName.MatchString(d.name) {
		panic(fmt.Sprintf("metrics: invalid metric name %q", d.name))
	}
	seen := map[string]bool{}
	for _, l := range d.labels {
		if !labelName.MatchString(l) || strings.HasPrefix(l, "__") || seen[l] || (d.typ == HistogramType && l == "le") {
			panic(fmt.Sprintf("metrics: invalid label name %q for %s", l, d.name))
		}
		seen[l] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.families[d.name]; dup {
		panic(fmt.Sprintf("metrics: %s registered twice", d.name))
	}
	r.families[d.name] = c
}

// WriteTo writes every family in the text exposition format, sorted by
// name. Functions behind GaugeFunc and SampleFunc run with ctx.
func (r *Registry) WriteTo(ctx context.Context, w io.Writer) error {
	return Write(ctx, w, r)
}

// Write writes the families of several registries, sorted by name, as one
// exposition. The registries must not share metric names.
func Write(ctx context.Context, w io.Writer, regs ...*Registry) error {
	var all []collector
	for _, r := range regs {
		r.mu.Lock()
		for _, c := range r.families {
			all = append(all, c)
		}
		r.mu.Unlock()
	}
	sort.Slice(all, func(i, j int) bool { return all[i].meta().name < all[j].meta().name })
	bw := bufio.NewWriter(w)
	for _, c := range all {
		d := c.meta()
		bw.WriteString("# HELP ")
		bw.WriteString(d.name)
		bw.WriteByte(' ')
		bw.WriteString(escapeHelp(d.help))
		bw.WriteString("\n# TYPE ")
		bw.WriteString(d.name)
		bw.WriteByte(' ')
		bw.WriteString(string(d.typ))
		bw.WriteByte('\n')
		c.collect(ctx, bw)
	}
	return bw.Flush()
}

// writeSample writes one line: name{labels…,extra="v"} value.
func writeSample(w *bufio.Writer, name string, labels, values []string, extraName, extraValue string, v float64) {
	w.WriteString(name)
	if len(labels) > 0 || extraName != "" {
		w.WriteByte('{')
		for i, l := range labels {
			if i > 0 {
				w.WriteByte(',')
			}
			w.WriteString(l)
			w.WriteString(`="`)
			w.WriteString(escapeLabel(values[i]))
			w.WriteByte('"')
		}
		if extraName != "" {
			if len(labels) > 0 {
				w.WriteByte(',')
			}
			w.WriteString(extraName)
			w.WriteString(`="`)
			w.WriteString(extraValue)
			w.WriteByte('"')
		}
		w.WriteByte('}')
	}
	w.WriteByte(' ')
	w.WriteString(formatValue(v))
	w.WriteByte('\n')
}

// formatValue spells a sample value as Prometheus parses it.
func formatValue(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

var (
	helpEscaper  = strings.NewReplacer(`\`, `\\`, "\n", `\n`)
	labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
)

func escapeHelp(s string) string  { return helpEscaper.Replace(s) }
func escapeLabel(s string) string { return labelEscaper.Replace(s) }

// atomicFloat is a float64 updated atomically.
type atomicFloat struct{ bits atomic.Uint64 }

func (a *atomicFloat) load() float64   { return math.Float64frombits(a.bits.Load()) }
func (a *atomicFloat) store(v float64) { a.bits.Store(math.Float64bits(v)) }
func (a *atomicFloat) add(v float64) {
	for {
		old := a.bits.Load()
		if a.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

// Counter is a value that only goes up.
type Counter struct{ v atomicFloat }

// Inc adds one.
func (c *Counter) Inc() { c.v.add(1) }

// Add adds v; a negative v is ignored, a counter never goes down.
func (c *Counter) Add(v float64) {
	if v > 0 {
		c.v.add(v)
	}
}

// Value returns the current count.
func (c *Counter) Value() float64 { return c.v.load() }

// Gauge is a value that goes up and down.
type Gauge struct{ v atomicFloat }

// Set sets the gauge.
func (g *Gauge) Set(v float64) { g.v.store(v) }

// Add adds v, which may be negative.
func (g *Gauge) Add(v float64) { g.v.add(v) }

// Inc adds one.
func (g *Gauge) Inc() { g.v.add(1) }

// Dec subtracts one.
func (g *Gauge) Dec() { g.v.add(-1) }

// Value returns the gauge's value.
func (g *Gauge) Value() float64 { return g.v.load() }

// Histogram counts observations in buckets.
type Histogram struct {
	upper  []float64 // bucket upper bounds, ascending, without +Inf
	counts []atomic.Uint64
	count  atomic.Uint64
	sum    atomicFloat
}

func newHistogram(upper []float64) *Histogram {
	return &Histogram{upper: upper, counts: make([]atomic.Uint64, len(upper))}
}

// Observe records one observation.
func (h *Histogram) Observe(v float64) {
	if i := sort.SearchFloat64s(h.upper, v); i < len(h.upper) {
		h.counts[i].Add(1)
	}
	h.count.Add(1)
	h.sum.add(v)
}

// ObserveDuration records d in seconds.
func (h *Histogram) ObserveDuration(d time.Duration) { h.Observe(d.Seconds()) }

// Count returns how many observations were made.
func (h *Histogram) Count() uint64 { return h.count.Load() }

// Sum returns the sum of the observations.
func (h *Histogram) Sum() float64 { return h.sum.load() }

func (h *Histogram) write(w *bufio.Writer, name string, labels, values []string) {
	var cum uint64
	for i, ub := range h.upper {
		cum += h.counts[i].Load()
		writeSample(w, name+"_bucket", labels, values, "le", formatValue(ub), float64(cum))
	}
	n := h.count.Load()
	// Observations racing with the scrape may make the total lag a
	// bucket; the +Inf bucket is never below the others.
	writeSample(w, name+"_bucket", labels, values, "le", "+Inf", float64(max(n, cum)))
	writeSample(w, name+"_sum", labels, values, "", "", h.sum.load())
	writeSample(w, name+"_count", labels, values, "", "", float64(max(n, cum)))
}

// DefBuckets are latency buckets in seconds from 5 ms to 30 s.
var DefBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

func checkBuckets(name string, b []float64) []float64 {
	if len(b) == 0 {
		b = DefBuckets
	}
	b = slices.Clone(b)
	for i := range b {
		if math.IsNaN(b[i]) || (i > 0 && b[i] <= b[i-1]) {
			panic(fmt.Sprintf("metrics: %s buckets must ascend strictly", name))
		}
	}
	if math.IsInf(b[len(b)-1], 1) {
		b = b[:len(b)-1]
	}
	return b
}

// vec holds the labelled series of one family.
type vec[T any] struct {
	desc
	mu     sync.RWMutex
	series map[string]*entry[T]
	make   func() *T
}

type entry[T any] struct {
	values []string
	m      *T
}

func (v *vec[T]) with(values []string) *T {
	if len(values) != len(v.labels) {
		panic(fmt.Sprintf("metrics: %s wants %d label values, got %d", v.name, len(v.labels), len(values)))
	}
	key := strings.Join(values, "\xff")
	v.mu.RLock()
	e, ok := v.series[key]
	v.mu.RUnlock()
	if ok {
		return e.m
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if e, ok := v.series[key]; ok {
		return e.m
	}
	e = &entry[T]{values: slices.Clone(values), m: v.make()}
	v.series[key] = e
	return e.m
}

// sorted returns the series in label-value order.
func (v *vec[T]) sorted() []*entry[T] {
	v.mu.RLock()
	out := make([]*entry[T], 0, len(v.series))
	for _, e := range v.series {
		out = append(out, e)
	}
	v.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return slices.Compare(out[i].values, out[j].values) < 0 })
	return out
}

// CounterVec is a family of counters told apart by label values.
type CounterVec struct{ v *vec[Counter] }

// With returns the counter for the label values, in the order the labels
// were declared, creating it at zero.
func (c *CounterVec) With(values ...string) *Counter { return c.v.with(values) }

func (c *CounterVec) meta() *desc { return &c.v.desc }
func (c *CounterVec) collect(_ context.Context, w *bufio.Writer) {
	for _, e := range c.v.sorted() {
		writeSample(w, c.v.name, c.v.labels, e.values, "", "", e.m.Value())
	}
}

// GaugeVec is a family of gauges told apart by label values.
type GaugeVec struct{ v *vec[Gauge] }

// With returns the gauge for the label values, creating it at zero.
func (g *GaugeVec) With(values ...string) *Gauge { return g.v.with(values) }

func (g *GaugeVec) meta() *desc { return &g.v.desc }
func (g *GaugeVec) collect(_ context.Context, w *bufio.Writer) {
	for _, e := range g.v.sorted() {
		writeSample(w, g.v.name, g.v.labels, e.values, "", "", e.m.Value())
	}
}

// HistogramVec is a family of histograms told apart by label values.
type HistogramVec struct{ v *vec[Histogram] }

// With returns the histogram for the label values, creating it empty.
func (h *HistogramVec) With(values ...string) *Histogram { return h.v.with(values) }

func (h *HistogramVec) meta() *desc { return &h.v.desc }
func (h *HistogramVec) collect(_ context.Context, w *bufio.Writer) {
	for _, e := range h.v.sorted() {
		e.m.write(w, h.v.name, h.v.labels, e.values)
	}
}

// single is a family with one unlabelled series.
type single[T any] struct {
	desc
	m     *T
	write func(w *bufio.Writer, name string, m *T)
}

func (s *single[T]) collect(_ context.Context, w *bufio.Writer) { s.write(w, s.name, s.m) }

// NewCounter registers and returns an unlabelled counter.
func (r *Registry) NewCounter(name, help string) *Counter {
	c := &Counter{}
	r.register(&single[Counter]{desc: desc{name: name, help: help, typ: CounterType}, m: c,
		write: func(w *bufio.Writer, name string, c *Counter) { writeSample(w, name, nil, nil, "", "", c.Value()) }})
	return c
}

// NewGauge registers and returns an unlabelled gauge.
func (r *Registry) NewGauge(name, help string) *Gauge {
	g := &Gauge{}
	r.register(&single[Gauge]{desc: desc{name: name, help: help, typ: GaugeType}, m: g,
		write: func(w *bufio.Writer, name string, g *Gauge) { writeSample(w, name, nil, nil, "", "", g.Value()) }})
	return g
}

// NewHistogram registers and returns an unlabelled histogram with the
// bucket upper bounds (DefBuckets if none).
func (r *Registry) NewHistogram(name, help string, buckets []float64) *Histogram {
	h := newHistogram(checkBuckets(name, buckets))
	r.register(&single[Histogram]{desc: desc{name: name, help: help, typ: HistogramType}, m: h,
		write: func(w *bufio.Writer, name string, h *Histogram) { h.write(w, name, nil, nil) }})
	return h
}

// NewCounterVec registers a counter family with the label names.
func (r *Registry) NewCounterVec(name, help string, labels ...string) *CounterVec {
	c := &CounterVec{&vec[Counter]{desc: desc{name, help, CounterType, slices.Clone(labels)},
		series: map[string]*entry[Counter]{}, make: func() *Counter { return &Counter{} }}}
	r.register(c)
	return c
}

// NewGaugeVec registers a gauge family with the label names.
func (r *Registry) NewGaugeVec(name, help string, labels ...string) *GaugeVec {
	g := &GaugeVec{&vec[Gauge]{desc: desc{name, help, GaugeType, slices.Clone(labels)},
		series: map[string]*entry[Gauge]{}, make: func() *Gauge { return &Gauge{} }}}
	r.register(g)
	return g
}

// NewHistogramVec registers a histogram family with the bucket upper
// bounds (DefBuckets if none) and the label names.
func (r *Registry) NewHistogramVec(name, help string, buckets []float64, labels ...string) *HistogramVec {
	b := checkBuckets(name, buckets)
	h := &HistogramVec{&vec[Histogram]{desc: desc{name, help, HistogramType, slices.Clone(labels)},
		series: map[string]*entry[Histogram]{}, make: func() *Histogram { return newHistogram(b) }}}
	r.register(h)
	return h
}

// Sample is one series of a SampleFunc: its label values, in the order the
// labels were declared, and its value.
type Sample struct {
	Values []string
	Value  float64
}

// sampleFunc is a family whose samples a function computes at scrape time.
type sampleFunc struct {
	desc
	fn func(ctx context.Context) []Sample
}

func (s *sampleFunc) collect(ctx context.Context, w *bufio.Writer) {
	samples := s.fn(ctx)
	sort.Slice(samples, func(i, j int) bool { return slices.Compare(samples[i].Values, samples[j].Values) < 0 })
	for _, smp := range samples {
		if len(smp.Values) != len(s.labels) {
			continue // a programming error; the scrape stays well-formed
		}
		writeSample(w, s.name, s.labels, smp.Values, "", "", smp.Value)
	}
}

// NewSampleFunc registers a gauge or counter family whose series fn
// computes at every scrape (fn may query a database: ctx is the scrape's).
// fn returning no samples leaves the family empty.
func (r *Registry) NewSampleFunc(name, help string, typ Type, labels []string, fn func(ctx context.Context) []Sample) {
	if typ != GaugeType && typ != CounterType {
		panic(fmt.Sprintf("metrics: %s: a sample function is a gauge or a counter", name))
	}
	r.register(&sampleFunc{desc: desc{name, help, typ, slices.Clone(labels)}, fn: fn})
}

// NewGaugeFunc registers an unlabelled gauge whose value fn returns at
// every scrape.
func (r *Registry) NewGaugeFunc(name, help string, fn func() float64) {
	r.NewSampleFunc(name, help, GaugeType, nil, func(context.Context) []Sample {
		return []Sample{{Value: fn()}}
	})
}

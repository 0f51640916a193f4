// Command promcheck is the strict check of Ferry's GET /metrics in the tests: it parses its
// standard input with Prometheus' own text-format parser and lints it as `promtool check
// metrics` does, so a test learns what a real scraper would make of the exposition.
//
//	promcheck 'text/plain; version=0.0.4; charset=utf-8' < metrics.txt
//
// The argument is the response's Content-Type; it must name the text format 0.0.4, the one
// parsed here. On success it prints the parsed samples as a JSON array of
// {"name", "type", "labels", "value"} and exits 0. A wrong Content-Type, a parse error or a
// lint problem is printed on standard error with exit status 1.
package main

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"os"
	"sort"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

type sample struct {
	Name   string            `json:"name"`
	Type   string            `json:"type"`
	Labels map[string]string `json:"labels"`
	Value  float64           `json:"value"`
}

func main() {
	if len(os.Args) != 2 {
		fail("usage: promcheck CONTENT-TYPE < exposition")
	}
	header := http.Header{}
	header.Set("Content-Type", os.Args[1])
	// The decision a scraper makes from the header: anything but the 0.0.4 text format would be
	// parsed by another parser than the one below.
	_, params, err := mime.ParseMediaType(os.Args[1])
	if format := expfmt.ResponseFormat(header); err != nil || format != expfmt.FmtText || params["version"] != expfmt.TextVersion {
		fail(fmt.Sprintf("Content-Type %q does not name the Prometheus text format %s (read as %q)", os.Args[1], expfmt.TextVersion, format))
	}

	// Legacy validation: the 0.0.4 format without the UTF-8 name extension, as promtool reads it.
	parser := expfmt.NewTextParser(model.LegacyValidation)
	byName, err := parser.TextToMetricFamilies(os.Stdin)
	if err != nil {
		fail(fmt.Sprintf("not valid Prometheus text format: %v", err))
	}
	names := make([]string, 0, len(byName))
	for name := range byName {
		names = append(names, name)
	}
	sort.Strings(names)
	families := make([]*dto.MetricFamily, 0, len(names))
	for _, name := range names {
		families = append(families, byName[name])
	}

	// The parser leaves duplicate series and naming conventions to the linter.
	problems, err := promlint.NewWithMetricFamilies(families).Lint()
	if err != nil {
		fail(fmt.Sprintf("lint failed: %v", err))
	}
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintf(os.Stderr, "%s: %s\n", p.Metric, p.Text)
		}
		fail(fmt.Sprintf("%d lint problem(s)", len(problems)))
	}

	samples := []sample{}
	for _, family := range families {
		for _, metric := range family.GetMetric() {
			labels := map[string]string{}
			for _, pair := range metric.GetLabel() {
				labels[pair.GetName()] = pair.GetValue()
			}
			samples = append(samples, sample{
				Name:   family.GetName(),
				Type:   typeName(family.GetType()),
				Labels: labels,
				Value:  value(family.GetType(), metric),
			})
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(samples); err != nil {
		fail(err.Error())
	}
}

func typeName(t dto.MetricType) string {
	switch t {
	case dto.MetricType_COUNTER:
		return "counter"
	case dto.MetricType_GAUGE:
		return "gauge"
	case dto.MetricType_UNTYPED:
		return "untyped"
	case dto.MetricType_HISTOGRAM:
		return "histogram"
	default:
		return t.String()
	}
}

// value is the sample of a counter, gauge or untyped metric, or a histogram's count of
// observations; Ferry exports no other kind.
func value(t dto.MetricType, m *dto.Metric) float64 {
	switch t {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	case dto.MetricType_UNTYPED:
		return m.GetUntyped().GetValue()
	case dto.MetricType_HISTOGRAM:
		return float64(m.GetHistogram().GetSampleCount())
	default:
		fail(fmt.Sprintf("unexpected metric type %v", t))
		return 0
	}
}

func fail(message string) {
	fmt.Fprintln(os.Stderr, "promcheck:", message)
	os.Exit(1)
}

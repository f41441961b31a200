package testutil

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// GetOK GETs url with c and returns the body of a 200 answer; any other status is an error.
func GetOK(ctx context.Context, c *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// Scrape GETs a Prometheus text endpoint with c and parses it.
func Scrape(ctx context.Context, c *http.Client, url string) (map[string]*dto.MetricFamily, error) {
	body, err := GetOK(ctx, c, url)
	if err != nil {
		return nil, err
	}
	return ParseMetrics(url, body)
}

// ParseMetrics parses Prometheus text read from url.
func ParseMetrics(url string, body []byte) (map[string]*dto.MetricFamily, error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", url, err)
	}
	return families, nil
}

// SampleValue is a series' value: a counter's, gauge's or untyped value, or a histogram's or
// summary's count.
func SampleValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	case m.Histogram != nil:
		return float64(m.GetHistogram().GetSampleCount())
	case m.Summary != nil:
		return float64(m.GetSummary().GetSampleCount())
	}
	return 0
}

// SumWhere sums the series of a family whose labels include every pair of labels.
func SumWhere(f *dto.MetricFamily, labels map[string]string) float64 {
	var sum float64
	for _, m := range f.GetMetric() {
		matched := 0
		for _, l := range m.GetLabel() {
			if v, ok := labels[l.GetName()]; ok && v == l.GetValue() {
				matched++
			}
		}
		if matched == len(labels) {
			sum += SampleValue(m)
		}
	}
	return sum
}

// ScrapeSums reads a Prometheus text endpoint: each family's value summed over its series.
func ScrapeSums(url string) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	families, err := Scrape(ctx, http.DefaultClient, url)
	if err != nil {
		return nil, err
	}
	sums := make(map[string]float64, len(families))
	for name, family := range families {
		sums[name] = SumWhere(family, nil)
	}
	return sums, nil
}

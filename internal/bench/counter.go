package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// A ServerCounter reads a counter of the server under test (a Prometheus
// metric), so a run can report how much of it each iteration cost — for
// gatehouse, SQL statements per iteration.
type ServerCounter struct {
	// URL is the metrics endpoint (Prometheus' text format).
	URL string
	// Bearer, if set, is sent as the Authorization bearer token.
	Bearer string
	// Metric is the counter's name; every series of it is summed.
	Metric string
	HTTP   *http.Client
}

// Read returns the counter's current value, within 10 s.
func (c *ServerCounter) Read(ctx context.Context) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL, nil)
	if err != nil {
		return 0, err
	}
	if c.Bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.Bearer)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", c.Metric, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("read %s: %s answered %s", c.Metric, c.URL, resp.Status)
	}
	return sumMetric(bufio.NewScanner(resp.Body), c.Metric)
}

// sumMetric adds up the samples of one metric in Prometheus' text format.
func sumMetric(sc *bufio.Scanner, name string) (float64, error) {
	var sum float64
	found := false
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue // another metric, a longer name, or a comment
		}
		if i := strings.LastIndexByte(rest, '}'); i >= 0 {
			rest = rest[i+1:]
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return 0, fmt.Errorf("metric %s: no value in %q", name, line)
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return 0, fmt.Errorf("metric %s: %w", name, err)
		}
		sum += v
		found = true
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if !found {
		return 0, errors.New("metric " + name + " is not in the answer")
	}
	return sum, nil
}

// Command loadgen sends GET requests to one URL at a fixed rate and prints
// latency percentiles. It is open-loop: each request is timed from when it
// was due to start, so a slow server cannot lower the rate it is measured
// at (no coordinated omission).
//
//	go run ./scripts/loadgen -url http://127.0.0.1:8090/api/v1/credentials -rate 500 -duration 20s
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"
)

func main() {
	target := flag.String("url", "", "URL to GET (loopback)")
	rate := flag.Int("rate", 500, "requests per second")
	duration := flag.Duration("duration", 20*time.Second, "how long to send")
	warmup := flag.Duration("warmup", 2*time.Second, "sent first and not counted")
	flag.Parse()
	if *target == "" || *rate <= 0 {
		fmt.Fprintln(os.Stderr, "loadgen: -url and a positive -rate are required")
		os.Exit(2)
	}

	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 1024, MaxConnsPerHost: 0},
	}
	var (
		mu        sync.Mutex
		latencies []time.Duration
		failures  int
		bytes     int64
		wg        sync.WaitGroup
	)
	interval := time.Second / time.Duration(*rate)
	begin := time.Now()
	total := int((*warmup + *duration) / interval)
	warm := int(*warmup / interval)
	for i := range total {
		due := begin.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due))
		wg.Add(1)
		go func(counted bool) {
			defer wg.Done()
			n, err := get(client, *target)
			took := time.Since(due)
			if !counted {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failures++
				return
			}
			latencies = append(latencies, took)
			bytes += n
		}(i >= warm)
	}
	wg.Wait()

	slices.Sort(latencies)
	if len(latencies) == 0 {
		fmt.Printf("url %s: no successful request, %d failed\n", *target, failures)
		os.Exit(1)
	}
	pct := func(p float64) time.Duration { return latencies[min(len(latencies)-1, int(p*float64(len(latencies))))] }
	fmt.Printf("url %s rate %d/s for %s: ok %d failed %d, response %d bytes; p50 %s p90 %s p99 %s max %s\n",
		*target, *rate, *duration, len(latencies), failures, bytes/int64(len(latencies)),
		pct(0.50).Round(10*time.Microsecond), pct(0.90).Round(10*time.Microsecond),
		pct(0.99).Round(10*time.Microsecond), latencies[len(latencies)-1].Round(10*time.Microsecond))
}

func get(client *http.Client, url string) (int64, error) {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return n, err
	}
	if resp.StatusCode != http.StatusOK {
		return n, fmt.Errorf("status %d", resp.StatusCode)
	}
	return n, nil
}

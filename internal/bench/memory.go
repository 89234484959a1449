package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// MemoryProbe samples the resident memory of the processes under test
// (Linux /proc) while a run is measured, so a run can report the peak: a
// server's memory under a given concurrency, not its lifetime high-water
// mark (VmHWM) from earlier, heavier runs.
type MemoryProbe struct {
	// PIDs are the processes whose VmRSS is summed.
	PIDs []int
	// Every is the sampling period (default 20 ms).
	Every time.Duration
}

// RSS returns the summed VmRSS of the probe's processes, in bytes.
func (m *MemoryProbe) RSS() (int64, error) {
	var total int64
	for _, pid := range m.PIDs {
		n, err := vmRSS(pid)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// vmRSS reads a process's VmRSS from /proc/PID/status.
func vmRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("bench: memory of process %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			fields := strings.Fields(rest) // "123456 kB"
			if len(fields) == 2 && fields[1] == "kB" {
				kb, err := strconv.ParseInt(fields[0], 10, 64)
				return kb * 1024, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("bench: no VmRSS in /proc/" + strconv.Itoa(pid) + "/status")
}

// watch samples until ctx ends and then returns the peak it saw (bytes).
func (m *MemoryProbe) watch(ctx context.Context) func() (int64, error) {
	every := m.Every
	if every <= 0 {
		every = 20 * time.Millisecond
	}
	var (
		wg       sync.WaitGroup
		peak     int64
		firstErr error
	)
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			n, err := m.RSS()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			peak = max(peak, n)
			select {
			case <-ctx.Done():
				return
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() (int64, error) {
		close(stop)
		wg.Wait()
		return peak, firstErr
	}
}

package app

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// Listeners are where Run serves: the public listener (TLS already wrapped
// around it when the server speaks https itself) and the admin one (nil: off).
type Listeners struct {
	Public, Admin net.Listener
}

// Run serves until ctx is done, then shuts down in order: /readyz answers
// 503 at once (load balancers stop sending), requests keep being served for
// cfg.Shutdown.Drain, in-flight requests get cfg.Shutdown.Timeout to
// finish, and the background jobs (garbage collection, key rotation and
// reload, mail and back-channel logout delivery) are stopped and joined. When Run returns nothing uses the store
// any more, so the caller may close it. A listener that fails stops the
// whole server the same way, and its error is returned.
func (a *App) Run(ctx context.Context, l Listeners) error {
	g, gctx := errgroup.WithContext(ctx)
	jobs, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopJobs()
	var bg sync.WaitGroup
	bg.Go(func() { a.gcLoop(jobs) })
	bg.Go(func() { a.Keys.Run(jobs) })
	if a.mailer != nil {
		bg.Go(func() { a.mailer.Run(jobs) })
	}
	bg.Go(func() { a.logouts.Run(jobs) })
	defer bg.Wait()

	srv := &http.Server{Handler: a.Handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)}
	servers := []*http.Server{srv}
	g.Go(func() error { return serveUntilClosed(srv, l.Public) })
	if l.Admin != nil {
		// Long enough for a CPU profile (?seconds=60) when pprof is on.
		adminSrv := &http.Server{Handler: a.Admin, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 2 * time.Minute}
		servers = append(servers, adminSrv)
		g.Go(func() error { return serveUntilClosed(adminSrv, l.Admin) })
	}
	g.Go(func() error {
		<-gctx.Done()
		a.draining.Store(true)
		a.log.Info("shutting down: draining", "drain", a.cfg.Shutdown.Drain.Duration, "timeout", a.cfg.Shutdown.Timeout.Duration)
		time.Sleep(a.cfg.Shutdown.Drain.Duration)
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.cfg.Shutdown.Timeout.Duration)
		defer cancel()
		var errs []error
		for _, s := range servers {
			if err := s.Shutdown(sctx); err != nil {
				errs = append(errs, err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			a.log.Warn("shutting down: requests still running were cut off", "err", err)
		}
		return nil
	})
	err := g.Wait()
	stopJobs()
	return err
}

func serveUntilClosed(s *http.Server, l net.Listener) error {
	if err := s.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// gcLoop collects expired rows every ten minutes, with jitter so replicas
// spread out.
func (a *App) gcLoop(ctx context.Context) {
	for {
		j, _ := rand.Int(rand.Reader, big.NewInt(int64(2*time.Minute)))
		select {
		case <-ctx.Done():
			return
		case <-time.After(10*time.Minute + time.Duration(j.Int64())):
		}
		n, err := Collect(ctx, a.store, a.cfg.Audit.Retention.Duration, a.clock())
		if err != nil {
			if ctx.Err() == nil {
				a.log.Warn("gc failed", "err", err)
			}
			continue
		}
		a.log.Info("gc", "removed", n)
	}
}

// Collect removes expired rows and the audit events past their retention.
func Collect(ctx context.Context, st interface {
	GarbageCollect(ctx context.Context, now time.Time) (int64, error)
	DeleteAuditBefore(ctx context.Context, before time.Time) (int64, error)
}, auditRetention time.Duration, now time.Time) (int64, error) {
	n, err := st.GarbageCollect(ctx, now)
	if err != nil {
		return n, err
	}
	d, err := st.DeleteAuditBefore(ctx, now.Add(-auditRetention))
	return n + d, err
}

package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/mobbscan-review/portal/store"
)

// The states of a background worker, as /healthz reports them (Deps.Workers).
const (
	WorkerRunning = "running"
	WorkerStopped = "stopped"
)

const (
	// healthProbeTTL is how long a write probe's result is reused: /healthz is public,
	// so whatever the request rate the database is written at most once per period.
	healthProbeTTL = time.Second
	// healthTimeout bounds each database check.
	healthTimeout = 2 * time.Second
)

// healthReport is the body of /healthz.
type healthReport struct {
	Status   string            `json:"status"`   // "ok" or "unavailable"
	Database string            `json:"database"` // "ok" or what is wrong, in plain words
	Workers  map[string]string `json:"workers,omitempty"`
}

// health answers 200 when the database can be written and every background worker is
// running, else 503 naming what is wrong in plain words (O3). The database is read on
// every request (cheap) and written at most once per healthProbeTTL: concurrent
// requests share one probe and its result.
func (h *Handler) health(c echo.Context) error {
	ctx := c.Request().Context()
	rep := healthReport{Status: "ok", Database: h.checkDatabase(ctx)}
	healthy := rep.Database == "ok"
	if h.Workers != nil {
		rep.Workers = h.Workers()
		for _, state := range rep.Workers {
			if state != WorkerRunning {
				healthy = false
			}
		}
	}
	status := http.StatusOK
	if !healthy {
		rep.Status, status = "unavailable", http.StatusServiceUnavailable
	}
	c.Response().Header().Set(echo.HeaderCacheControl, "no-store")
	return c.JSON(status, rep)
}

// checkDatabase returns "ok" or why the database cannot serve, in plain words: never
// the driver's text, which may carry SQL or a path.
func (h *Handler) checkDatabase(ctx context.Context) string {
	pingCtx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	if err := h.DB.Ping(pingCtx); err != nil {
		return "not answering"
	}
	err := probeOf(h.DB).check(ctx, h.DB, h.log)
	if err == nil {
		return "ok"
	}
	for _, cause := range []error{store.ErrDiskFull, store.ErrReadOnly, store.ErrBusy} {
		if errors.Is(err, cause) {
			return "cannot write: " + cause.Error()
		}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "cannot write: no answer within 2 s"
	}
	return "cannot write"
}

// writeProbes holds one writeProbe per database (one in the portal, one per test), so
// the rate limit is the database's whichever router asks.
var writeProbes sync.Map // *store.DB → *writeProbe

func probeOf(db *store.DB) *writeProbe {
	if p, ok := writeProbes.Load(db); ok {
		return p.(*writeProbe)
	}
	p, _ := writeProbes.LoadOrStore(db, &writeProbe{})
	return p.(*writeProbe)
}

// writeProbe runs store.CheckWritable at most once per healthProbeTTL and one at a
// time; callers meanwhile get the last result, or wait for the probe in progress.
type writeProbe struct {
	mu      sync.Mutex
	running chan struct{} // closed when the probe in progress ends; nil when none
	have    bool          // a probe has ended
	at      time.Time     // when the last probe ended, on the database's clock
	err     error         // its result
}

func (p *writeProbe) check(ctx context.Context, db *store.DB, log *slog.Logger) error {
	p.mu.Lock()
	if age := db.Now().Sub(p.at); p.have && age >= 0 && age < healthProbeTTL {
		err := p.err
		p.mu.Unlock()
		return err
	}
	if wait := p.running; wait != nil {
		p.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.err
	}
	done := make(chan struct{})
	p.running = done
	p.mu.Unlock()

	// The probe is everyone's: a client that goes away does not cancel it.
	probeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), healthTimeout)
	err := db.CheckWritable(probeCtx)
	cancel()
	if err != nil {
		log.Warn("health: the database cannot be written", "error", err)
	}

	p.mu.Lock()
	p.have, p.at, p.err, p.running = true, db.Now(), err, nil
	p.mu.Unlock()
	close(done)
	return err
}

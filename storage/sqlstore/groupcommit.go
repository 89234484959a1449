package sqlstore

import (
	"context"
	"errors"
	"sync"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Group commit of protocol records written outside a transaction (the
// access token of a client_credentials grant, the records of an
// authorization): concurrent writers queue their rows, and one of them, the
// leader, writes the whole queue in one multi-row INSERT while the others
// wait for its outcome. A lone writer is its own leader and writes at once,
// so nothing waits for a timer; under load a statement (and its commit)
// carries many tokens instead of one. That spares a database round trip, a
// commit and the per-statement work of the database for all but one of
// them.
//
// When a grouped INSERT fails, each row is written again on its own, so an
// error (a duplicate signature, say) reaches only the writer it belongs to
// and the others' rows are still written.

// maxGroupRows bounds a statement (9 parameters a row; PostgreSQL allows
// 65,535 parameters, SQLite 32,766).
const maxGroupRows = 256

// errLead tells a queued writer that it is the leader now.
var errLead = errors.New("sqlstore: lead the next group")

type groupWriter struct {
	t    storage.Token
	done chan error
	// batch is what a writer told to lead writes: the queue it was first in.
	batch []*groupWriter
}

type groupCommit struct {
	mu     sync.Mutex
	queue  []*groupWriter
	active int // leaders writing now
	max    int // leaders allowed at once
}

// pgLeaders is how many groups may be in flight at once on PostgreSQL: one
// group is written while the next fills, and a second keeps the database
// busy meanwhile (on 2 cores, 1 and 2 leaders measured alike at 32 clients,
// 2 ahead at 8; 4 made groups too small to pay). SQLite has one writer.
const pgLeaders = 2

var writerPool = sync.Pool{New: func() any { return &groupWriter{done: make(chan error, 1)} }}

// createToken writes t through the group.
func (s *Store) createToken(ctx context.Context, t storage.Token) error {
	g := &s.group
	w := writerPool.Get().(*groupWriter)
	w.t = t
	g.mu.Lock()
	g.queue = append(g.queue, w)
	var batch []*groupWriter
	if g.active < g.max {
		g.active++
		batch, g.queue = g.queue, nil
	}
	g.mu.Unlock()
	if batch != nil {
		s.lead(ctx, batch)
	}
	err := <-w.done
	if err == errLead {
		s.lead(ctx, w.batch)
		err = <-w.done
	}
	*w = groupWriter{done: w.done}
	writerPool.Put(w)
	return err
}

// lead writes a batch, then hands the lead, with the queue that built up
// meanwhile as its batch, to the first writer in that queue, or steps down.
// Each writer is in exactly one batch.
func (s *Store) lead(ctx context.Context, batch []*groupWriter) {
	g := &s.group
	// The statement is everyone's: one writer's cancelled request must not
	// fail the others' rows.
	ctx = context.WithoutCancel(ctx)
	for len(batch) > 0 {
		n := min(len(batch), maxGroupRows)
		part := batch[:n]
		batch = batch[n:]
		rows := make([]storage.Token, n)
		for i, w := range part {
			rows[i] = w.t
		}
		err := s.CreateTokens(ctx, rows)
		if err != nil && n > 1 {
			for i, w := range part {
				w.done <- s.insertToken(ctx, rows[i])
			}
			continue
		}
		for _, w := range part {
			w.done <- err
		}
	}

	g.mu.Lock()
	if len(g.queue) > 0 {
		next := g.queue
		g.queue = nil
		next[0].batch = next
		next[0].done <- errLead
	} else {
		g.active--
	}
	g.mu.Unlock()
}

package sqlstore

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// Group commit of protocol records written outside a transaction (the
// access token of a client_credentials grant, the records of an
// authorization), and group reads of single records (introspection,
// userinfo, revocation): concurrent callers queue, and one of them, the
// leader, sends the whole queue as one statement (a multi-row INSERT, a
// SELECT of several keys) while the others wait for its outcome. A lone
// caller is its own leader and goes at once, so nothing waits for a timer;
// under load one statement (and one commit) serves many requests instead
// of one, which spares a database round trip and the per-statement work of
// the database for all but one of them.
//
// When a grouped INSERT fails, each row is written again on its own, so an
// error (a duplicate signature, say) reaches only the writer it belongs to
// and the others' rows are still written.

// maxGroup bounds a statement (9 parameters a written row, 2 a read one;
// PostgreSQL allows 65,535 parameters, SQLite 32,766).
const maxGroup = 256

// leaders is how many groups of one kind may be in flight at once. One:
// the next group fills while one is sent. On PostgreSQL (2 cores, 8
// clients) two or more leaders made smaller groups and cost the database
// 40–130 % more CPU per token (client_credentials: 1 leader 4,450/s, 2
// 3,950–4,200/s, 4 3,850–4,000/s, 8 3,500–3,700/s). A group holds up to
// maxGroup rows, so one leader still carries about maxGroup rows per round
// trip.
//
// Measured again on a durable PostgreSQL (fsync and synchronous_commit
// on; an 8 kB fdatasync takes about 0.16 ms on that disk), opaque
// client_credentials tokens per second at 8 / 32 / 128 clients:
// 1 leader 4,205 / 8,405 / 11,595; 2 leaders 3,307 / 7,515 / 9,599;
// 4 leaders 2,579 / 5,915 / 8,738. PostgreSQL would flush the WAL of
// concurrent commits together, but the smaller groups cost more than that
// saves: the commits of one leader already carry all who waited for it.
const leaders = 1

// groupTimeout bounds a grouped statement. It runs for every caller in
// the group, so no one caller's cancellation stops it; a database that
// stops answering must still not hold the group (and everyone queued
// behind it) for longer than this.
const groupTimeout = 10 * time.Second

// group queues calls of one kind and runs them in batches.
type group[In, Out any] struct {
	mu     sync.Mutex
	queue  []*member[In, Out]
	active int // leaders running now
	max    int // leaders allowed at once
	// run does a batch: out[i] and errs[i] answer in[i].
	run  func(ctx context.Context, in []In, out []Out, errs []error)
	pool sync.Pool
}

type member[In, Out any] struct {
	in   In
	out  Out
	done chan error
}

// do runs in as part of the next batch. A caller whose context ends while
// it waits leaves with the context's error (its row may still be written).
func (g *group[In, Out]) do(ctx context.Context, in In) (Out, error) {
	m, _ := g.pool.Get().(*member[In, Out])
	if m == nil {
		m = &member[In, Out]{done: make(chan error, 1)}
	}
	m.in = in
	g.mu.Lock()
	g.queue = append(g.queue, m)
	var batch []*member[In, Out]
	if g.active < g.max {
		g.active++
		batch, g.queue = g.queue, nil
	}
	g.mu.Unlock()
	if batch != nil {
		g.lead(ctx, batch)
	}
	select {
	case err := <-m.done:
		out := m.out
		*m = member[In, Out]{done: m.done}
		g.pool.Put(m)
		return out, err
	case <-ctx.Done():
		// m stays with its batch (and out of the pool).
		var zero Out
		return zero, ctx.Err()
	}
}

// lead runs a batch; the queue that built up meanwhile is the next batch,
// led on from a goroutine of its own so that this caller can answer now.
// Each caller is in exactly one batch.
func (g *group[In, Out]) lead(ctx context.Context, batch []*member[In, Out]) {
	g.runBatch(ctx, batch)
	g.mu.Lock()
	next := g.queue
	g.queue = nil
	if len(next) == 0 {
		g.active--
	}
	g.mu.Unlock()
	if len(next) > 0 {
		go g.lead(context.WithoutCancel(ctx), next)
	}
}

// runBatch sends a batch in statements of up to maxGroup calls. The
// statements are everyone's: one caller's cancelled request does not stop
// them, groupTimeout does.
func (g *group[In, Out]) runBatch(ctx context.Context, batch []*member[In, Out]) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), groupTimeout)
	defer cancel()
	for len(batch) > 0 {
		n := min(len(batch), maxGroup)
		part := batch[:n]
		batch = batch[n:]
		in := make([]In, n)
		for i, m := range part {
			in[i] = m.in
		}
		out, errs := make([]Out, n), make([]error, n)
		g.run(ctx, in, out, errs)
		for i, m := range part {
			m.out = out[i]
			m.done <- errs[i]
		}
	}
}

// groups are the Store's grouped statements.
type groups struct {
	writes group[storage.Token, struct{}]
	reads  group[storage.TokenKey, storage.Token]
	// revoked reads revocations of stateless tokens (introspection).
	revoked group[string, bool]
}

func (s *Store) initGroups() {
	s.groups.writes.max, s.groups.reads.max, s.groups.revoked.max = leaders, leaders, leaders
	s.groups.writes.run = s.writeGroup
	s.groups.reads.run = s.readGroup
	s.groups.revoked.run = s.revokedGroup
}

// revokedGroup reads which of keys are revoked, in one statement.
func (s *Store) revokedGroup(ctx context.Context, keys []string, out []bool, errs []error) {
	found, err := s.revokedKeys(ctx, keys)
	for i, k := range keys {
		out[i], errs[i] = found[k], err
	}
}

// writeGroup inserts rows in one statement, or one by one when that fails.
func (s *Store) writeGroup(ctx context.Context, rows []storage.Token, _ []struct{}, errs []error) {
	err := s.CreateTokens(ctx, rows)
	if err == nil || len(rows) == 1 {
		for i := range errs {
			errs[i] = err
		}
		return
	}
	for i, t := range rows {
		errs[i] = s.insertToken(ctx, t)
	}
}

// readGroup reads records in one statement; a missing one is ErrNotFound.
func (s *Store) readGroup(ctx context.Context, keys []storage.TokenKey, out []storage.Token, errs []error) {
	if len(keys) == 1 {
		out[0], errs[0] = s.selectToken(ctx, keys[0].Kind, keys[0].Signature)
		return
	}
	var query string
	var args []any
	if s.d.name == "postgres" {
		// One statement text for any number of keys, planned once per
		// connection as a nested loop of primary-key probes. An OR of n
		// pairs is a new statement for every n, and at 128 keys took
		// PostgreSQL 8 ms to plan and 9 ms to run as a bitmap OR
		// (introspection at 128 clients fell to a quarter of its rate at
		// 32); this takes 0.3 ms.
		kinds, sigs := make([]string, len(keys)), make([]string, len(keys))
		for i, k := range keys {
			kinds[i], sigs[i] = string(k.Kind), k.Signature
		}
		query = `SELECT t.kind, t.signature, t.request_id, t.client_id, t.subject, t.sid, t.active, t.expires_at, t.created_at, t.data
			FROM unnest($1::text[], $2::text[]) AS k(kind, signature) JOIN oauth2_tokens t ON t.kind = k.kind AND t.signature = k.signature`
		args = []any{kinds, sigs}
	} else {
		var b strings.Builder
		b.WriteString(`SELECT kind, signature, request_id, client_id, subject, sid, active, expires_at, created_at, data FROM oauth2_tokens WHERE `)
		args = make([]any, 0, 2*len(keys))
		for i, k := range keys {
			if i > 0 {
				b.WriteString(" OR ")
			}
			args = append(args, string(k.Kind), k.Signature)
			b.WriteString("(kind = $")
			b.WriteString(strconv.Itoa(len(args) - 1))
			b.WriteString(" AND signature = $")
			b.WriteString(strconv.Itoa(len(args)))
			b.WriteByte(')')
		}
		query = b.String()
	}
	rows, err := s.queryTokens(ctx, query, args)
	found := make(map[storage.TokenKey]storage.Token, len(rows))
	for _, t := range rows {
		found[storage.TokenKey{Kind: t.Kind, Signature: t.Signature}] = t
	}
	for i, k := range keys {
		if err != nil {
			errs[i] = err
			continue
		}
		t, ok := found[k]
		if !ok {
			errs[i] = storage.ErrNotFound
			continue
		}
		out[i] = t
	}
}

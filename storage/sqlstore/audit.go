package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gatehouse-id/gatehouse/storage"
)

// AppendAudit writes one audit event.
func (s *Store) AppendAudit(ctx context.Context, e storage.AuditEvent) error {
	details, err := json.Marshal(e.Details)
	if err != nil {
		return fmt.Errorf("encode audit details: %w", err)
	}
	_, err = s.q(ctx).ExecContext(ctx, `INSERT INTO audit_events (id, at, type, actor, subject, client_id, ip, request_id, details) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)`,
		e.ID, ts(e.At), e.Type, e.Actor, e.Subject, e.ClientID, e.IP, e.RequestID, string(details))
	return s.wrap(err)
}

// CountAudit appends an event or adds one to its count.
func (s *Store) CountAudit(ctx context.Context, e storage.AuditEvent) error {
	details, err := json.Marshal(e.Details)
	if err != nil {
		return fmt.Errorf("encode audit details: %w", err)
	}
	_, err = s.q(ctx).ExecContext(ctx, `INSERT INTO audit_events (id, at, type, actor, subject, client_id, ip, request_id, details, count) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,1)
ON CONFLICT (id) DO UPDATE SET count = audit_events.count + 1, at = excluded.at, actor = excluded.actor, request_id = excluded.request_id, details = excluded.details`,
		e.ID, ts(e.At), e.Type, e.Actor, e.Subject, e.ClientID, e.IP, e.RequestID, string(details))
	return s.wrap(err)
}

// DeleteAuditBefore removes events older than before, in bounded batches.
func (s *Store) DeleteAuditBefore(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		res, err := s.q(ctx).ExecContext(ctx, fmt.Sprintf(`DELETE FROM audit_events WHERE id IN (SELECT id FROM audit_events WHERE at < $1 LIMIT %d)`, gcBatch), ts(before))
		if err != nil {
			return total, fmt.Errorf("gc audit_events: %w", s.wrap(err))
		}
		n := affected(res)
		total += n
		if n < gcBatch {
			return total, nil
		}
		if err := ctx.Err(); err != nil {
			return total, err
		}
	}
}

// ListAudit lists events newest first.
func (s *Store) ListAudit(ctx context.Context, subject string, before time.Time, limit int) ([]storage.AuditEvent, error) {
	if before.IsZero() {
		before = time.Unix(1<<40, 0) // no bound: the store keeps no clock of its own
	}
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	return queryAll(ctx, s, func(r scanner) (storage.AuditEvent, error) {
		var e storage.AuditEvent
		var at int64
		var details string
		if err := r.Scan(&e.ID, &at, &e.Type, &e.Actor, &e.Subject, &e.ClientID, &e.IP, &e.RequestID, &details, &e.Count); err != nil {
			return e, err
		}
		e.At = fromTS(at)
		if err := json.Unmarshal([]byte(details), &e.Details); err != nil {
			return e, fmt.Errorf("decode audit details: %w", err)
		}
		return e, nil
	}, `SELECT id, at, type, actor, subject, client_id, ip, request_id, details, count FROM audit_events WHERE at < $1 AND (CAST($2 AS TEXT) = '' OR subject = $2) ORDER BY at DESC, id DESC LIMIT $3`,
		ts(before), subject, limit)
}

// ScrubAudit empties a subject's events of address, request id and details.
func (s *Store) ScrubAudit(ctx context.Context, subject string) (int64, error) {
	res, err := s.q(ctx).ExecContext(ctx, `UPDATE audit_events SET ip = '', request_id = '', details = '{}' WHERE subject = $1 OR actor = $1`, subject)
	if err != nil {
		return 0, s.wrap(err)
	}
	return affected(res), nil
}

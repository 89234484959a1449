package sqlstore

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

var tracer = otel.Tracer("github.com/gatehouse-id/gatehouse/storage/sqlstore")

// startSpan starts a span for one statement, only inside a recorded trace
// (no cost otherwise). Its text is the statement with placeholders: the
// arguments (hashes, sealed data) are never recorded.
func (s *Store) startSpan(ctx context.Context, query string) (context.Context, trace.Span) {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx, nil
	}
	system := s.d.name
	if system == "postgres" {
		system = "postgresql"
	}
	return tracer.Start(ctx, statementName(query), trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("db.system", system), attribute.String("db.statement", query)))
}

// endSpan ends a statement's span with its error, if any.
func endSpan(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "statement failed")
	}
	span.End()
}

// statementName is "SELECT users" style: the verb and the first table.
func statementName(q string) string {
	f := strings.Fields(q)
	if len(f) == 0 {
		return "sql"
	}
	verb := strings.ToUpper(f[0])
	for i, w := range f[:len(f)-1] {
		switch strings.ToUpper(w) {
		case "FROM", "INTO", "UPDATE":
			if verb == "SELECT" || verb == "INSERT" || verb == "DELETE" || (verb == "UPDATE" && i == 0) || verb == "WITH" {
				return verb + " " + strings.Trim(f[i+1], "(\"")
			}
		}
	}
	return verb
}

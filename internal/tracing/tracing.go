// Package tracing sets up OpenTelemetry tracing: off by default; on, spans
// for every request of the public listener (named after its route), every
// SQL statement and every call to another server (upstream providers,
// client key sets, logos, request objects), exported over OTLP (HTTP or
// gRPC), with W3C trace context taken from incoming requests.
package tracing

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Exporters.
const (
	ExporterOff      = ""
	ExporterOTLPHTTP = "otlp-http"
	ExporterOTLPGRPC = "otlp-grpc"
)

// Config says where spans go.
type Config struct {
	// Exporter is "" (off), otlp-http or otlp-grpc.
	Exporter string
	// Endpoint is the collector: a URL for otlp-http
	// (http://collector:4318), HOST:PORT for otlp-grpc (collector:4317).
	Endpoint string
	// Insecure sends gRPC without TLS (a collector on the same host or pod).
	Insecure bool
	// SampleRatio is the share of new traces recorded (a request that
	// arrives sampled stays sampled).
	SampleRatio float64
	// ServiceName and Version name the resource.
	ServiceName, Version string
	// BatchTimeout bounds how long a finished span waits to be sent.
	BatchTimeout time.Duration
}

// Setup installs the global tracer provider and propagator; the returned
// function flushes and stops it. Off, it installs the propagator only. Call
// it before building handlers and clients with Handler, Route and Transport.
func Setup(ctx context.Context, c Config) (func(context.Context) error, error) {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	var exp sdktrace.SpanExporter
	var err error
	switch c.Exporter {
	case ExporterOff:
		return func(context.Context) error { return nil }, nil
	case ExporterOTLPHTTP:
		exp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(c.Endpoint))
	case ExporterOTLPGRPC:
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(c.Endpoint)}
		if c.Insecure {
			opts = append(opts, otlptracegrpc.WithInsecure())
		}
		exp, err = otlptracegrpc.New(ctx, opts...)
	default:
		return nil, fmt.Errorf("tracing: unknown exporter %q", c.Exporter)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", c.ServiceName), attribute.String("service.version", c.Version))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(c.BatchTimeout)),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(c.SampleRatio))),
	)
	otel.SetTracerProvider(tp)
	enabled.Store(true)
	return tp.Shutdown, nil
}

// enabled: Setup installed an exporter. Off, the handlers and transports
// below are the ones given, unwrapped: tracing costs nothing then.
var enabled atomic.Bool

// Handler traces the public listener's requests: the outermost handler, so
// everything below (the access log too) sees the span. Route names it.
func Handler(next http.Handler) http.Handler {
	if !enabled.Load() {
		return next
	}
	return otelhttp.NewHandler(next, "HTTP", otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }))
}

// Route names the request's span after the route the mux matched ("POST
// /oauth2/token", never the raw path); it must wrap the ServeMux itself,
// which records the pattern on the request it is given.
func Route(mux http.Handler) http.Handler {
	if !enabled.Load() {
		return mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(w, r)
		if span := trace.SpanFromContext(r.Context()); r.Pattern != "" && span.IsRecording() {
			span.SetName(r.Pattern)
			span.SetAttributes(attribute.String("http.route", r.Pattern))
		}
	})
}

// Transport traces the calls made through next (nil: http.DefaultTransport).
func Transport(next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	if !enabled.Load() {
		return next
	}
	return otelhttp.NewTransport(next, otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Host }))
}

// TraceID is the current span's trace id, "" when nothing is traced.
func TraceID(ctx context.Context) string {
	if sc := trace.SpanFromContext(ctx).SpanContext(); sc.IsValid() {
		return sc.TraceID().String()
	}
	return ""
}

//! Logs and traces of the process. Logs go to standard error (`log.format` json or pretty, at
//! `log.level` or `PLANSMITH_LOG`). When `telemetry.otlp_endpoint` is set, spans are also
//! exported over OTLP (HTTP/protobuf) to `{endpoint}/v1/traces`: a span per request, per
//! store operation and per model call attempt, carrying the request id; the W3C trace context
//! (`traceparent`) is read from requests and sent on to model providers.

use crate::Settings;
use axum::http::HeaderMap;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Whether spans are exported: without it, requests make no span (nothing would read it).
static EXPORTING: AtomicBool = AtomicBool::new(false);

pub fn exporting() -> bool {
    EXPORTING.load(Ordering::Relaxed)
}

/// Flushes the exporter when dropped: keep it until the process ends.
pub struct TraceGuard(Option<SdkTracerProvider>);

impl Drop for TraceGuard {
    fn drop(&mut self) {
        if let Some(provider) = self.0.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("warning: traces not flushed: {e}");
        }
    }
}

/// Sets up logging, and trace export when configured. Problems are reported on standard
/// error and the process goes on without what failed.
pub fn init(settings: &Settings) -> TraceGuard {
    let filter = || {
        EnvFilter::try_from_env("PLANSMITH_LOG")
            .or_else(|_| EnvFilter::try_new(&settings.log.level))
            .unwrap_or_else(|_| EnvFilter::new("info"))
    };
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = if settings.log.format == "json" {
        fmt.json().boxed()
    } else {
        fmt.boxed()
    };
    let provider = crate::config::given(&settings.telemetry.otlp_endpoint).and_then(|endpoint| {
        match tracer_provider(endpoint, settings) {
            Ok(provider) => Some(provider),
            Err(e) => {
                eprintln!("warning: traces are not exported to {endpoint}: {e}");
                None
            }
        }
    });
    let otel = provider.as_ref().map(|provider| {
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("plansmith"))
            .with_filter(filter())
    });
    let result = tracing_subscriber::registry()
        .with(fmt.with_filter(filter()))
        .with(otel)
        .try_init();
    match result {
        Ok(()) => {
            if let Some(endpoint) = crate::config::given(&settings.telemetry.otlp_endpoint)
                && provider.is_some()
            {
                EXPORTING.store(true, Ordering::Relaxed);
                tracing::info!(endpoint, "traces are exported over OTLP");
            }
        }
        Err(e) => eprintln!("warning: logging not initialised: {e}"),
    }
    TraceGuard(provider)
}

fn tracer_provider(endpoint: &str, settings: &Settings) -> Result<SdkTracerProvider, String> {
    use opentelemetry_otlp::{Protocol, WithExportConfig};
    let endpoint = endpoint.trim_end_matches('/');
    let url = if endpoint.ends_with("/v1/traces") {
        endpoint.to_owned()
    } else {
        format!("{endpoint}/v1/traces")
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(url)
        .with_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let batches = BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_scheduled_delay(Duration::from_secs(1))
                .with_max_queue_size(8192)
                .build(),
        )
        .build();
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name("plansmith")
        .with_attributes([
            opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            opentelemetry::KeyValue::new("deployment.environment.name", settings.telemetry.environment.clone()),
        ])
        .build();
    let ratio = settings.telemetry.trace_sample_ratio;
    Ok(SdkTracerProvider::builder()
        .with_span_processor(batches)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(ratio))))
        .with_resource(resource)
        .build())
}

/// The span of one request (none when spans are not exported), continuing the caller's trace
/// when the request carries a `traceparent`.
pub fn request_span(method: &str, route: &str, headers: &HeaderMap, request_id: &str) -> tracing::Span {
    if !exporting() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!(
        "request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        http.request.method = method,
        http.route = route,
        http.response.status_code = tracing::field::Empty,
        request_id = request_id,
        user_id = tracing::field::Empty,
    );
    let parent = TraceContextPropagator::new().extract(&Headers(headers));
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let _ = span.set_parent(parent);
    span
}

struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

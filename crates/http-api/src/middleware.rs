//! Cross-cutting HTTP behaviour: CORS and request ids with access logging.

use actix_cors::Cors;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Header carrying the request id (propagated when the client sends a sane one).
pub const REQUEST_ID: &str = "x-request-id";

/// CORS: the sync, admin and public Users-API routes answer any origin (as upstream);
/// the Users-API session routes (`/auth/*`) only the origins in `ALLOWED_ORIGINS`, with
/// credentials.
pub fn cors(allowed_origins: Vec<String>) -> Cors {
    Cors::default()
        .allowed_origin_fn(move |origin, head| {
            if head.uri.path().starts_with("/auth/") {
                origin
                    .to_str()
                    .is_ok_and(|o| allowed_origins.iter().any(|a| a == o))
            } else {
                true
            }
        })
        .allow_any_method()
        .allow_any_header()
        .expose_headers([REQUEST_ID, "retry-after"])
        .supports_credentials()
        .max_age(3600)
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn sane(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// Gives every request an id (echoed in `x-request-id`) and logs method, route pattern,
/// status and latency (also into the metrics) — never bodies, query strings or headers.
pub async fn request_id(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| sane(v))
        .map(str::to_owned)
        .unwrap_or_else(|| {
            format!(
                "{:x}-{:x}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            )
        });
    let method = req.method().clone();
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".into());
    let metrics = req
        .app_data::<actix_web::web::Data<crate::metrics::Metrics>>()
        .cloned();
    let started = Instant::now();
    let mut res = next.call(req).await?;
    let elapsed = started.elapsed();
    let status = res.status().as_u16();
    tracing::info!(request_id = %id, %method, route = %route, status, micros = elapsed.as_micros() as u64, "request");
    if let Some(m) = metrics {
        m.observe(method.as_str(), &route, status, elapsed.as_secs_f64());
    }
    if let Ok(value) = HeaderValue::from_str(&id) {
        res.headers_mut()
            .insert(HeaderName::from_static(REQUEST_ID), value);
    }
    Ok(res)
}

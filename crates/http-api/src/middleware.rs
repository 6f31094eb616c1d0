//! Cross-cutting HTTP behaviour: CORS and request ids with access logging.

use crate::error::ApiError;
use actix_cors::{Cors, CorsError};
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::ResponseError;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Header carrying the request id (propagated when the client sends a sane one).
pub const REQUEST_ID: &str = "x-request-id";

/// Path prefix of the Users-API session routes, the only ones with credentialed CORS.
const SESSION_ROUTES: &str = "/auth/";

/// CORS: the sync, admin and public Users-API routes answer any origin (as upstream);
/// the Users-API session routes (`/auth/*`) only the origins in `ALLOWED_ORIGINS`, with
/// credentials. [`cors_answers`], wrapped around it, keeps credentials to those routes and
/// turns its refusals into JSON errors.
pub fn cors(allowed_origins: Vec<String>) -> Cors {
    Cors::default()
        .allowed_origin_fn(move |origin, head| {
            if head.uri.path().starts_with(SESSION_ROUTES) {
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

/// Finishes what [`cors`] answers (actix-cors has one credentials setting and a plain-text
/// refusal for the whole app): `Access-Control-Allow-Credentials` is removed outside the
/// session routes (reference users-api.md: `/v1/*` from any origin, no credentials), and a
/// refused CORS request gets the JSON error body of every error (SPEC §1.1), 400
/// `CORS_REJECTED`.
pub async fn cors_answers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let sessions = req.path().starts_with(SESSION_ROUTES);
    let res = next.call(req).await?;
    let refusal = res
        .response()
        .error()
        .and_then(|e| e.as_error::<CorsError>())
        .map(ToString::to_string);
    let mut res = match refusal {
        Some(message) => {
            let headers = res.headers().clone();
            let (req, _) = res.into_parts();
            let mut answer = ApiError::bad_request("CORS_REJECTED", message).error_response();
            for (name, value) in headers.iter().filter(|(n, _)| *n == header::VARY) {
                answer.headers_mut().append(name.clone(), value.clone());
            }
            ServiceResponse::new(req, answer)
        }
        None => res.map_into_boxed_body(),
    };
    if !sessions {
        res.headers_mut()
            .remove(header::ACCESS_CONTROL_ALLOW_CREDENTIALS);
    }
    Ok(res)
}

/// Refuses a request whose path or query string holds an encoded NUL character (`%00`):
/// no id, name, guid or email may contain one (nothing stored does), and PostgreSQL cannot
/// even compare text holding one, so without this a lookup answered 500 there and "not
/// found" on SQLite. 400 `INVALID_URL` on every route and backend alike.
pub async fn refuse_nul_in_url(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let uri = req.uri();
    let holds_nul = |part: &str| part.contains("%00");
    if holds_nul(uri.path()) || uri.query().is_some_and(holds_nul) {
        let answer = ApiError::bad_request(
            "INVALID_URL",
            "The URL must not contain NUL characters (%00)",
        )
        .error_response();
        let (req, _) = req.into_parts();
        return Ok(ServiceResponse::new(req, answer));
    }
    Ok(next.call(req).await?.map_into_boxed_body())
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

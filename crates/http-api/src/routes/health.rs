//! Liveness, readiness and server facts.

use crate::error::{ApiError, ErrorBody};
use crate::AppState;
use actix_web::{web, HttpResponse};
use domain::error::{DomainError, ErrorKind};
use serde_json::json;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health", web::get().to(health))
        .route("/api/health", web::get().to(ready))
        .route("/api/server-info", web::get().to(server_info))
        .route("/metrics", web::get().to(metrics));
}

fn now_iso() -> String {
    domain::time::Timestamp::from_millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default(),
    )
    .unwrap_or_default()
    .to_iso()
}

#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, description = "The process is up", body = Object, example = json!({"status": "ok", "timestamp": "2024-01-15T10:30:00.000Z"}))))]
pub(super) async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok", "timestamp": now_iso()}))
}

#[utoipa::path(get, path = "/api/health", tag = "health", responses((status = 200, description = "The process is up and the database answers", body = Object, example = json!({"status": "ok", "storage": "ok", "timestamp": "2024-01-15T10:30:00.000Z"})), (status = 503, description = "STORAGE_UNAVAILABLE: the database is unreachable", body = ErrorBody)))]
pub(super) async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    state.stores.configs.ping().await.map_err(|e| {
        ApiError(DomainError {
            kind: ErrorKind::Unavailable,
            ..DomainError::from(e)
        })
    })?;
    Ok(HttpResponse::Ok().json(json!({"status": "ok", "storage": "ok", "timestamp": now_iso()})))
}

#[utoipa::path(get, path = "/api/server-info", tag = "health", responses((status = 200, description = "Server name, version, API version, storage kind and features", body = Object)))]
pub(super) async fn server_info(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "name": "datacollect-sync-hub",
        "version": env!("CARGO_PKG_VERSION"),
        "apiVersion": "2.0.0",
        "storage": state.settings.storage,
        "features": ["cursor-pull", "per-event-push-outcome", "quarantine", "refresh-tokens", "deterministic-entities"],
    }))
}

#[utoipa::path(get, path = "/metrics", tag = "health", responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String)))]
pub(super) async fn metrics(metrics: web::Data<crate::metrics::Metrics>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(metrics.render())
}

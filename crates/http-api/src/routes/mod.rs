//! Route table. Each submodule holds the thin handlers of one area: parse → one service
//! call → serialize.

mod accounts;
mod apps;
mod config_body;
mod health;
pub(crate) mod openapi;
mod sync;
mod users_api;

use crate::error::ApiError;
use crate::{DEFAULT_BODY_LIMIT, PUSH_BODY_LIMIT};
use actix_web::error::{JsonPayloadError, QueryPayloadError};
use actix_web::{web, HttpRequest, HttpResponse};
use domain::error::{DomainError, ErrorKind};
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(json_config(DEFAULT_BODY_LIMIT))
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .app_data(web::PathConfig::default().error_handler(|_, _| {
            ApiError::bad_request("INVALID_PATH", "Invalid path parameter").into()
        }))
        .configure(health::configure)
        .configure(accounts::configure)
        .configure(apps::configure)
        .configure(sync::configure)
        .configure(users_api::configure)
        .service(
            SwaggerUi::new("/api-docs/{_:.*}").url("/openapi.json", openapi::ApiDoc::openapi()),
        )
        .route(
            "/api-docs",
            web::get().to(|| async {
                HttpResponse::PermanentRedirect()
                    .insert_header(("location", "/api-docs/"))
                    .finish()
            }),
        )
        .default_service(web::to(not_found));
}

/// JSON extractor settings with `limit` bytes and errors rendered as [`ApiError`].
pub(crate) fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _| {
            let api = match err {
                JsonPayloadError::Overflow { .. }
                | JsonPayloadError::OverflowKnownLength { .. } => ApiError(DomainError::new(
                    ErrorKind::TooLarge,
                    "PAYLOAD_TOO_LARGE",
                    "Request body is too large",
                )),
                JsonPayloadError::ContentType => ApiError::bad_request(
                    "INVALID_CONTENT_TYPE",
                    "Expected Content-Type: application/json",
                ),
                _ => ApiError::bad_request("INVALID_JSON", "Request body is not valid JSON"),
            };
            api.into()
        })
}

/// JSON settings of the push route (16 MiB).
pub(crate) fn push_json_config() -> web::JsonConfig {
    json_config(PUSH_BODY_LIMIT)
}

fn query_error(_: QueryPayloadError, _: &HttpRequest) -> actix_web::Error {
    ApiError::bad_request("INVALID_QUERY", "Invalid query string").into()
}

async fn not_found(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if req.method() == actix_web::http::Method::OPTIONS {
        return Ok(HttpResponse::NoContent().finish());
    }
    Err(ApiError(DomainError::not_found(
        "NOT_FOUND",
        format!("Not Found - {}", req.path()),
    )))
}

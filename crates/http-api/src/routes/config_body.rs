//! The body of `POST /api/apps` and `PUT /api/apps/:id`: either the upstream multipart upload
//! (file field `config` holding the JSON) or a plain `application/json` body.

use crate::error::ApiError;
use crate::DEFAULT_BODY_LIMIT;
use actix_multipart::Multipart;
use actix_web::{web, HttpRequest};
use domain::error::{DomainError, ErrorKind};
use futures::StreamExt;
use serde_json::Value;

fn too_large() -> ApiError {
    ApiError(DomainError::new(
        ErrorKind::TooLarge,
        "PAYLOAD_TOO_LARGE",
        "Request body is too large",
    ))
}

fn parse(bytes: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|_| ApiError::bad_request("INVALID_JSON", "The config is not valid JSON"))
}

/// Reads the config JSON from the request, whichever form it has.
pub(super) async fn read(req: &HttpRequest, mut payload: web::Payload) -> Result<Value, ApiError> {
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if !content_type.starts_with("multipart/form-data") {
        let mut body = web::BytesMut::new();
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| {
                ApiError::bad_request("INVALID_BODY", "Could not read the request body")
            })?;
            if body.len() + chunk.len() > DEFAULT_BODY_LIMIT {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        return parse(&body);
    }
    let mut form = Multipart::new(req.headers(), payload);
    while let Some(field) = form.next().await {
        let mut field =
            field.map_err(|_| ApiError::bad_request("INVALID_BODY", "Malformed multipart body"))?;
        if field.name() != Some("config") {
            continue;
        }
        let mut body = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk
                .map_err(|_| ApiError::bad_request("INVALID_BODY", "Malformed multipart body"))?;
            if body.len() + chunk.len() > DEFAULT_BODY_LIMIT {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        return parse(&body);
    }
    Err(ApiError::bad_request(
        "NO_CONFIG_FILE",
        "No JSON file uploaded",
    ))
}

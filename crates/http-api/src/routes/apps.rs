//! `/api/apps` (program configs) and the public `/artifacts/<id>.json`.

use crate::auth::{AdminUser, AuthUser};
use crate::error::{ApiError, ErrorBody};
use crate::AppState;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use domain::error::DomainError;
use domain::services::configs::ConfigListParams;
use serde::Deserialize;
use utoipa::IntoParams;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/apps", web::get().to(list))
        .route("/api/apps", web::post().to(create))
        .route("/api/apps/{id}", web::get().to(get))
        .route("/api/apps/{id}", web::put().to(update))
        .route("/api/apps/{id}", web::delete().to(delete))
        .route("/api/apps/{id}/restore", web::post().to(restore))
        .route("/api/apps/{id}/public", web::get().to(public_info))
        .route("/artifacts/{file}", web::get().to(artifact));
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListQuery {
    page: Option<String>,
    page_size: Option<String>,
    sort_by: Option<String>,
    sort_order: Option<String>,
    search: Option<String>,
    include_archived: Option<String>,
}

#[utoipa::path(get, path = "/api/apps", tag = "configs", security(("bearer" = [])), params(ListQuery), responses((status = 200, description = "One page of program configs the caller may see, with counts", body = Object), (status = 400, description = "INVALID_QUERY", body = ErrorBody)))]
pub(super) async fn list(
    state: web::Data<AppState>,
    who: AuthUser,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let params = ConfigListParams {
        page: q.page,
        page_size: q.page_size,
        sort_by: q.sort_by,
        sort_order: q.sort_order,
        search: q.search,
        include_archived: q.include_archived.as_deref() == Some("true"),
    };
    Ok(HttpResponse::Ok().json(state.configs.list(&who.0, &params).await?))
}

#[utoipa::path(post, path = "/api/apps", tag = "configs", security(("bearer" = [])), request_body(description = "A program config, as JSON or as the multipart field `config`", content((Object = "application/json"), (Object = "multipart/form-data"))), responses((status = 200, description = "Created or replaced (upsert by id); secrets are masked. Each `entityData` item is seeded as a `create-individual` event unless its entity's latest seed event already carries the same data", body = Object), (status = 400, description = "INVALID_CONFIG (a wrong JSON shape, with the failing path), INVALID_CONFIG_ID, NO_CONFIG_FILE", body = ErrorBody), (status = 403, description = "ADMIN_REQUIRED", body = ErrorBody), (status = 422, description = "INVALID_CONFIG (a meaningless value, or an `entityData` item whose seed event would be an invalid event; with the failing path)", body = ErrorBody)))]
pub(super) async fn create(
    state: web::Data<AppState>,
    who: AdminUser,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = super::config_body::read(&req, payload).await?;
    Ok(HttpResponse::Ok().json(state.configs.create(&who.0, &body).await?))
}

#[utoipa::path(get, path = "/api/apps/{id}", tag = "configs", security(("bearer" = [])), params(("id" = String, Path, description = "Config id")), responses((status = 200, description = "The config; secrets are masked", body = Object), (status = 403, description = "TENANT_FORBIDDEN", body = ErrorBody), (status = 404, description = "CONFIG_NOT_FOUND", body = ErrorBody)))]
pub(super) async fn get(
    state: web::Data<AppState>,
    who: AuthUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.configs.get(&who.0, &id).await?))
}

#[utoipa::path(put, path = "/api/apps/{id}", tag = "configs", security(("bearer" = [])), params(("id" = String, Path, description = "Config id")), request_body(description = "A program config, as JSON or as the multipart field `config`", content((Object = "application/json"), (Object = "multipart/form-data"))), responses((status = 200, description = "Updated", body = Object), (status = 400, description = "INVALID_CONFIG (a wrong JSON shape, with the failing path), CONFIG_ID_MISMATCH, NO_CONFIG_FILE", body = ErrorBody), (status = 403, description = "ADMIN_REQUIRED", body = ErrorBody), (status = 404, description = "CONFIG_NOT_FOUND", body = ErrorBody), (status = 422, description = "INVALID_CONFIG (a meaningless value, an `entityData` item whose seed event would be an invalid event, or a masked secret with no stored value to keep; with the failing path)", body = ErrorBody)))]
pub(super) async fn update(
    state: web::Data<AppState>,
    who: AdminUser,
    id: web::Path<String>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = super::config_body::read(&req, payload).await?;
    Ok(HttpResponse::Ok().json(state.configs.update(&who.0, &id, &body).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct DeleteQuery {
    purge: Option<String>,
}

#[utoipa::path(delete, path = "/api/apps/{id}", tag = "configs", security(("bearer" = [])), params(("id" = String, Path, description = "Config id"), DeleteQuery), responses((status = 200, description = "Archived (or purged with `purge=true`: its data erased and its id taken out of every user's `tenantIds` and `roleAssignments`)", body = Object), (status = 403, description = "ADMIN_REQUIRED", body = ErrorBody), (status = 404, description = "CONFIG_NOT_FOUND", body = ErrorBody), (status = 409, description = "CONFIG_NOT_ARCHIVED: `purge=true` on a config that is not archived", body = ErrorBody)))]
pub(super) async fn delete(
    state: web::Data<AppState>,
    who: AdminUser,
    id: web::Path<String>,
    q: web::Query<DeleteQuery>,
) -> Result<HttpResponse, ApiError> {
    let purge = q.purge.as_deref() == Some("true");
    Ok(HttpResponse::Ok().json(state.configs.delete(&who.0, &id, purge).await?))
}

#[utoipa::path(post, path = "/api/apps/{id}/restore", tag = "configs", security(("bearer" = [])), params(("id" = String, Path, description = "Config id")), responses((status = 200, description = "Restored from the archive (also when it was not archived)", body = Object), (status = 403, description = "ADMIN_REQUIRED", body = ErrorBody), (status = 404, description = "CONFIG_NOT_FOUND", body = ErrorBody)))]
pub(super) async fn restore(
    state: web::Data<AppState>,
    who: AdminUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.configs.restore(&who.0, &id).await?))
}

#[utoipa::path(get, path = "/api/apps/{id}/public", tag = "configs", params(("id" = String, Path, description = "Config id")), responses((status = 200, description = "Public facts of a config (no secrets)", body = Object), (status = 404, description = "CONFIG_NOT_FOUND", body = ErrorBody)))]
pub(super) async fn public_info(
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.configs.public_info(&id).await?))
}

/// The base URL clients should use: `PUBLIC_BASE_URL`, else this request's scheme and host.
fn base_url(state: &AppState, req: &HttpRequest) -> String {
    match &state.settings.public_base_url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let info = req.connection_info();
            format!("{}://{}", info.scheme(), info.host())
        }
    }
}

#[utoipa::path(get, path = "/artifacts/{file}", tag = "configs", params(("file" = String, Path, description = "`<artifactId>.json` or `<artifactId>.png`")), responses((status = 200, description = "The public config JSON (no secrets) or a QR code (PNG) of its URL", content((Object = "application/json"), (String = "image/png"))), (status = 404, description = "ARTIFACT_NOT_FOUND (unknown, or its config is archived)", body = ErrorBody)))]
pub(super) async fn artifact(
    state: web::Data<AppState>,
    req: HttpRequest,
    file: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || {
        ApiError(DomainError::not_found(
            "ARTIFACT_NOT_FOUND",
            "Config not found",
        ))
    };
    let base = base_url(&state, &req);
    // A URL taken from the request's headers (no `PUBLIC_BASE_URL`) is the caller's to
    // choose: no cache in between may keep it for someone else.
    let cache_control = if state.settings.public_base_url.is_some() {
        "no-cache"
    } else {
        "no-store"
    };
    if let Some(artifact_id) = file.strip_suffix(".png") {
        // Only artifacts that exist get a code (the lookup also validates the id).
        state.configs.artifact(artifact_id, &base).await?;
        let url = format!("{base}/artifacts/{artifact_id}.json");
        let image = crate::qr::png(&url).ok_or_else(not_found)?;
        return Ok(HttpResponse::Ok()
            .content_type("image/png")
            .insert_header((header::CACHE_CONTROL, cache_control))
            .body(image));
    }
    let artifact_id = file.strip_suffix(".json").ok_or_else(not_found)?;
    let body = state.configs.artifact(artifact_id, &base).await?;
    let pretty = serde_json::to_string_pretty(&body).unwrap_or_default();
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((header::CACHE_CONTROL, cache_control))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{artifact_id}.json\""),
        ))
        .body(pretty))
}

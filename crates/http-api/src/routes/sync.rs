//! Sync, entity and duplicate routes used by devices and the admin UI.

use super::push_json_config;
use crate::auth::{AuthUser, SyncUser};
use crate::error::ApiError;
use crate::AppState;
use actix_web::{web, HttpResponse};
use domain::ports::EventFilter;
use domain::services::entities::EntityListParams;
use serde::Deserialize;
use serde_json::{json, Value};

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/api/sync/push")
            .app_data(push_json_config())
            .route(web::post().to(push)),
    )
    .route("/api/sync/pull", web::get().to(pull))
    .route("/api/sync/pull/callback", web::get().to(pull_callback))
    .service(
        web::resource("/api/sync/push/audit-logs")
            .app_data(push_json_config())
            .route(web::post().to(push_audit)),
    )
    .route("/api/sync/pull/audit-logs", web::get().to(pull_audit))
    .route("/api/sync/rejected", web::get().to(rejected))
    .route("/api/entities", web::get().to(entities))
    .route("/api/entities/count", web::get().to(count))
    .route("/api/entities/count-by-form", web::get().to(count_by_form))
    .route("/api/entities/search", web::post().to(search))
    .route("/api/entities/{guid}", web::get().to(entity))
    .route("/api/entities/{guid}/members", web::get().to(members))
    .route("/api/entities/{guid}/events", web::get().to(entity_events))
    .route("/api/events", web::get().to(events))
    .route("/api/potential-duplicates", web::get().to(duplicates))
    .route("/api/potential-duplicates/resolve", web::post().to(resolve));
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TenantQuery {
    config_id: Option<String>,
}

async fn push(
    state: web::Data<AppState>,
    who: SyncUser,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.sync.push(&who.0, &body).await?))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PullQuery {
    config_id: Option<String>,
    since: Option<String>,
    limit: Option<String>,
}

async fn pull(
    state: web::Data<AppState>,
    who: SyncUser,
    q: web::Query<PullQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = state
        .sync
        .pull(
            &who.0,
            q.config_id.as_deref(),
            q.since.as_deref(),
            q.limit.as_deref(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

async fn pull_callback(
    state: web::Data<AppState>,
    who: SyncUser,
    q: web::Query<TenantQuery>,
) -> Result<HttpResponse, ApiError> {
    domain::services::sync::tenant_of(
        state.stores.configs.as_ref(),
        &who.0,
        q.config_id.as_deref(),
    )
    .await?;
    Ok(HttpResponse::Ok().json(json!({"status": "not implemented"})))
}

async fn push_audit(
    state: web::Data<AppState>,
    who: AuthUser,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.sync.push_audit(&who.0, &body).await?))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageQuery {
    config_id: Option<String>,
    since: Option<String>,
    after: Option<i64>,
    limit: Option<String>,
}

async fn pull_audit(
    state: web::Data<AppState>,
    who: AuthUser,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = state
        .sync
        .pull_audit(
            &who.0,
            q.config_id.as_deref(),
            q.since.as_deref(),
            q.after,
            q.limit.as_deref(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

async fn rejected(
    state: web::Data<AppState>,
    who: AuthUser,
    q: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        state
            .sync
            .rejected(&who.0, q.config_id.as_deref(), q.after, q.limit.as_deref())
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntitiesQuery {
    config_id: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
    entity_name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    q: Option<String>,
}

async fn entities(
    state: web::Data<AppState>,
    who: AuthUser,
    q: web::Query<EntitiesQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let p = EntityListParams {
        config_id: q.config_id,
        limit: q.limit,
        offset: q.offset,
        entity_name: q.entity_name,
        kind: q.kind,
        q: q.q,
    };
    Ok(HttpResponse::Ok().json(state.entities.list(&who.0, &p).await?))
}

async fn count(
    state: web::Data<AppState>,
    who: AuthUser,
    q: web::Query<TenantQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.entities.count(&who.0, q.config_id.as_deref()).await?))
}

async fn count_by_form(
    state: web::Data<AppState>,
    who: AuthUser,
    q: web::Query<TenantQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        state
            .entities
            .count_by_form(&who.0, q.config_id.as_deref())
            .await?,
    ))
}

async fn search(
    state: web::Data<AppState>,
    who: AuthUser,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.entities.search(&who.0, &body).await?))
}

async fn entity(
    state: web::Data<AppState>,
    who: AuthUser,
    guid: web::Path<String>,
    q: web::Query<TenantQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        state
            .entities
            .get(&who.0, q.config_id.as_deref(), &guid)
            .await?,
    ))
}

async fn members(
    state: web::Data<AppState>,
    who: AuthUser,
    guid: web::Path<String>,
    q: web::Query<TenantQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        state
            .entities
            .members(&who.0, q.config_id.as_deref(), &guid)
            .await?,
    ))
}

async fn entity_events(
    state: web::Data<AppState>,
    who: AuthUser,
    guid: web::Path<String>,
    q: web::Query<TenantQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        state
            .entities
            .entity_events(&who.0, q.config_id.as_deref(), &guid)
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventsQuery {
    config_id: Option<String>,
    entity_guid: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

async fn events(
    state: web::Data<AppState>,
    who: AuthUser,
    q: web::Query<EventsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = q.into_inner();
    let filter = EventFilter {
        entity_guid: q.entity_guid,
        event_type: q.event_type,
    };
    let page = state
        .entities
        .events(
            &who.0,
            q.config_id.as_deref(),
            filter,
            q.cursor.as_deref(),
            q.limit.as_deref(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DuplicatesQuery {
    config_id: Option<String>,
    offset: Option<u64>,
    limit: Option<u32>,
}

async fn duplicates(
    state: web::Data<AppState>,
    who: AuthUser,
    q: web::Query<DuplicatesQuery>,
) -> Result<HttpResponse, ApiError> {
    let pairs = state
        .entities
        .duplicates(
            &who.0,
            q.config_id.as_deref(),
            q.offset.unwrap_or(0),
            q.limit.unwrap_or(1000),
        )
        .await?;
    Ok(HttpResponse::Ok().json(pairs))
}

async fn resolve(
    state: web::Data<AppState>,
    who: AuthUser,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.entities.resolve(&who.0, &body).await?))
}

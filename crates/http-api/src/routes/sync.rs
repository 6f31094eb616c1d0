//! Sync, entity and duplicate routes used by devices and the admin UI.

use super::push_json_config;
use crate::auth::{AuthUser, SyncUser};
use crate::error::{ApiError, ErrorBody};
use crate::AppState;
use actix_web::{web, HttpResponse};
use domain::event::Event;
use domain::ports::EventFilter;
use domain::services::entities::{DuplicateView, EntityListParams, EntityView, EventPage};
use domain::services::sync::{PullResponse, PushResponse};
use serde::Deserialize;
use serde_json::{json, Value};
use utoipa::IntoParams;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        // A wrong method gets the JSON 404 of every other route (a resource's own default
        // is a bare 405 with an empty body).
        web::resource("/api/sync/push")
            .app_data(push_json_config())
            .route(web::post().to(push))
            .default_service(web::to(super::not_found)),
    )
    .route("/api/sync/pull", web::get().to(pull))
    .route("/api/sync/pull/callback", web::get().to(pull_callback))
    .service(
        web::resource("/api/sync/push/audit-logs")
            .app_data(push_json_config())
            .route(web::post().to(push_audit))
            .default_service(web::to(super::not_found)),
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

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(super) struct TenantQuery {
    config_id: Option<String>,
}

#[utoipa::path(post, path = "/api/sync/push", tag = "sync", security(("bearer" = [])), request_body(content = Object, description = "`{configId, events}`: at most 5,000 events and 16 MiB", example = json!({"configId": "prog1", "events": [{"guid": "e1", "entityGuid": "i1", "type": "create-individual", "data": {"name": "Ana"}, "timestamp": "2024-01-15T10:30:00.000Z", "userId": "u1", "syncLevel": 0}]})), responses((status = 200, description = "Per-event outcome; invalid events are quarantined", body = PushResponse), (status = 400, description = "INVALID_BODY, INVALID_CONFIG_ID, TOO_MANY_EVENTS", body = ErrorBody), (status = 403, description = "TENANT_FORBIDDEN", body = ErrorBody), (status = 404, description = "CONFIG_NOT_FOUND", body = ErrorBody), (status = 409, description = "CONFIG_ARCHIVED", body = ErrorBody), (status = 413, description = "PAYLOAD_TOO_LARGE", body = ErrorBody)))]
pub(super) async fn push(
    state: web::Data<AppState>,
    who: SyncUser,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.sync.push(&who.0, &body).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(super) struct PullQuery {
    config_id: Option<String>,
    since: Option<String>,
    limit: Option<String>,
}

#[utoipa::path(get, path = "/api/sync/pull", tag = "sync", security(("bearer" = [])), params(PullQuery), responses((status = 200, description = "Events after the cursor in commit order: `limit` events (default 500, at most 5,000), fewer when their data reach 4 MiB (the page ends with the event that reaches it); follow `nextCursor` until it is null", body = PullResponse), (status = 400, description = "INVALID_SINCE, INVALID_LIMIT", body = ErrorBody), (status = 403, description = "TENANT_FORBIDDEN", body = ErrorBody), (status = 404, description = "CONFIG_NOT_FOUND", body = ErrorBody)))]
pub(super) async fn pull(
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

#[utoipa::path(get, path = "/api/sync/pull/callback", tag = "sync", security(("bearer" = [])), params(TenantQuery), responses((status = 200, description = "As upstream: `{status: \"not implemented\"}`", body = Object), (status = 403, description = "TENANT_FORBIDDEN", body = ErrorBody)))]
pub(super) async fn pull_callback(
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

#[utoipa::path(post, path = "/api/sync/push/audit-logs", tag = "sync", security(("bearer" = [])), request_body(content = Object, description = "`{configId, auditLogs}`"), responses((status = 200, description = "Stored", body = Object), (status = 400, description = "INVALID_BODY (also an entry holding a NUL character)", body = ErrorBody), (status = 403, description = "TENANT_FORBIDDEN", body = ErrorBody)))]
pub(super) async fn push_audit(
    state: web::Data<AppState>,
    who: AuthUser,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.sync.push_audit(&who.0, &body).await?))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(super) struct PageQuery {
    config_id: Option<String>,
    since: Option<String>,
    after: Option<i64>,
    limit: Option<String>,
}

#[utoipa::path(get, path = "/api/sync/pull/audit-logs", tag = "sync", security(("bearer" = [])), params(PageQuery), responses((status = 200, description = "One page of the tenant's audit log", body = Object), (status = 400, description = "INVALID_SINCE, INVALID_LIMIT", body = ErrorBody), (status = 403, description = "TENANT_FORBIDDEN", body = ErrorBody)))]
pub(super) async fn pull_audit(
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

#[utoipa::path(get, path = "/api/sync/rejected", tag = "sync", security(("bearer" = [])), params(PageQuery), responses((status = 200, description = "Quarantined events of the tenant (admin)", body = Object), (status = 403, description = "ADMIN_REQUIRED, TENANT_FORBIDDEN", body = ErrorBody)))]
pub(super) async fn rejected(
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

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(super) struct EntitiesQuery {
    config_id: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
    entity_name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    q: Option<String>,
}

#[utoipa::path(get, path = "/api/entities", tag = "entities", security(("bearer" = [])), params(EntitiesQuery), responses((status = 200, description = "One page of entities", body = Object), (status = 400, description = "INVALID_LIMIT, INVALID_OFFSET", body = ErrorBody), (status = 403, description = "TENANT_FORBIDDEN", body = ErrorBody)))]
pub(super) async fn entities(
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

#[utoipa::path(get, path = "/api/entities/count", tag = "entities", security(("bearer" = [])), params(TenantQuery), responses((status = 200, description = "Number of live entities", body = Object), (status = 403, description = "TENANT_FORBIDDEN", body = ErrorBody)))]
pub(super) async fn count(
    state: web::Data<AppState>,
    who: AuthUser,
    q: web::Query<TenantQuery>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.entities.count(&who.0, q.config_id.as_deref()).await?))
}

#[utoipa::path(get, path = "/api/entities/count-by-form", tag = "entities", security(("bearer" = [])), params(TenantQuery), responses((status = 200, description = "Number of live entities per form", body = Object), (status = 403, description = "TENANT_FORBIDDEN", body = ErrorBody)))]
pub(super) async fn count_by_form(
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

#[utoipa::path(post, path = "/api/entities/search", tag = "entities", security(("bearer" = [])), request_body(content = Object, description = "`{configId, criteria, limit?}`"), responses((status = 200, description = "Matching entities", body = Object), (status = 400, description = "INVALID_BODY, INVALID_CRITERIA (also a NUL character in a value), INVALID_LIMIT", body = ErrorBody), (status = 403, description = "TENANT_FORBIDDEN", body = ErrorBody)))]
pub(super) async fn search(
    state: web::Data<AppState>,
    who: AuthUser,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.entities.search(&who.0, &body).await?))
}

#[utoipa::path(get, path = "/api/entities/{guid}", tag = "entities", security(("bearer" = [])), params(("guid" = String, Path, description = "Entity guid"), TenantQuery), responses((status = 200, description = "The entity with its members", body = Object), (status = 403, description = "TENANT_FORBIDDEN", body = ErrorBody), (status = 404, description = "ENTITY_NOT_FOUND", body = ErrorBody)))]
pub(super) async fn entity(
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

#[utoipa::path(get, path = "/api/entities/{guid}/members", tag = "entities", security(("bearer" = [])), params(("guid" = String, Path, description = "Group guid"), TenantQuery), responses((status = 200, description = "The group's members", body = Vec<EntityView>), (status = 403, description = "TENANT_FORBIDDEN", body = ErrorBody), (status = 404, description = "ENTITY_NOT_FOUND", body = ErrorBody)))]
pub(super) async fn members(
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

#[utoipa::path(get, path = "/api/entities/{guid}/events", tag = "entities", security(("bearer" = [])), params(("guid" = String, Path, description = "Entity guid"), TenantQuery), responses((status = 200, description = "The entity's events in application order (its first 10,000); `[]` for a guid with no events", body = Vec<Event>), (status = 403, description = "TENANT_FORBIDDEN", body = ErrorBody), (status = 404, description = "CONFIG_NOT_FOUND", body = ErrorBody)))]
pub(super) async fn entity_events(
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

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(super) struct EventsQuery {
    config_id: Option<String>,
    entity_guid: Option<String>,
    #[serde(rename = "type")]
    event_type: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

#[utoipa::path(get, path = "/api/events", tag = "entities", security(("bearer" = [])), params(EventsQuery), responses((status = 200, description = "One page of events; follow `nextCursor`", body = EventPage), (status = 400, description = "INVALID_CURSOR, INVALID_LIMIT", body = ErrorBody), (status = 403, description = "TENANT_FORBIDDEN", body = ErrorBody)))]
pub(super) async fn events(
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

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(super) struct DuplicatesQuery {
    config_id: Option<String>,
    offset: Option<String>,
    limit: Option<String>,
}

#[utoipa::path(get, path = "/api/potential-duplicates", tag = "entities", security(("bearer" = [])), params(DuplicatesQuery), responses((status = 200, description = "Unresolved potential duplicate pairs", body = Vec<DuplicateView>), (status = 400, description = "INVALID_LIMIT, INVALID_OFFSET", body = ErrorBody), (status = 403, description = "TENANT_FORBIDDEN", body = ErrorBody)))]
pub(super) async fn duplicates(
    state: web::Data<AppState>,
    who: AuthUser,
    q: web::Query<DuplicatesQuery>,
) -> Result<HttpResponse, ApiError> {
    let pairs = state
        .entities
        .duplicates(
            &who.0,
            q.config_id.as_deref(),
            q.offset.as_deref(),
            q.limit.as_deref(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(pairs))
}

#[utoipa::path(post, path = "/api/potential-duplicates/resolve", tag = "entities", security(("bearer" = [])), request_body(content = Object, description = "`{configId, newItem, existingItem, shouldDeleteNewItem}`: delete the new entity, or keep both (remembered)"), responses((status = 200, description = "Resolved", body = Object), (status = 400, description = "INVALID_BODY", body = ErrorBody), (status = 403, description = "TENANT_FORBIDDEN", body = ErrorBody), (status = 404, description = "DUPLICATE_NOT_FOUND", body = ErrorBody)))]
pub(super) async fn resolve(
    state: web::Data<AppState>,
    who: AuthUser,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.entities.resolve(&who.0, &body).await?))
}

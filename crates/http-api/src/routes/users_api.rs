//! The Users API (SPEC §7): public sign-up upsert and schema by `x-app-id`, cookie sessions
//! (`sid`), app-scoped and admin routes.

use crate::error::ApiError;
use crate::AppState;
use actix_web::cookie::{Cookie, SameSite};
use actix_web::{web, HttpRequest, HttpResponse};
use domain::services::users_api::AppSession;
use serde::Deserialize;
use serde_json::Value;

/// Name of the session cookie.
const SESSION_COOKIE: &str = "sid";

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/v1/users", web::post().to(upsert))
        .route("/v1/schema", web::get().to(schema))
        .route("/auth/login", web::post().to(login))
        .route("/auth/logout", web::post().to(logout))
        .route("/auth/session", web::get().to(session))
        .route("/auth/users", web::get().to(app_users))
        .route("/auth/apps", web::get().to(list_apps))
        .route("/auth/apps", web::post().to(create_app))
        .route("/auth/apps/{id}", web::delete().to(delete_app))
        .route("/auth/apps/{id}/schema", web::get().to(get_schema))
        .route("/auth/apps/{id}/schema", web::put().to(put_schema))
        .route("/auth/admin/users", web::get().to(admin_users));
}

fn app_id(req: &HttpRequest) -> Option<&str> {
    req.headers().get("x-app-id").and_then(|v| v.to_str().ok())
}

fn sid(req: &HttpRequest) -> Option<String> {
    req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned())
}

async fn current(state: &AppState, req: &HttpRequest) -> Result<AppSession, ApiError> {
    Ok(state.users_api.session(sid(req).as_deref()).await?)
}

fn session_cookie(state: &AppState, value: String, max_age_secs: i64) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, value)
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.settings.secure_cookies)
        .path("/")
        .max_age(actix_web::cookie::time::Duration::seconds(max_age_secs))
        .finish()
}

async fn upsert(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    if let Some(peer) = req.peer_addr() {
        state.signup_limit.check(peer.ip())?;
    }
    Ok(HttpResponse::Ok().json(state.users_api.upsert(app_id(&req), &body).await?))
}

async fn schema(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.users_api.schema(app_id(&req)).await?))
}

async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let ip = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let created = state.users_api.login(&body, &ip).await?;
    let max_age = i64::try_from(created.max_age_secs).unwrap_or(i64::MAX);
    Ok(HttpResponse::Ok()
        .cookie(session_cookie(&state, created.token, max_age))
        .json(created.body))
}

async fn logout(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let body = state.users_api.logout(sid(&req).as_deref()).await?;
    Ok(HttpResponse::Ok()
        .cookie(session_cookie(&state, String::new(), 0))
        .json(body))
}

async fn session(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(current(&state, &req).await?))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Page {
    source_app_id: Option<String>,
    limit: Option<u64>,
    skip: Option<u64>,
}

async fn app_users(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<Page>,
) -> Result<HttpResponse, ApiError> {
    let who = current(&state, &req).await?;
    Ok(HttpResponse::Ok().json(state.users_api.list_users(&who, q.limit, q.skip).await?))
}

async fn list_apps(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let who = current(&state, &req).await?;
    Ok(HttpResponse::Ok().json(state.users_api.list_apps(&who).await?))
}

async fn create_app(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let who = current(&state, &req).await?;
    Ok(HttpResponse::Ok().json(state.users_api.create_app(&who, &body).await?))
}

async fn delete_app(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let who = current(&state, &req).await?;
    Ok(HttpResponse::Ok().json(state.users_api.delete_app(&who, &id).await?))
}

async fn get_schema(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let who = current(&state, &req).await?;
    Ok(HttpResponse::Ok().json(state.users_api.get_schema(&who, &id).await?))
}

async fn put_schema(
    state: web::Data<AppState>,
    req: HttpRequest,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let who = current(&state, &req).await?;
    Ok(HttpResponse::Ok().json(state.users_api.put_schema(&who, &id, &body).await?))
}

async fn admin_users(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<Page>,
) -> Result<HttpResponse, ApiError> {
    let who = current(&state, &req).await?;
    Ok(HttpResponse::Ok().json(
        state
            .users_api
            .admin_users(&who, q.source_app_id.as_deref(), q.limit, q.skip)
            .await?,
    ))
}

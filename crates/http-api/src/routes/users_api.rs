//! The Users API (SPEC §7): public sign-up upsert and schema by `x-app-id`, cookie sessions
//! (`sid`), app-scoped and admin routes.

use crate::auth::{SessionApp, SESSION_COOKIE};
use crate::error::{ApiError, ErrorBody};
use crate::{AppState, SIGNUP_BODY_LIMIT};
use actix_web::cookie::{Cookie, SameSite};
use actix_web::{web, HttpRequest, HttpResponse};
use domain::services::users_api::{
    AdminUsersPage, AppList, AppSession, AppUsers, CreatedApp, DeletedApp, OkBody,
    SessionLoginBody, UpsertedRecord,
};
use domain::users_schema::UserSchema;
use serde::Deserialize;
use serde_json::Value;
use utoipa::IntoParams;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/users")
            .app_data(super::json_config(SIGNUP_BODY_LIMIT))
            .route(web::post().to(upsert))
            .default_service(web::to(super::not_found)),
    )
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

/// The `sid` cookie: `HttpOnly`, `SameSite=Lax`, `Path=/`, `Secure` unless the server is
/// configured for plain-HTTP local use.
fn session_cookie(secure: bool, value: String, max_age_secs: i64) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, value)
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .path("/")
        .max_age(actix_web::cookie::time::Duration::seconds(max_age_secs))
        .finish()
}

#[utoipa::path(post, path = "/v1/users", tag = "users-api", security(("appId" = [])), request_body(content = Object, example = json!({"email": "user@example.com", "data": {"fullName": "John Doe"}})), responses((status = 200, description = "Created or updated (upsert by normalized email)", body = UpsertedRecord), (status = 400, description = "INVALID_APP_ID, INVALID_BODY, SCHEMA_VALIDATION (every failing field in details)", body = ErrorBody), (status = 413, description = "PAYLOAD_TOO_LARGE: a body over 64 KiB", body = ErrorBody), (status = 429, description = "RATE_LIMITED, with Retry-After", body = ErrorBody)))]
pub(super) async fn upsert(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    if let Some(peer) = req.peer_addr() {
        state.signup_limit.check(peer.ip())?;
    }
    Ok(HttpResponse::Ok().json(state.users_api.upsert(app_id(&req), &body).await?))
}

#[utoipa::path(get, path = "/v1/schema", tag = "users-api", security(("appId" = [])), responses((status = 200, description = "The app's current schema", body = UserSchema), (status = 400, description = "INVALID_APP_ID", body = ErrorBody)))]
pub(super) async fn schema(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.users_api.schema(app_id(&req)).await?))
}

#[utoipa::path(post, path = "/auth/login", tag = "users-api", request_body(content = Object, example = json!({"sourceAppId": "my-app-id", "password": "your-password"})), responses((status = 200, description = "Sets the `sid` session cookie (HttpOnly, SameSite=Lax, 7 days)", body = SessionLoginBody), (status = 400, description = "INVALID_BODY", body = ErrorBody), (status = 401, description = "INVALID_CREDENTIALS", body = ErrorBody), (status = 429, description = "RATE_LIMITED", body = ErrorBody)))]
pub(super) async fn login(
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
        .cookie(session_cookie(
            state.settings.secure_cookies,
            created.token,
            max_age,
        ))
        .json(created.body))
}

#[utoipa::path(post, path = "/auth/logout", tag = "users-api", responses((status = 200, description = "The session is revoked and the cookie cleared", body = OkBody)))]
pub(super) async fn logout(
    state: web::Data<AppState>,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let body = state.users_api.logout(sid(&req).as_deref()).await?;
    Ok(HttpResponse::Ok()
        .cookie(session_cookie(
            state.settings.secure_cookies,
            String::new(),
            0,
        ))
        .json(body))
}

#[utoipa::path(get, path = "/auth/session", tag = "users-api", security(("session" = [])), responses((status = 200, description = "The logged-in app", body = AppSession)))]
pub(super) async fn session(who: SessionApp) -> HttpResponse {
    HttpResponse::Ok().json(who.0)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(super) struct Page {
    source_app_id: Option<String>,
    #[serde(default, deserialize_with = "saturating_count")]
    limit: Option<u64>,
    #[serde(default, deserialize_with = "saturating_count")]
    skip: Option<u64>,
}

/// A count in a query string: decimal digits, a value beyond `u64` read as `u64::MAX`
/// (the contract clamps a large `limit` instead of refusing it; a large `skip` is past the
/// end); anything else is refused (400 `INVALID_QUERY`).
fn saturating_count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let text = String::deserialize(d)?;
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(serde::de::Error::custom("not a non-negative integer"));
    }
    Ok(Some(text.parse().unwrap_or(u64::MAX)))
}

#[utoipa::path(get, path = "/auth/users", tag = "users-api", security(("session" = [])), params(Page), responses((status = 200, description = "The app's users, newest first", body = AppUsers)))]
pub(super) async fn app_users(
    state: web::Data<AppState>,
    who: SessionApp,
    q: web::Query<Page>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.users_api.list_users(&who.0, q.limit, q.skip).await?))
}

#[utoipa::path(get, path = "/auth/apps", tag = "users-api", security(("session" = [])), responses((status = 200, description = "Every app (admin)", body = AppList), (status = 403, description = "ADMIN_REQUIRED", body = ErrorBody)))]
pub(super) async fn list_apps(
    state: web::Data<AppState>,
    who: SessionApp,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.users_api.list_apps(&who.0).await?))
}

#[utoipa::path(post, path = "/auth/apps", tag = "users-api", security(("session" = [])), request_body(content = Object, example = json!({"sourceAppId": "my-app-id"})), responses((status = 200, description = "Created; the generated password is shown only here", body = CreatedApp), (status = 400, description = "INVALID_BODY", body = ErrorBody), (status = 403, description = "ADMIN_REQUIRED", body = ErrorBody), (status = 409, description = "APP_EXISTS", body = ErrorBody)))]
pub(super) async fn create_app(
    state: web::Data<AppState>,
    who: SessionApp,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.users_api.create_app(&who.0, &body).await?))
}

#[utoipa::path(delete, path = "/auth/apps/{id}", tag = "users-api", security(("session" = [])), params(("id" = String, Path, description = "sourceAppId")), responses((status = 200, description = "Deleted with its users and sessions", body = DeletedApp), (status = 400, description = "CANNOT_DELETE_ADMIN_APP", body = ErrorBody), (status = 403, description = "ADMIN_REQUIRED", body = ErrorBody), (status = 404, description = "APP_NOT_FOUND", body = ErrorBody)))]
pub(super) async fn delete_app(
    state: web::Data<AppState>,
    who: SessionApp,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.users_api.delete_app(&who.0, &id).await?))
}

#[utoipa::path(get, path = "/auth/apps/{id}/schema", tag = "users-api", security(("session" = [])), params(("id" = String, Path, description = "sourceAppId")), responses((status = 200, description = "The app's current schema", body = UserSchema), (status = 403, description = "ADMIN_REQUIRED", body = ErrorBody), (status = 404, description = "APP_NOT_FOUND", body = ErrorBody)))]
pub(super) async fn get_schema(
    state: web::Data<AppState>,
    who: SessionApp,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.users_api.get_schema(&who.0, &id).await?))
}

#[utoipa::path(put, path = "/auth/apps/{id}/schema", tag = "users-api", security(("session" = [])), params(("id" = String, Path, description = "sourceAppId")), request_body(content = Object, example = json!({"rejectUnknown": true, "fields": [{"key": "fullName", "label": "Full name", "kind": "text", "required": false, "maxLength": 200}]})), responses((status = 200, description = "The new version (old versions are kept)", body = UserSchema), (status = 400, description = "INVALID_SCHEMA with every problem in details", body = ErrorBody), (status = 403, description = "ADMIN_REQUIRED", body = ErrorBody), (status = 404, description = "APP_NOT_FOUND", body = ErrorBody)))]
pub(super) async fn put_schema(
    state: web::Data<AppState>,
    who: SessionApp,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.users_api.put_schema(&who.0, &id, &body).await?))
}

#[utoipa::path(get, path = "/auth/admin/users", tag = "users-api", security(("session" = [])), params(Page), responses((status = 200, description = "Users of every app or of `sourceAppId` (limit at most 200)", body = AdminUsersPage), (status = 403, description = "ADMIN_REQUIRED", body = ErrorBody)))]
pub(super) async fn admin_users(
    state: web::Data<AppState>,
    who: SessionApp,
    q: web::Query<Page>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(
        state
            .users_api
            .admin_users(&who.0, q.source_app_id.as_deref(), q.limit, q.skip)
            .await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::session_cookie;

    #[test]
    fn the_session_cookie_is_secure_unless_configured_for_plain_http() {
        let secure = session_cookie(true, "abc".into(), 604_800).to_string();
        for flag in [
            "sid=abc",
            "HttpOnly",
            "SameSite=Lax",
            "Secure",
            "Path=/",
            "Max-Age=604800",
        ] {
            assert!(secure.contains(flag), "{flag} missing in {secure}");
        }
        let plain = session_cookie(false, "abc".into(), 604_800).to_string();
        assert!(!plain.contains("Secure"), "{plain}");
    }
}

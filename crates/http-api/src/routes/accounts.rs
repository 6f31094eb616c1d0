//! `/api/users`: login, tokens, the caller, user administration.

use crate::auth::{AdminUser, AuthUser};
use crate::error::{ApiError, ErrorBody};
use crate::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use domain::services::auth::{LoginResponse, MessageBody, RefreshResponse, UserView};
use domain::services::user_admin::CreatedUser;
use serde_json::Value;

pub(super) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/users/login", web::post().to(login))
        .route("/api/users/refresh", web::post().to(refresh))
        .route("/api/users/logout", web::post().to(logout))
        .route("/api/users/check-token", web::get().to(check_token))
        .route("/api/users/me", web::get().to(me))
        .route("/api/users", web::get().to(list))
        .route("/api/users", web::post().to(create))
        .route("/api/users/{id}", web::put().to(update))
        .route("/api/users/{id}", web::delete().to(delete));
}

fn text<'a>(body: &'a Value, key: &str) -> Option<&'a str> {
    body.get(key).and_then(Value::as_str)
}

#[utoipa::path(post, path = "/api/users/login", tag = "accounts", request_body(content = Object, example = json!({"email": "admin@example.com", "password": "secret"})), responses((status = 200, description = "Access token, user id, refresh token and the access token lifetime in seconds", body = LoginResponse), (status = 400, description = "INVALID_BODY", body = ErrorBody), (status = 401, description = "INVALID_CREDENTIALS", body = ErrorBody), (status = 429, description = "RATE_LIMITED, with Retry-After", body = ErrorBody)))]
pub(super) async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    let ip = req
        .peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    let out = state
        .auth
        .login(text(&body, "email"), text(&body, "password"), &ip)
        .await?;
    Ok(HttpResponse::Ok().json(out))
}

#[utoipa::path(post, path = "/api/users/refresh", tag = "accounts", request_body(content = Object, example = json!({"refreshToken": "…"})), responses((status = 200, description = "A new access token and a rotated refresh token", body = RefreshResponse), (status = 400, description = "INVALID_BODY", body = ErrorBody), (status = 401, description = "INVALID_REFRESH_TOKEN, or REFRESH_TOKEN_REUSED: presenting a used token revokes its whole family", body = ErrorBody)))]
pub(super) async fn refresh(
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.auth.refresh(text(&body, "refreshToken")).await?))
}

#[utoipa::path(post, path = "/api/users/logout", tag = "accounts", request_body(content = Object, example = json!({"refreshToken": "…"})), responses((status = 200, description = "The refresh token family is revoked", body = MessageBody), (status = 400, description = "INVALID_BODY", body = ErrorBody)))]
pub(super) async fn logout(
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.auth.logout(text(&body, "refreshToken")).await?))
}

#[utoipa::path(get, path = "/api/users/check-token", tag = "accounts", security(("bearer" = [])), responses((status = 200, description = "The token is valid", body = Object)))]
pub(super) async fn check_token(state: web::Data<AppState>, who: AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(state.auth.check_token(&who.0))
}

#[utoipa::path(get, path = "/api/users/me", tag = "accounts", security(("bearer" = [])), responses((status = 200, description = "The caller", body = UserView)))]
pub(super) async fn me(
    state: web::Data<AppState>,
    who: AuthUser,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.auth.me(&who.0).await?))
}

#[utoipa::path(get, path = "/api/users", tag = "accounts", security(("bearer" = [])), responses((status = 200, description = "Every account", body = Vec<UserView>), (status = 403, description = "ADMIN_REQUIRED", body = ErrorBody)))]
pub(super) async fn list(
    state: web::Data<AppState>,
    who: AdminUser,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.user_admin.list(&who.0).await?))
}

#[utoipa::path(post, path = "/api/users", tag = "accounts", security(("bearer" = [])), request_body(content = Object, example = json!({"email": "user@example.org", "password": "long-enough-1", "role": "USER", "tenantIds": ["prog1"]})), responses((status = 201, description = "Created", body = CreatedUser), (status = 400, description = "INVALID_BODY, INVALID_EMAIL, INVALID_PASSWORD, INVALID_ROLE", body = ErrorBody), (status = 403, description = "ADMIN_REQUIRED", body = ErrorBody), (status = 409, description = "EMAIL_EXISTS", body = ErrorBody)))]
pub(super) async fn create(
    state: web::Data<AppState>,
    who: AdminUser,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(state.user_admin.create(&who.0, &body).await?))
}

#[utoipa::path(put, path = "/api/users/{id}", tag = "accounts", security(("bearer" = [])), params(("id" = String, Path, description = "User id")), request_body(content = Object, description = "Any of email, password (absent or empty keeps the current one; a new one ends the sessions opened with the old at once: their refresh tokens are revoked and access tokens issued before the change's second are refused with 401 INVALID_TOKEN), role, tenantIds, roleAssignments", example = json!({"role": "ADMIN"})), responses((status = 200, description = "Updated: `{\"message\": \"User updated successfully\"}` (upstream shape)", body = MessageBody), (status = 400, description = "INVALID_BODY", body = ErrorBody), (status = 403, description = "ADMIN_REQUIRED", body = ErrorBody), (status = 404, description = "USER_NOT_FOUND", body = ErrorBody), (status = 409, description = "EMAIL_EXISTS, LAST_ADMIN (demoting the last admin)", body = ErrorBody)))]
pub(super) async fn update(
    state: web::Data<AppState>,
    who: AdminUser,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.user_admin.update(&who.0, &id, &body).await?))
}

#[utoipa::path(delete, path = "/api/users/{id}", tag = "accounts", security(("bearer" = [])), params(("id" = String, Path, description = "User id or email")), responses((status = 200, description = "Deleted", body = MessageBody), (status = 403, description = "ADMIN_REQUIRED", body = ErrorBody), (status = 404, description = "USER_NOT_FOUND", body = ErrorBody), (status = 409, description = "LAST_ADMIN", body = ErrorBody)))]
pub(super) async fn delete(
    state: web::Data<AppState>,
    who: AdminUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.user_admin.delete(&who.0, &id).await?))
}

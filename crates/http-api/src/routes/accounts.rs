//! `/api/users`: login, tokens, the caller, user administration.

use crate::auth::{AdminUser, AuthUser};
use crate::error::ApiError;
use crate::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
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

async fn login(
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

async fn refresh(
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.auth.refresh(text(&body, "refreshToken")).await?))
}

async fn logout(
    state: web::Data<AppState>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.auth.logout(text(&body, "refreshToken")).await?))
}

async fn check_token(state: web::Data<AppState>, who: AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(state.auth.check_token(&who.0))
}

async fn me(state: web::Data<AppState>, who: AuthUser) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.auth.me(&who.0).await?))
}

async fn list(state: web::Data<AppState>, who: AdminUser) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.user_admin.list(&who.0).await?))
}

async fn create(
    state: web::Data<AppState>,
    who: AdminUser,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Created().json(state.user_admin.create(&who.0, &body).await?))
}

async fn update(
    state: web::Data<AppState>,
    who: AdminUser,
    id: web::Path<String>,
    body: web::Json<Value>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.user_admin.update(&who.0, &id, &body).await?))
}

async fn delete(
    state: web::Data<AppState>,
    who: AdminUser,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.user_admin.delete(&who.0, &id).await?))
}

//! Authentication extractors (ARCHITECTURE convention 6): a handler that takes
//! [`AuthUser`], [`AdminUser`], [`SyncUser`] or [`SessionApp`] only runs for a valid caller,
//! and the caller is checked before the body is read (401 before any 400).

use crate::error::ApiError;
use crate::AppState;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use domain::error::DomainError;
use domain::principal::Principal;
use domain::services::users_api::AppSession;
use futures::future::LocalBoxFuture;

/// Any authenticated user (`Authorization: Bearer <jwt>`).
#[derive(Debug, Clone)]
pub struct AuthUser(pub Principal);

/// An authenticated `ADMIN`.
#[derive(Debug, Clone)]
pub struct AdminUser(pub Principal);

/// A sync client: like [`AuthUser`], but any scheme is accepted (the legacy client sends
/// `Authorization: <provider> <token>`); the token must be one of our access tokens.
#[derive(Debug, Clone)]
pub struct SyncUser(pub Principal);

/// A Users-API app logged in with the `sid` session cookie.
#[derive(Debug, Clone)]
pub struct SessionApp(pub AppSession);

/// Name of the Users-API session cookie.
pub(crate) const SESSION_COOKIE: &str = "sid";

fn internal() -> ApiError {
    ApiError(DomainError::new(
        domain::error::ErrorKind::Internal,
        "INTERNAL",
        "Internal server error",
    ))
}

fn token(req: &HttpRequest, any_scheme: bool) -> Result<String, ApiError> {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .ok_or_else(|| {
            ApiError(DomainError::unauthenticated(
                "AUTH_HEADER_MISSING",
                "Authorization header missing",
            ))
        })?;
    let text = header.to_str().unwrap_or("");
    let mut parts = text.splitn(2, ' ');
    let scheme = parts.next().unwrap_or("");
    let token = parts.next().unwrap_or("").trim();
    if !(any_scheme || scheme.eq_ignore_ascii_case("bearer")) || scheme.is_empty() {
        return Err(ApiError(DomainError::unauthenticated(
            "INVALID_AUTH_TYPE",
            "Invalid authentication type",
        )));
    }
    if token.is_empty() {
        return Err(ApiError(DomainError::unauthenticated(
            "INVALID_TOKEN",
            "Invalid token",
        )));
    }
    Ok(token.to_owned())
}

fn authenticate(
    req: &HttpRequest,
    any_scheme: bool,
) -> LocalBoxFuture<'static, Result<Principal, ApiError>> {
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let token = token(req, any_scheme);
    Box::pin(async move {
        let token = token?;
        let state = state.ok_or_else(internal)?;
        Ok(state.auth.authenticate(&token).await?)
    })
}

impl FromRequest for AuthUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let fut = authenticate(req, false);
        Box::pin(async move { fut.await.map(AuthUser) })
    }
}

impl FromRequest for SyncUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let fut = authenticate(req, true);
        Box::pin(async move { fut.await.map(SyncUser) })
    }
}

impl FromRequest for AdminUser {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let fut = authenticate(req, false);
        Box::pin(async move {
            let who = fut.await?;
            who.require_admin()?;
            Ok(AdminUser(who))
        })
    }
}

impl FromRequest for SessionApp {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let sid = req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned());
        Box::pin(async move {
            let state = state.ok_or_else(internal)?;
            Ok(SessionApp(state.users_api.session(sid.as_deref()).await?))
        })
    }
}

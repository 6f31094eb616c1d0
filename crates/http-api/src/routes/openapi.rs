//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations and the
//! response types' `ToSchema` derives. `openapi/openapi.json` is this document, committed;
//! a test fails when the two drift apart (`just openapi` rewrites the file).

use super::{accounts, apps, health, sync, users_api};
use crate::error::ErrorBody;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

/// The whole HTTP API: sync hub routes and the Users API.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "DataCollect sync hub",
        description = "Sync server for offline-first field data collection, wire-compatible \
                       with the ID PASS DataCollect backend, plus the Users API. Errors always \
                       have the `ErrorBody` shape. On every route, a URL holding an encoded \
                       NUL character (`%00`) is refused with 400 `INVALID_URL`, and a refused \
                       CORS request with 400 `CORS_REJECTED`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    paths(
        health::health,
        health::ready,
        health::server_info,
        health::metrics,
        accounts::login,
        accounts::refresh,
        accounts::logout,
        accounts::check_token,
        accounts::me,
        accounts::list,
        accounts::create,
        accounts::update,
        accounts::delete,
        apps::list,
        apps::create,
        apps::get,
        apps::update,
        apps::delete,
        apps::restore,
        apps::public_info,
        apps::artifact,
        sync::push,
        sync::pull,
        sync::pull_callback,
        sync::push_audit,
        sync::pull_audit,
        sync::rejected,
        sync::entities,
        sync::count,
        sync::count_by_form,
        sync::search,
        sync::entity,
        sync::members,
        sync::entity_events,
        sync::events,
        sync::duplicates,
        sync::resolve,
        users_api::upsert,
        users_api::schema,
        users_api::login,
        users_api::logout,
        users_api::session,
        users_api::app_users,
        users_api::list_apps,
        users_api::create_app,
        users_api::delete_app,
        users_api::get_schema,
        users_api::put_schema,
        users_api::admin_users,
    ),
    components(schemas(ErrorBody)),
    modifiers(&SecuritySchemes, &CommonResponses),
    tags(
        (name = "health", description = "Liveness, readiness, server facts, metrics"),
        (name = "accounts", description = "Login, tokens and server accounts"),
        (name = "configs", description = "Program configs (tenants) and their public artifacts"),
        (name = "sync", description = "Push and pull of events, audit logs, quarantine"),
        (name = "entities", description = "Entity state, events and potential duplicates"),
        (name = "users-api", description = "The Users API: sign-up upsert, schemas, cookie sessions"),
    )
)]
pub struct ApiDoc;

/// The document as pretty-printed JSON with a final newline, exactly as committed.
pub fn document_json() -> String {
    let mut text = ApiDoc::openapi().to_pretty_json().unwrap_or_default();
    text.push('\n');
    text
}

/// `bearer` (JWT access token), `session` (the Users-API `sid` cookie) and `appId` (the
/// `x-app-id` header of the public Users-API routes).
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("sid"))),
        );
        components.add_security_scheme(
            "appId",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("x-app-id"))),
        );
    }
}

/// What every operation shares, added once here instead of on each handler: an operation id
/// prefixed with its tag, 500 on any route, and 401 on routes that need a token or a session.
struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, doc: &mut Document) {
        let error = |text: &str| {
            RefOr::T(
                ResponseBuilder::new()
                    .description(text)
                    .content(
                        "application/json",
                        utoipa::openapi::ContentBuilder::new()
                            .schema(Some(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
                                "ErrorBody",
                            ))))
                            .build(),
                    )
                    .build(),
            )
        };
        for item in doc.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                // Handler names repeat across areas (`login`, `list`…); ids must not.
                if let (Some(tag), Some(id)) = (
                    operation.tags.as_ref().and_then(|t| t.first()),
                    operation.operation_id.as_mut(),
                ) {
                    *id = format!("{}_{id}", tag.replace('-', "_"));
                }
                let secured = operation
                    .security
                    .as_ref()
                    .is_some_and(|s| s.iter().any(|r| !is_app_id(r)));
                let responses = &mut operation.responses.responses;
                if secured {
                    responses
                        .entry("401".into())
                        .or_insert_with(|| error("AUTH_HEADER_MISSING or INVALID_TOKEN (bearer), NOT_AUTHENTICATED (session): missing, invalid or expired credentials"));
                }
                responses
                    .entry("500".into())
                    .or_insert_with(|| error("INTERNAL (the cause is logged, never returned)"));
            }
        }
    }
}

/// Whether a security requirement is the public `x-app-id` header (no credentials).
fn is_app_id(requirement: &utoipa::openapi::security::SecurityRequirement) -> bool {
    serde_json::to_value(requirement)
        .ok()
        .and_then(|v| v.as_object().map(|o| o.contains_key("appId")))
        .unwrap_or(false)
}

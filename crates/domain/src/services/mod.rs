//! Use-case services: what the HTTP handlers call. Each one receives its ports as
//! `Arc<dyn Port>` and holds every business rule of its routes.

pub mod auth;
pub mod configs;
pub mod context;
mod credentials;
pub mod entities;
mod housekeeping;
mod login_limit;
pub mod sync;
pub mod user_admin;
pub mod users_api;

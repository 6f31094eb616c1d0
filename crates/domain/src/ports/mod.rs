//! Ports: the traits adapters implement. Every method documents its guarantees and errors;
//! each clause has a conformance test of the same name in the `store-tests` crate.
//!
//! All async ports are object safe (`Arc<dyn Port>`), `Send + Sync`.

mod accounts;
mod audit;
mod configs;
mod entities;
mod external;
mod sync;
mod system;
mod tx;
mod users_api;

pub use accounts::*;
pub use audit::*;
pub use configs::*;
pub use entities::*;
pub use external::*;
pub use sync::*;
pub use system::*;
pub use tx::*;
pub use users_api::*;

use std::sync::Arc;

/// Every storage port of one backend, as the server wires them (one adapter usually
/// implements them all on one pool).
#[derive(Clone)]
pub struct Stores {
    /// Events, pull and quarantine.
    pub events: Arc<dyn EventStore>,
    /// Entity queries and duplicates.
    pub entities: Arc<dyn EntityStore>,
    /// Program configs (tenants).
    pub configs: Arc<dyn ConfigStore>,
    /// Server accounts.
    pub users: Arc<dyn UserStore>,
    /// Refresh tokens.
    pub refresh_tokens: Arc<dyn RefreshTokenStore>,
    /// Failed-login counters.
    pub login_throttle: Arc<dyn LoginThrottleStore>,
    /// Client audit logs.
    pub audit: Arc<dyn AuditStore>,
    /// Users API.
    pub users_api: Arc<dyn UsersApiStore>,
}

impl Stores {
    /// Bundles one adapter value that implements every storage port.
    pub fn from_one<S>(store: Arc<S>) -> Self
    where
        S: EventStore
            + EntityStore
            + ConfigStore
            + UserStore
            + RefreshTokenStore
            + LoginThrottleStore
            + AuditStore
            + UsersApiStore
            + 'static,
    {
        Stores {
            events: store.clone(),
            entities: store.clone(),
            configs: store.clone(),
            users: store.clone(),
            refresh_tokens: store.clone(),
            login_throttle: store.clone(),
            audit: store.clone(),
            users_api: store,
        }
    }
}

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

//! Failures inside blocking database closures, and their mapping to [`StoreError`] at the
//! port boundary: unique violation → `Conflict`, missing parent row → `NotFound`, lost
//! connection / pool timeout / serialization failure → `Unavailable`, the rest → `Internal`.

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use domain::error::StoreError;

/// A failure inside a database closure: a diesel error (classified at the boundary) or an
/// already classified store error. `From<diesel::result::Error>` lets diesel transactions
/// use it as their error type.
#[derive(Debug)]
pub(crate) enum Fail {
    /// A diesel error.
    Db(DieselError),
    /// A classified error.
    Store(StoreError),
}

impl From<DieselError> for Fail {
    fn from(e: DieselError) -> Self {
        Fail::Db(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

impl From<serde_json::Error> for Fail {
    fn from(e: serde_json::Error) -> Self {
        Fail::Store(StoreError::internal(e))
    }
}

impl Fail {
    /// The port-level error.
    pub(crate) fn into_store(self) -> StoreError {
        match self {
            Fail::Db(e) => store_error(e),
            Fail::Store(e) => e,
        }
    }

    /// A stored value that cannot be read back (corrupt row).
    pub(crate) fn corrupt(what: &'static str) -> Self {
        Fail::Store(StoreError::internal(format!(
            "corrupt stored value: {what}"
        )))
    }
}

/// Classifies a diesel error.
pub(crate) fn store_error(e: DieselError) -> StoreError {
    match e {
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info) => {
            // Name the constraint only: PostgreSQL's detail text would contain the values.
            StoreError::Conflict(
                info.constraint_name()
                    .map_or_else(|| "unique constraint".to_owned(), str::to_owned),
            )
        }
        DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
            StoreError::NotFound
        }
        // A connection that died (server restart, terminated backend, network loss), or a
        // transaction PostgreSQL aborted to resolve a conflict: retrying may succeed.
        DieselError::DatabaseError(
            DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::SerializationFailure,
            _,
        )
        | DieselError::BrokenTransactionManager => StoreError::unavailable(e),
        DieselError::DatabaseError(_, ref info) if is_unavailable(info.message()) => {
            StoreError::unavailable(e)
        }
        other => StoreError::internal(other),
    }
}

/// Messages of failures that mean the server went away, as libpq and PostgreSQL word them
/// (a deadlock is resolved by aborting one transaction, which may simply be retried), or
/// that it cannot work right now (disk full, out of memory, a statement cancelled).
fn is_unavailable(message: &str) -> bool {
    [
        "server closed the connection",
        "terminating connection",
        "no connection to the server",
        "could not receive data from server",
        "could not send data to server",
        "the database system is shutting down",
        "the database system is starting up",
        "deadlock detected",
        "No space left on device",
        "out of memory",
        "canceling statement due to",
    ]
    .iter()
    .any(|m| message.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_errors() {
        assert!(matches!(
            store_error(DieselError::NotFound),
            StoreError::Internal(_)
        ));
        assert!(matches!(
            store_error(DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection,
                Box::new("gone".to_owned())
            )),
            StoreError::Unavailable(_)
        ));
        assert!(matches!(
            store_error(DieselError::DatabaseError(
                DatabaseErrorKind::ForeignKeyViolation,
                Box::new("fk".to_owned())
            )),
            StoreError::NotFound
        ));
        assert!(matches!(
            store_error(DieselError::DatabaseError(
                DatabaseErrorKind::UniqueViolation,
                Box::new("dup".to_owned())
            )),
            StoreError::Conflict(_)
        ));
        assert!(matches!(
            store_error(DieselError::DatabaseError(
                DatabaseErrorKind::Unknown,
                Box::new("FATAL: terminating connection due to administrator command".to_owned())
            )),
            StoreError::Unavailable(_)
        ));
        assert!(is_unavailable("server closed the connection unexpectedly"));
        for retriable in [
            "could not extend file \"base/1/2\": No space left on device",
            "canceling statement due to statement timeout",
            "out of memory",
        ] {
            assert!(is_unavailable(retriable), "{retriable}");
        }
        assert!(!is_unavailable("relation \"x\" does not exist"));
        assert!(matches!(
            Fail::corrupt("x").into_store(),
            StoreError::Internal(_)
        ));
    }
}

//! Failures inside blocking database closures, and their mapping to [`StoreError`] at the
//! port boundary (unique violation → `Conflict`, missing parent row → `NotFound`, locked
//! database or pool timeout → `Unavailable`, the rest → `Internal`).

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use domain::error::StoreError;

/// A failure inside a database closure: a diesel error (classified at the boundary) or an
/// already classified store error. Implements `From<diesel::result::Error>` so diesel
/// transactions can use it.
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
            // SQLite's message names the constraint's columns, never the values.
            StoreError::Conflict(info.message().to_owned())
        }
        DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _) => {
            StoreError::NotFound
        }
        DieselError::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => {
            StoreError::unavailable(e)
        }
        DieselError::DatabaseError(_, ref info) if is_unavailable(info.message()) => {
            StoreError::unavailable(e)
        }
        other => StoreError::internal(other),
    }
}

/// SQLITE_BUSY / SQLITE_LOCKED after the busy timeout (another writer held the database),
/// SQLITE_FULL and SQLITE_IOERR (the disk is full or failing): storage that may work again
/// later, answered 503 rather than as a server fault.
fn is_unavailable(message: &str) -> bool {
    [
        "database is locked",
        "database is busy",
        "database table is locked",
        "database or disk is full",
        "disk I/O error",
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
        assert!(is_unavailable("database is locked"));
        assert!(is_unavailable("database or disk is full"));
        assert!(is_unavailable("disk I/O error"));
        assert!(!is_unavailable("no such table: x"));
        assert!(matches!(
            Fail::corrupt("x").into_store(),
            StoreError::Internal(_)
        ));
    }
}

//! Integration tests: the real server on port 0, spoken to over HTTP, on SQLite and on
//! PostgreSQL (one test binary, ARCHITECTURE convention 11).
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod access;
mod accounts;
mod apps;
mod harness;
mod openapi;
mod sync;
mod users_api;
mod users_api_rules;

/// Runs an `async fn(&TestServer)` scenario once per backend (the in-memory fake too, so
/// the fake meets the same contract as the real stores).
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let server = $crate::harness::TestServer::start($crate::harness::Backend::Memory).await.unwrap();
                    super::$name(&server).await;
                }
            )*
        }
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let server = $crate::harness::TestServer::start($crate::harness::Backend::Sqlite).await.unwrap();
                    super::$name(&server).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(server) = $crate::harness::TestServer::start($crate::harness::Backend::Postgres).await {
                        super::$name(&server).await;
                    }
                }
            )*
        }
    };
}

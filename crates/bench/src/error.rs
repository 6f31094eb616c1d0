//! Errors of the benchmark tool.

/// Anything that stops a scenario (per-request failures are counted, not raised).
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Transport failure (connect, timeout, reset…).
    #[error("http: {0}")]
    Http(#[from] reqwest::Error),
    /// A non-200 answer.
    #[error("{what}: HTTP {status}: {body}")]
    Status {
        /// Which call.
        what: &'static str,
        /// The status code.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// An answer of the wrong shape.
    #[error("protocol: {0}")]
    Protocol(String),
    /// JSON encoding.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    /// Local IO (report file).
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// Bad command-line input.
    #[error("{0}")]
    Usage(String),
}

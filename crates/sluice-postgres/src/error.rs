//! The errors of the queue and its workers.

/// What went wrong talking to the queue.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL could not be parsed; shown without its password.
    #[error("invalid database url {url}: {reason}")]
    BadUrl {
        /// The URL, password replaced by `***`.
        url: String,
        /// What was wrong with it.
        reason: String,
    },
    /// The server could not be reached or refused the connection.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The URL, password replaced by `***`.
        url: String,
        /// The client's error.
        #[source]
        source: tokio_postgres::Error,
    },
    /// A statement failed.
    #[error("database error: {0}")]
    Database(#[from] tokio_postgres::Error),
    /// No connection could be taken from the pool.
    #[error("no database connection: {0}")]
    Pool(String),
    /// Applying an embedded migration failed.
    #[error("migration {version} ({name}) failed: {source}")]
    Migration {
        /// The migration's version.
        version: i32,
        /// Its file name.
        name: &'static str,
        /// The server's answer.
        #[source]
        source: tokio_postgres::Error,
    },
    /// A task's payload could not be serialized.
    #[error("payload of a `{kind}` task does not serialize: {source}")]
    Serialize {
        /// The task's kind.
        kind: String,
        /// Serde's error.
        #[source]
        source: serde_json::Error,
    },
    /// A task or setting was refused before anything was written.
    #[error("invalid {what}: {reason}")]
    Invalid {
        /// What was refused (a task, a worker setting).
        what: &'static str,
        /// Why.
        reason: String,
    },
}

impl From<deadpool_postgres::PoolError> for Error {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        match error {
            deadpool_postgres::PoolError::Backend(source) => Error::Database(source),
            other => Error::Pool(other.to_string()),
        }
    }
}

/// The result of queue operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

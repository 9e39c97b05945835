//! [`Queue`]: the connection pool to the queue's database, and the producer's side.

use crate::error::{Error, Result};
use crate::migrate::migrate;
use crate::redact::redact_url;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio_postgres::NoTls;

/// How long connecting may take before it is an error (unless the URL sets its own).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connections in the pool unless [`Queue::connect_with`] says otherwise.
const DEFAULT_POOL_SIZE: usize = 16;

/// A handle on one named queue in a PostgreSQL database: enqueue tasks, cancel them,
/// re-queue dead ones, read the status; and the pool that [`Worker`](crate::Worker)s
/// claim through. Cheap to clone; clones share the pool.
///
/// # Examples
///
/// ```no_run
/// use sluice_postgres::{NewTask, Queue};
///
/// # async fn demo() -> Result<(), sluice_postgres::Error> {
/// let queue = Queue::connect("postgresql://app@db.internal/jobs").await?;
/// let id = queue.enqueue(NewTask::new("resize", &("a.png", 640))?).await?;
/// assert!(id.is_some());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Queue {
    /// The pool every statement but LISTEN goes through.
    pub(crate) pool: Pool,
    /// The parsed URL, for the listener's own connection.
    pub(crate) config: Arc<tokio_postgres::Config>,
    /// The URL without its password, for messages.
    pub(crate) url: Arc<str>,
    /// This queue's name (`default` unless [`Queue::named`]).
    pub(crate) name: Arc<str>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("url", &self.url)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Queue {
    /// Connects to the database at `url` (`postgresql://user:password@host/db` or
    /// `host=… user=…`), checks that it answers, and applies the schema's migrations.
    /// An unreachable server is an error naming the URL without its password.
    pub async fn connect(url: &str) -> Result<Queue> {
        Queue::connect_with(url, DEFAULT_POOL_SIZE).await
    }

    /// As [`Queue::connect`], with at most `pool_size` connections.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), sluice_postgres::Error> {
    /// let queue = sluice_postgres::Queue::connect_with("host=/run/postgresql dbname=jobs", 4).await?;
    /// # drop(queue);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect_with(url: &str, pool_size: usize) -> Result<Queue> {
        let shown = redact_url(url);
        let mut config = tokio_postgres::Config::from_str(url).map_err(|error| Error::BadUrl {
            url: shown.clone(),
            reason: error.to_string(),
        })?;
        if pool_size == 0 {
            return Err(Error::Invalid {
                what: "pool size",
                reason: "a pool needs at least one connection".into(),
            });
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .build()
            .map_err(|error| Error::Pool(error.to_string()))?;
        let mut client = pool.get().await.map_err(|error| match error {
            deadpool_postgres::PoolError::Backend(source) => Error::Connect {
                url: shown.clone(),
                source,
            },
            other => Error::Pool(other.to_string()),
        })?;
        migrate(&mut client).await?;
        tracing::debug!(url = %shown, "sluice-postgres: connected");
        Ok(Queue {
            pool,
            config: Arc::new(config),
            url: shown.into(),
            name: "default".into(),
        })
    }

    /// The same database and pool, for the queue called `name`. Queues are separate:
    /// a worker claims from its own queue only.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # async fn demo(queue: sluice_postgres::Queue) {
    /// let mail = queue.named("mail");
    /// assert_eq!(mail.name(), "mail");
    /// # }
    /// ```
    pub fn named(&self, name: impl Into<String>) -> Queue {
        Queue {
            name: name.into().into(),
            ..self.clone()
        }
    }

    /// This queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The database URL, without its password.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// A connection from the pool.
    pub(crate) async fn client(&self) -> Result<deadpool_postgres::Object> {
        Ok(self.pool.get().await?)
    }
}

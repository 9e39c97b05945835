//! The embedded schema migrations, applied in order under an advisory lock.

use crate::error::{Error, Result};
use crate::queries::MIGRATION_LOCK;

/// Every migration, in order: (version, file name, SQL).
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (
        1,
        "0001_init.sql",
        include_str!("../migrations/0001_init.sql"),
    ),
    (
        2,
        "0002_bytes_payload.sql",
        include_str!("../migrations/0002_bytes_payload.sql"),
    ),
    (
        3,
        "0003_chain_heads.sql",
        include_str!("../migrations/0003_chain_heads.sql"),
    ),
];

/// Applies the migrations this database lacks, each recorded in `sluice_migrations`,
/// all in one transaction under an advisory lock: concurrent workers starting together
/// wait for one of them to migrate. Answers the versions applied now.
pub(crate) async fn migrate(client: &mut tokio_postgres::Client) -> Result<Vec<i32>> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS sluice_migrations (
             version    integer     PRIMARY KEY,
             name       text        NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await?;
    let applied: Vec<i32> = tx
        .query("SELECT version FROM sluice_migrations", &[])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    let mut now_applied = Vec::new();
    for &(version, name, sql) in MIGRATIONS {
        if applied.contains(&version) {
            continue;
        }
        let failed = |source| Error::Migration {
            version,
            name,
            source,
        };
        tx.batch_execute(sql).await.map_err(failed)?;
        tx.execute(
            "INSERT INTO sluice_migrations (version, name) VALUES ($1, $2)",
            &[&version, &name],
        )
        .await
        .map_err(failed)?;
        tracing::info!(version, name, "sluice-postgres: migration applied");
        now_applied.push(version);
    }
    tx.commit().await?;
    Ok(now_applied)
}

//! The catalog's record of queue runs: the token each snapshot was enqueued with (so
//! that a worker knows the batch is for its store) and each finished batch's outcome,
//! written after the batch's files so that "done" always means "recorded".

use super::outcome::BatchOutcome;
use crate::store::catalog::{Catalog, CatalogError};
use rusqlite::{OptionalExtension, TransactionBehavior, params};

/// Tables of their own, created on first use: a store never ingested through a queue
/// has none, and the catalog's schema version is unchanged.
const TABLES: &str = "
CREATE TABLE IF NOT EXISTS queue_runs (
    snapshot INTEGER PRIMARY KEY REFERENCES snapshots(id),
    token TEXT NOT NULL,
    batches INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS queue_batches (
    snapshot INTEGER NOT NULL REFERENCES snapshots(id),
    number INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    PRIMARY KEY (snapshot, number)
);
";

/// Creates the tables if they are missing.
pub(crate) fn ensure_tables(catalog: &Catalog) -> Result<(), CatalogError> {
    catalog.db.execute_batch(TABLES)?;
    Ok(())
}

/// Records that `snapshot` is enqueued as `batches` batches under `token`.
pub(crate) fn begin_run(
    catalog: &Catalog,
    snapshot: i64,
    token: &str,
    batches: u32,
) -> Result<(), CatalogError> {
    ensure_tables(catalog)?;
    catalog.db.execute(
        "INSERT OR REPLACE INTO queue_runs (snapshot, token, batches) VALUES (?1, ?2, ?3)",
        params![snapshot, token, batches],
    )?;
    Ok(())
}

/// The token `snapshot` was enqueued under, if it was.
pub(crate) fn run_token(catalog: &Catalog, snapshot: i64) -> Result<Option<String>, CatalogError> {
    ensure_tables(catalog)?;
    Ok(catalog
        .db
        .query_row(
            "SELECT token FROM queue_runs WHERE snapshot = ?1",
            params![snapshot],
            |row| row.get(0),
        )
        .optional()?)
}

/// Records batch `number` of `snapshot` as done with `outcome` (a batch redone after
/// its worker died replaces the first record).
pub(crate) fn record_batch(
    catalog: &mut Catalog,
    snapshot: i64,
    number: u32,
    outcome: &BatchOutcome,
) -> Result<(), CatalogError> {
    let json = serde_json::to_string(outcome)
        .map_err(|error| CatalogError::Damaged(format!("batch outcome: {error}")))?;
    let tx = catalog
        .db
        .transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute(
        "INSERT OR REPLACE INTO queue_batches (snapshot, number, outcome) VALUES (?1, ?2, ?3)",
        params![snapshot, number, json],
    )?;
    tx.commit()?;
    Ok(())
}

/// The numbers of the batches of `snapshot` recorded as done.
pub(crate) fn done(catalog: &Catalog, snapshot: i64) -> Result<Vec<u32>, CatalogError> {
    let mut query = catalog
        .db
        .prepare_cached("SELECT number FROM queue_batches WHERE snapshot = ?1")?;
    let rows = query.query_map(params![snapshot], |row| row.get::<_, u32>(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The outcomes of the batches of `snapshot` recorded as done.
pub(crate) fn outcomes(
    catalog: &Catalog,
    snapshot: i64,
) -> Result<Vec<BatchOutcome>, CatalogError> {
    let mut query = catalog
        .db
        .prepare_cached("SELECT outcome FROM queue_batches WHERE snapshot = ?1")?;
    let rows = query.query_map(params![snapshot], |row| row.get::<_, String>(0))?;
    let mut outcomes = Vec::new();
    for json in rows {
        let outcome = serde_json::from_str(&json?)
            .map_err(|error| CatalogError::Damaged(format!("batch outcome: {error}")))?;
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

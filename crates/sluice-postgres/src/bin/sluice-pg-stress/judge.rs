//! The judge: reads the database after a stress run and counts every violation of
//! the queue's promises.

use std::fmt::Write as _;
use tokio_postgres::Client;

/// The run log the workers write, one row per run started.
pub const SCHEMA: &str = "
CREATE TABLE stress_run (
    id      bigserial   PRIMARY KEY,
    task_id bigint      NOT NULL,
    attempt integer     NOT NULL,
    key     text,
    seq     integer     NOT NULL,
    worker  text        NOT NULL,
    at      timestamptz NOT NULL DEFAULT now()
)";

/// Each check: its name, and a query answering how many violations it found.
const CHECKS: &[(&str, &str)] = &[
    (
        "tasks still live (lost or stuck)",
        "SELECT count(*) FROM sluice_task",
    ),
    (
        "tasks ending in the wrong state (dead unless planned, or a planned death completed)",
        "SELECT count(*) FROM sluice_task_done
         WHERE state <> CASE payload->>'fail' WHEN 'dead' THEN 'dead' ELSE 'completed' END",
    ),
    (
        "planned retries that completed without a failed attempt recorded",
        "SELECT count(*) FROM sluice_task_done
         WHERE payload->>'fail' = 'retry_once' AND state = 'completed'
           AND jsonb_array_length(errors) = 0",
    ),
    (
        "attempts run by two owners (duplicate claims)",
        "SELECT count(*) FROM (SELECT task_id, attempt FROM stress_run
                               GROUP BY task_id, attempt HAVING count(*) > 1) d",
    ),
    (
        "per-key order: a task finished before an earlier task of its key",
        "SELECT count(*) FROM (
             SELECT finished_at, lag(finished_at) OVER (
                 PARTITION BY key ORDER BY (payload->>'seq')::int) AS before
             FROM sluice_task_done WHERE key IS NOT NULL) f
         WHERE finished_at <= before",
    ),
    (
        "per-key order: a run started before the previous task of its key finished",
        "SELECT count(*) FROM stress_run r JOIN sluice_task_done p
             ON p.key = r.key AND (p.payload->>'seq')::int = r.seq - 1
         WHERE r.at <= p.finished_at",
    ),
];

/// What the judge found.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Tasks finished (completed, dead) as the history holds them.
    pub completed: i64,
    /// See `completed`.
    pub dead: i64,
    /// Runs logged (every attempt that started its body).
    pub runs: i64,
    /// Violations by check.
    pub violations: Vec<(&'static str, i64)>,
}

impl Verdict {
    /// Whether every check found nothing and the counts equal what was enqueued.
    pub fn clean(&self, expected_completed: i64, expected_dead: i64) -> bool {
        self.violations.iter().all(|(_, n)| *n == 0)
            && self.completed == expected_completed
            && self.dead == expected_dead
    }

    /// One line per figure.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "finished: {} completed, {} dead; {} runs logged\n",
            self.completed, self.dead, self.runs
        );
        for (name, n) in &self.violations {
            let _ = writeln!(out, "{n:>8}  {name}");
        }
        out
    }
}

/// Runs every check.
pub async fn judge(client: &Client) -> Result<Verdict, tokio_postgres::Error> {
    let count = |sql: &'static str| async move {
        client
            .query_one(sql, &[])
            .await
            .map(|row| row.get::<_, i64>(0))
    };
    let mut verdict = Verdict {
        completed: count("SELECT count(*) FROM sluice_task_done WHERE state = 'completed'").await?,
        dead: count("SELECT count(*) FROM sluice_task_done WHERE state = 'dead'").await?,
        runs: count("SELECT count(*) FROM stress_run").await?,
        violations: Vec::new(),
    };
    for &(name, sql) in CHECKS {
        verdict.violations.push((name, count(sql).await?));
    }
    Ok(verdict)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_postgres::testing::TestServer;

    /// Every check can fire: a database with one violation of each kind.
    #[tokio::test]
    async fn each_check_counts_its_violation() {
        let server = TestServer::shared().expect("a throwaway PostgreSQL server");
        let url = server.fresh_database().await.expect("a fresh database");
        sluice_postgres::Queue::connect_with(&url, 1)
            .await
            .expect("the schema");
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .expect("a connection");
        tokio::spawn(connection);
        client.batch_execute(SCHEMA).await.expect("the run log");
        client
            .batch_execute(
                "INSERT INTO sluice_task (queue, kind, payload) VALUES ('q', 'stress', '{}');
                 INSERT INTO sluice_task_done (id, queue, kind, key, payload, state, priority,
                     attempt, max_attempts, errors, created_at, finished_at)
                 VALUES
                 (1, 'q', 'stress', 'k', '{\"seq\": 0, \"fail\": \"none\"}', 'completed', 0,
                  1, 5, '[]', now(), now()),
                 (2, 'q', 'stress', 'k', '{\"seq\": 1, \"fail\": \"retry_once\"}', 'completed',
                  0, 1, 5, '[]', now(), now() - interval '1 s'),
                 (3, 'q', 'stress', 'j', '{\"seq\": 0, \"fail\": \"none\"}', 'dead', 0,
                  1, 5, '[]', now(), now());
                 INSERT INTO stress_run (task_id, attempt, key, seq, worker, at) VALUES
                 (2, 1, 'k', 1, 'a', now() - interval '1 hour'),
                 (2, 1, 'k', 1, 'b', now() - interval '1 hour');",
            )
            .await
            .expect("violations");
        let verdict = judge(&client).await.expect("judged");
        for (name, n) in &verdict.violations {
            assert!(*n >= 1, "`{name}` found nothing:\n{}", verdict.describe());
        }
        assert!(!verdict.clean(2, 1));
    }
}

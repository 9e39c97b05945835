//! Every statement the queue runs, named, in one place (as River keeps its
//! `queries.sql`): a reader sees the whole protocol here.
//!
//! Fencing: a worker's result is written only `WHERE id = $id AND attempt = $attempt
//! AND lease_owner = $owner AND state = 'running'`; a row not matched is a late result
//! of a worker that lost its lease, refused and counted. The attempt only grows, so a
//! task claimed again never matches an older run's result.
//!
//! Per-key order: only a chain's head (its oldest live task) is claimable. A head
//! leaves the hot table when it finishes, and the next task of its chain is promoted
//! in the same transaction, under the chain's advisory lock; enqueue takes the same
//! lock, so a new task and a leaving head never miss each other.

/// The channel that enqueue notifies (the payload is the queue's name).
pub(crate) const CHANNEL: &str = "sluice_task";

/// Serializes migrations of concurrent workers (an arbitrary constant: "sluice01").
pub(crate) const MIGRATION_LOCK: i64 = 0x736c_7569_6365_3031;

/// Held by the maintenance leader for as long as its connection lives ("sluicemt").
pub(crate) const LEADER_LOCK: i64 = 0x736c_7569_6365_6d74;

/// Takes the advisory locks of chains `($1[i], $2[i])` in one order, so that two
/// transactions never wait for each other in a cycle.
pub const LOCK_CHAINS: &str = "\
SELECT pg_advisory_xact_lock(h) FROM (
    SELECT DISTINCT hashtextextended(q || chr(31) || k, 0) AS h
    FROM unnest($1::text[], $2::text[]) AS u(q, k) ORDER BY h) s";

/// Marks the oldest live task of each chain `($1[i], $2[i])` as its head.
pub const PROMOTE_HEADS: &str = "\
UPDATE sluice_task SET is_head = true
WHERE NOT is_head AND id IN (
    SELECT h.id FROM unnest($1::text[], $2::text[]) AS u(q, k),
    LATERAL (SELECT id FROM sluice_task t WHERE t.queue = u.q AND t.fifo_key = u.k
             ORDER BY t.id LIMIT 1) h)";

/// Inserts a batch of tasks into queue `$1`, in input order; a unique key already live
/// in the queue is skipped. Heads are promoted afterwards ([`PROMOTE_HEADS`]).
pub const ENQUEUE: &str = "\
INSERT INTO sluice_task (queue, kind, key, fifo_key, payload, priority, run_at,
                         max_attempts, timeout_ms, unique_key, payload_bytes)
SELECT $1, u.kind, u.key, u.fifo_key, u.payload, u.priority,
       now() + u.delay_ms * interval '1 millisecond', u.max_attempts, u.timeout_ms,
       u.unique_key, u.payload_bytes
FROM unnest($2::text[], $3::text[], $4::text[], $5::jsonb[], $6::int2[], $7::int8[],
            $8::int4[], $9::int8[], $10::text[], $11::bytea[])
     WITH ORDINALITY AS u(kind, key, fifo_key, payload, priority, delay_ms,
                          max_attempts, timeout_ms, unique_key, payload_bytes, ord)
ORDER BY u.ord
ON CONFLICT (queue, unique_key) WHERE unique_key IS NOT NULL DO NOTHING
RETURNING id, unique_key";

/// Wakes the listeners of every worker (`$1`: the queue).
pub const NOTIFY: &str = "SELECT pg_notify('sluice_task', $1)";

/// Claims up to `$5` ready tasks of kinds `$4` in queue `$3` for owner `$1`, with a
/// lease of `$2` ms. Locked rows are skipped: never two owners of one task. A task
/// whose cancel was asked while it ran and that came back to pending is claimed too,
/// and recorded as cancelled without running.
pub const CLAIM: &str = "\
UPDATE sluice_task SET state = 'running', lease_owner = $1,
       lease_until = now() + $2::int8 * interval '1 millisecond', attempt = attempt + 1
WHERE state = 'pending' AND id = ANY(ARRAY(
    SELECT id FROM sluice_task
    WHERE queue = $3 AND state = 'pending' AND (fifo_key IS NULL OR is_head)
      AND run_at <= now() AND kind = ANY($4::text[])
    ORDER BY priority DESC, run_at, id
    LIMIT $5 FOR UPDATE SKIP LOCKED))
RETURNING id, kind, key, payload, attempt, max_attempts, timeout_ms, priority,
          cancel_requested, payload_bytes";

/// Ends tasks `$1` (attempts `$2`) of owner `$5` in states `$3` ('completed', 'dead',
/// 'cancelled'), appending errors `$4`; moves them to the history. Returns the rows
/// that matched (the others were fenced off) and their chains.
pub const FINISH: &str = "\
WITH done AS (
    DELETE FROM sluice_task t
    USING unnest($1::int8[], $2::int4[], $3::text[], $4::jsonb[]) AS f(id, attempt, state, err)
    WHERE t.id = f.id AND t.attempt = f.attempt AND t.state = 'running'
      AND t.lease_owner = $5
    RETURNING t.*, f.state AS final_state, f.err AS final_err
), moved AS (
    INSERT INTO sluice_task_done (id, queue, kind, key, fifo_key, payload, state, priority,
                                  attempt, max_attempts, timeout_ms, lease_owner, errors,
                                  created_at, payload_bytes)
    SELECT id, queue, kind, key, fifo_key, payload, final_state, priority, attempt,
           max_attempts, timeout_ms, lease_owner,
           errors || COALESCE(final_err, '[]'::jsonb), created_at, payload_bytes
    FROM done
)
SELECT id, queue, fifo_key FROM done";

/// Puts tasks `$1` (attempts `$2`) of owner `$6` back to pending after `$3` ms,
/// appending errors `$4`; where `$5` (a snooze or a hand-back) the attempt does not
/// count against `max_attempts`. A head stays head: its chain waits for it.
pub(crate) const RELEASE: &str = "\
UPDATE sluice_task t SET state = 'pending', lease_owner = NULL, lease_until = NULL,
       run_at = now() + f.delay_ms * interval '1 millisecond',
       max_attempts = t.max_attempts + CASE WHEN f.free THEN 1 ELSE 0 END,
       errors = t.errors || COALESCE(f.err, '[]'::jsonb)
FROM unnest($1::int8[], $2::int4[], $3::int8[], $4::jsonb[], $5::bool[])
     AS f(id, attempt, delay_ms, err, free)
WHERE t.id = f.id AND t.attempt = f.attempt AND t.state = 'running'
  AND t.lease_owner = $6
RETURNING t.id";

/// Extends the leases of tasks `$1` held by owner `$2` by `$3` ms; answers which are
/// still held, and whether someone asked to cancel them.
pub(crate) const HEARTBEAT: &str = "\
UPDATE sluice_task SET lease_until = now() + $3::int8 * interval '1 millisecond'
WHERE id = ANY($1::int8[]) AND lease_owner = $2 AND state = 'running'
RETURNING id, cancel_requested";

/// Records that worker `$1` of queue `$2` is alive.
pub(crate) const WORKER_ALIVE: &str = "\
INSERT INTO sluice_worker (id, queue) VALUES ($1, $2)
ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()";

/// Removes worker `$1` at a clean stop.
pub(crate) const WORKER_GONE: &str = "DELETE FROM sluice_worker WHERE id = $1";

/// Takes the maintenance leadership if nobody holds it.
pub(crate) const TRY_LEAD: &str = "SELECT pg_try_advisory_lock($1)";

/// Gives up to `$1` expired leases back to pending (the owner is gone or stuck).
pub(crate) const RESCUE: &str = "\
WITH expired AS (
    SELECT id FROM sluice_task WHERE state = 'running' AND lease_until < now()
    ORDER BY lease_until LIMIT $1 FOR UPDATE SKIP LOCKED)
UPDATE sluice_task t SET state = 'pending', lease_owner = NULL, lease_until = NULL,
       run_at = now(),
       errors = t.errors || jsonb_build_object('attempt', t.attempt, 'at', now(),
                                               'error', 'lease expired',
                                               'worker', t.lease_owner)
FROM expired e WHERE t.id = e.id
RETURNING t.id";

/// Deletes up to `$3` finished tasks in state `$1` older than `$2` ms.
pub(crate) const PURGE_DONE: &str = "\
DELETE FROM sluice_task_done WHERE id IN (
    SELECT id FROM sluice_task_done
    WHERE state = $1 AND finished_at < now() - $2::int8 * interval '1 millisecond'
    LIMIT $3)";

/// Forgets workers silent for an hour.
pub(crate) const PURGE_WORKERS: &str =
    "DELETE FROM sluice_worker WHERE heartbeat_at < now() - interval '1 hour'";

/// Asks the worker running task `$1` to cancel it.
pub(crate) const REQUEST_CANCEL: &str = "\
UPDATE sluice_task SET cancel_requested = true WHERE id = $1 AND state = 'running'
RETURNING id";

/// The chain of pending task `$1` (a task's chain never changes). Read without a row
/// lock: the chain's lock must come first, as in enqueue, or the two could wait for
/// each other.
pub(crate) const PENDING_CHAIN: &str =
    "SELECT queue, fifo_key FROM sluice_task WHERE id = $1 AND state = 'pending'";

/// Moves pending task `$1` to the history as cancelled.
pub(crate) const CANCEL_PENDING: &str = "\
WITH gone AS (DELETE FROM sluice_task WHERE id = $1 AND state = 'pending' RETURNING *)
INSERT INTO sluice_task_done (id, queue, kind, key, fifo_key, payload, state, priority,
                              attempt, max_attempts, timeout_ms, lease_owner, errors,
                              created_at, payload_bytes)
SELECT id, queue, kind, key, fifo_key, payload, 'cancelled', priority, attempt,
       max_attempts, timeout_ms, lease_owner, errors, created_at, payload_bytes FROM gone";

/// The chain of dead task `$1`, for re-queueing it.
pub(crate) const DEAD_CHAIN: &str =
    "SELECT queue, fifo_key FROM sluice_task_done WHERE id = $1 AND state = 'dead' FOR UPDATE";

/// Moves dead task `$1` back to the hot table as a new pending task at the end of its
/// chain, with its attempts reset and its past errors kept.
pub(crate) const REQUEUE_DEAD: &str = "\
WITH gone AS (DELETE FROM sluice_task_done WHERE id = $1 AND state = 'dead' RETURNING *)
INSERT INTO sluice_task (queue, kind, key, fifo_key, payload, priority, max_attempts,
                         timeout_ms, errors, payload_bytes)
SELECT queue, kind, key, fifo_key, payload, priority, max_attempts, timeout_ms, errors,
       payload_bytes
FROM gone
RETURNING id";

/// Live tasks of queue `$1` by state and kind, with the oldest ready task's wait.
pub(crate) const STATUS_LIVE: &str = "\
SELECT state, kind, count(*)::int8,
       extract(epoch FROM now() - min(run_at) FILTER (WHERE state = 'pending'
                                                       AND run_at <= now()))::float8
FROM sluice_task WHERE queue = $1 GROUP BY state, kind";

/// Finished tasks of queue `$1` by state and kind.
pub(crate) const STATUS_DONE: &str = "\
SELECT state, kind, count(*)::int8 FROM sluice_task_done WHERE queue = $1
GROUP BY state, kind";

/// Workers of queue `$1` seen within `$2` ms.
pub(crate) const STATUS_WORKERS: &str = "\
SELECT count(*)::int8 FROM sluice_worker
WHERE queue = $1 AND heartbeat_at > now() - $2::int8 * interval '1 millisecond'";

/// Task `$1` wherever it is: live or finished.
pub(crate) const TASK_HISTORY: &str = "\
SELECT id, queue, kind, key, state, attempt, max_attempts, errors FROM sluice_task
WHERE id = $1
UNION ALL
SELECT id, queue, kind, key, state, attempt, max_attempts, errors FROM sluice_task_done
WHERE id = $1";

//! Every statement the queue runs, named, in one place (as River keeps its
//! `queries.sql`): a reader sees the whole protocol here.
//!
//! Fencing: a worker's result is written only `WHERE id = $id AND attempt = $attempt
//! AND lease_owner = $owner AND state = 'running'`; a row not matched is a late result
//! of a worker that lost its lease, refused and counted. The attempt only grows, so a
//! task claimed again never matches an older run's result.
//!
//! Per-key order: a chain (a key's tasks, or a queue's strict tasks) is a linked list
//! of its live tasks in enqueue order (`prev_id`, `next_id`), with a row in
//! `sluice_chain` naming its head and tail; only a head (`prev_id IS NULL`) is
//! claimable. A task leaving the hot table unlinks itself in the statement that
//! deletes it, so its successor becomes head by primary key, never by a search of the
//! task table. Every writer of a chain (enqueue, finish, cancel, re-queue) first locks
//! its `sluice_chain` rows in key order, before any task row: a new task and a
//! leaving head never miss each other, and no two writers wait in a cycle.

/// The channel that enqueue notifies (the payload is the queue's name).
pub(crate) const CHANNEL: &str = "sluice_task";

/// Serializes migrations of concurrent workers (an arbitrary constant: "sluice01").
pub(crate) const MIGRATION_LOCK: i64 = 0x736c_7569_6365_3031;

/// Held by the maintenance leader for as long as its connection lives ("sluicemt").
pub(crate) const LEADER_LOCK: i64 = 0x736c_7569_6365_6d74;

/// Locks the chains `$2` of queue `$1` (creating the missing ones) in key order, and
/// answers each one's tail (NULL when empty): enqueue appends after it.
pub const LOCK_CHAINS: &str = "\
INSERT INTO sluice_chain AS c (queue, fifo_key)
SELECT $1, k FROM (SELECT DISTINCT k FROM unnest($2::text[]) AS u(k)) s ORDER BY k
ON CONFLICT (queue, fifo_key) DO UPDATE SET tail_id = c.tail_id
RETURNING fifo_key, tail_id";

/// Locks the existing chains `$2` of queue `$1` in key order (a chain of a live task
/// always exists), before a statement that removes their tasks.
pub const LOCK_LIVE_CHAINS: &str = "\
SELECT fifo_key FROM sluice_chain WHERE queue = $1 AND fifo_key = ANY($2::text[])
ORDER BY fifo_key FOR UPDATE";

/// Reserves `$1` task ids, growing, so that enqueue links a batch's chains as it
/// inserts them.
pub const RESERVE_IDS: &str = "\
SELECT nextval(pg_get_serial_sequence('sluice_task', 'id')) FROM generate_series(1, $1::int8)";

/// After an enqueue into locked chains `$2` of queue `$1`: links each chain's old tail
/// `$3` (NULL when it was empty) to its first new task `$4`, and makes `$5` the tail
/// (and `$4` the head of an empty chain).
pub const LINK_CHAINS: &str = "\
WITH l AS (SELECT * FROM unnest($2::text[], $3::int8[], $4::int8[], $5::int8[])
               AS l(k, old_tail, first_id, last_id)),
tails AS (UPDATE sluice_task t SET next_id = l.first_id FROM l WHERE t.id = l.old_tail)
UPDATE sluice_chain c SET head_id = COALESCE(c.head_id, l.first_id), tail_id = l.last_id
FROM l WHERE c.queue = $1 AND c.fifo_key = l.k";

/// Removes chains `$2` of queue `$1` that are empty (locked for an enqueue whose
/// tasks were all skipped by their unique keys).
pub(crate) const DROP_EMPTY_CHAINS: &str = "\
DELETE FROM sluice_chain WHERE queue = $1 AND fifo_key = ANY($2::text[]) AND tail_id IS NULL";

/// Sets the links of tasks `$1` to `$2` and `$3`: an enqueue whose unique keys skipped
/// some tasks of a chain relinks the ones it inserted.
pub(crate) const RELINK: &str = "\
UPDATE sluice_task t SET prev_id = f.prev_id, next_id = f.next_id
FROM unnest($1::int8[], $2::int8[], $3::int8[]) AS f(id, prev_id, next_id)
WHERE t.id = f.id";

/// The tail of a statement whose CTE `done` deleted tasks (`RETURNING *`) from their
/// locked chains: unlinks each (its successor takes its `prev_id`, so a leaving head's
/// successor becomes head; its predecessor takes its `next_id`) and updates or removes
/// the chain's row. The removed tasks are never neighbours of each other (a finish
/// removes heads of distinct chains, a cancel one task).
macro_rules! unlink_done {
    () => {
        "
, nexts AS (UPDATE sluice_task t SET prev_id = d.prev_id FROM done d WHERE t.id = d.next_id)
, prevs AS (UPDATE sluice_task t SET next_id = d.next_id FROM done d WHERE t.id = d.prev_id)
, emptied AS (
    DELETE FROM sluice_chain c USING done d
    WHERE c.queue = d.queue AND c.fifo_key = d.fifo_key
      AND d.prev_id IS NULL AND d.next_id IS NULL)
, ends AS (
    UPDATE sluice_chain c
    SET head_id = CASE WHEN d.prev_id IS NULL THEN d.next_id ELSE c.head_id END,
        tail_id = CASE WHEN d.next_id IS NULL THEN d.prev_id ELSE c.tail_id END
    FROM done d
    WHERE c.queue = d.queue AND c.fifo_key = d.fifo_key
      AND (d.prev_id IS NULL) <> (d.next_id IS NULL))
"
    };
}

/// Inserts a batch of tasks into queue `$1`, in input order; a unique key already live
/// in the queue is skipped. Ids `$12` are reserved ([`RESERVE_IDS`]) or NULL (the
/// next of the sequence), links `$13`, `$14` set ([`LINK_CHAINS`] then links the
/// chains' old tails).
pub const ENQUEUE: &str = "\
INSERT INTO sluice_task (id, queue, kind, key, fifo_key, payload, priority, run_at,
                         max_attempts, timeout_ms, unique_key, payload_bytes, prev_id,
                         next_id)
SELECT COALESCE(u.id, nextval(pg_get_serial_sequence('sluice_task', 'id'))), $1, u.kind,
       u.key, u.fifo_key, u.payload, u.priority,
       now() + u.delay_ms * interval '1 millisecond', u.max_attempts, u.timeout_ms,
       u.unique_key, u.payload_bytes, u.prev_id, u.next_id
FROM unnest($2::text[], $3::text[], $4::text[], $5::jsonb[], $6::int2[], $7::int8[],
            $8::int4[], $9::int8[], $10::text[], $11::bytea[], $12::int8[], $13::int8[],
            $14::int8[])
     WITH ORDINALITY AS u(kind, key, fifo_key, payload, priority, delay_ms,
                          max_attempts, timeout_ms, unique_key, payload_bytes, id, prev_id,
                          next_id, ord)
ORDER BY u.ord
ON CONFLICT (queue, unique_key) WHERE unique_key IS NOT NULL DO NOTHING
RETURNING id, unique_key";

/// Wakes the listeners of every worker (`$1`: the queue).
pub const NOTIFY: &str = "SELECT pg_notify('sluice_task', $1)";

/// Claims up to `$5` ready tasks of kinds `$4` in queue `$3` for owner `$1`, with a
/// lease of `$2` ms. Locked rows are skipped: never two owners of one task. A task
/// whose cancel was asked while it ran and that came back to pending is claimed too,
/// and recorded as cancelled without running.
///
/// The locked rows are updated by their `ctid` (a TID scan, whatever the statistics
/// say): by `id`, the generic plan a connection keeps after five claims was a
/// sequential scan whenever those claims came while the table was nearly empty (a
/// fresh queue being filled: seen in the bench's server log), and every later claim
/// would then compare each pending task with each claimed id. A row locked `FOR
/// UPDATE` keeps its `ctid` until this statement updates it.
pub const CLAIM: &str = "\
UPDATE sluice_task SET state = 'running', lease_owner = $1,
       lease_until = now() + $2::int8 * interval '1 millisecond', attempt = attempt + 1
WHERE state = 'pending' AND ctid = ANY(ARRAY(
    SELECT ctid FROM sluice_task
    WHERE queue = $3 AND state = 'pending' AND prev_id IS NULL
      AND run_at <= now() AND kind = ANY($4::text[])
    ORDER BY priority DESC, run_at, id
    LIMIT $5 FOR UPDATE SKIP LOCKED))
RETURNING id, kind, key, payload, attempt, max_attempts, timeout_ms, priority,
          cancel_requested, payload_bytes, fifo_key";

/// Writes a worker's results in one statement:
/// ends tasks `$3` (attempts `$4`) in states `$5` ('completed', 'dead', 'cancelled'),
/// appending errors `$6`, moving them to the history and unlinking them from their
/// chains; puts tasks `$7` (attempts `$8`) back to pending after `$9` ms, appending
/// errors `$10`, where `$11` (a snooze or a hand-back) without counting the attempt (a
/// head stays head: its chain waits for it). Every write is fenced by owner `$1`; a
/// task not matched was taken over, and its result is refused. The chains of the ended
/// tasks must be locked first, by a statement of their own ([`LOCK_LIVE_CHAINS`], in
/// the same transaction): this statement's snapshot must be taken after the locks, or
/// it would not see a task that an enqueue appended while it waited. Notifies queue
/// `$2` when a successor became head or a task went back to pending. Returns the ids
/// whose write was accepted (and one row with a NULL id if it notified).
///
/// A task appears at most once in `$3` and `$7` together (the writer splits a batch
/// where one task appears twice: an attempt whose lease was lost, and the next).
///
/// Each task is found by its primary key and its arrays' entries by position
/// (`array_position`), whatever the planner's statistics say: no join with the
/// arrays. With `USING unnest(..) f WHERE t.id = f.id AND t.state = 'running' AND
/// t.lease_owner = $1`, a plan (custom ones above all: they know the arrays' length)
/// estimated one running task of this owner, scanned for it first (the partial index
/// `sluice_task_leases`, every dead entry of every task that ever ran included, or the
/// whole table), and then read the unnested arrays again for each task it found: for
/// hundreds of tasks, 0.1–3 s a statement once a burst of tasks had passed and before
/// autovacuum had come by (the bench's second Sluice run on a fresh server took
/// 31–37 s for 20,000 tasks). So the ids are `ANY(ARRAY(SELECT unnest(..)))`, an
/// array whose length no plan knows, which makes the primary key the
/// cheap path, and the fence's `state` test is `IS NOT DISTINCT FROM`, which does not
/// imply the leases index's predicate.
pub const SETTLE: &str = concat!(
    "\
WITH done AS (
    DELETE FROM sluice_task t
    WHERE t.id = ANY(ARRAY(SELECT unnest($3::int8[])))
      AND t.attempt = ($4::int4[])[array_position($3::int8[], t.id)]
      AND t.state IS NOT DISTINCT FROM 'running' AND t.lease_owner = $1
    RETURNING t.*, array_position($3::int8[], t.id) AS at
), moved AS (
    INSERT INTO sluice_task_done (id, queue, kind, key, fifo_key, payload, state, priority,
                                  attempt, max_attempts, timeout_ms, lease_owner, errors,
                                  created_at, payload_bytes)
    SELECT id, queue, kind, key, fifo_key, payload, ($5::text[])[at], priority, attempt,
           max_attempts, timeout_ms, lease_owner,
           errors || COALESCE(($6::jsonb[])[at], '[]'::jsonb), created_at, payload_bytes
    FROM done
)",
    unlink_done!(),
    "\
, released AS (
    UPDATE sluice_task t SET state = 'pending', lease_owner = NULL, lease_until = NULL,
           run_at = now() + ($9::int8[])[array_position($7::int8[], t.id)]
                            * interval '1 millisecond',
           max_attempts = t.max_attempts
                          + CASE WHEN ($11::bool[])[array_position($7::int8[], t.id)]
                                 THEN 1 ELSE 0 END,
           errors = t.errors
                    || COALESCE(($10::jsonb[])[array_position($7::int8[], t.id)], '[]'::jsonb)
    WHERE t.id = ANY(ARRAY(SELECT unnest($7::int8[])))
      AND t.attempt = ($8::int4[])[array_position($7::int8[], t.id)]
      AND t.state IS NOT DISTINCT FROM 'running' AND t.lease_owner = $1
    RETURNING t.id
), woke AS (
    SELECT pg_notify('sluice_task', $2)
    WHERE EXISTS (SELECT 1 FROM done WHERE next_id IS NOT NULL)
       OR EXISTS (SELECT 1 FROM released)
)
SELECT id FROM done
UNION ALL SELECT id FROM released
UNION ALL SELECT NULL FROM woke"
);

/// Extends the leases of tasks `$1` held by owner `$2` by `$3` ms; answers which are
/// still held, and whether someone asked to cancel them. By primary key, whatever the
/// statistics say (see [`SETTLE`]).
pub(crate) const HEARTBEAT: &str = "\
UPDATE sluice_task SET lease_until = now() + $3::int8 * interval '1 millisecond'
WHERE id = ANY(ARRAY(SELECT unnest($1::int8[]))) AND lease_owner = $2
  AND state IS NOT DISTINCT FROM 'running'
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

/// Moves pending task `$1` to the history as cancelled, unlinking it from its chain
/// (locked first).
pub(crate) const CANCEL_PENDING: &str = concat!(
    "\
WITH done AS (DELETE FROM sluice_task WHERE id = $1 AND state = 'pending' RETURNING *)
, moved AS (INSERT INTO sluice_task_done (id, queue, kind, key, fifo_key, payload, state, priority,
                              attempt, max_attempts, timeout_ms, lease_owner, errors,
                              created_at, payload_bytes)
SELECT id, queue, kind, key, fifo_key, payload, 'cancelled', priority, attempt,
       max_attempts, timeout_ms, lease_owner, errors, created_at, payload_bytes FROM done
)",
    unlink_done!(),
    "SELECT id FROM done"
);

/// The chain of dead task `$1`, for re-queueing it.
pub(crate) const DEAD_CHAIN: &str =
    "SELECT queue, fifo_key FROM sluice_task_done WHERE id = $1 AND state = 'dead' FOR UPDATE";

/// Moves dead task `$1` back to the hot table as a new pending task after `$2` (the
/// tail of its locked chain, NULL when empty: [`LINK_CHAINS`] then links it), with its
/// attempts reset and its past errors kept.
pub(crate) const REQUEUE_DEAD: &str = "\
WITH gone AS (DELETE FROM sluice_task_done WHERE id = $1 AND state = 'dead' RETURNING *)
INSERT INTO sluice_task (queue, kind, key, fifo_key, payload, priority, max_attempts,
                         timeout_ms, errors, payload_bytes, prev_id)
SELECT queue, kind, key, fifo_key, payload, priority, max_attempts, timeout_ms, errors,
       payload_bytes, $2::int8
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

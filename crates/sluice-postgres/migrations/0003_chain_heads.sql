-- sluice-postgres schema, version 3: each FIFO chain is a linked list of its live
-- tasks (`prev_id`, `next_id`) with a row in `sluice_chain` holding its head and
-- tail, so that a leaving head names its successor by primary key: promotion never
-- searches the task table (version 1's `ORDER BY id LIMIT 1` per key could walk the
-- primary key when the planner's statistics were stale). A chained task is its
-- chain's head exactly when its `prev_id` is NULL, which replaces `is_head`.

ALTER TABLE sluice_task ADD COLUMN prev_id bigint, ADD COLUMN next_id bigint;

CREATE TABLE sluice_chain (
    queue    text   NOT NULL,
    fifo_key text   NOT NULL,
    -- NULL only while empty (a chain whose enqueue inserted nothing).
    head_id  bigint,
    tail_id  bigint,
    PRIMARY KEY (queue, fifo_key)
);

-- Existing chains, linked in id order (the order version 1 kept).
WITH linked AS (
    SELECT id, lag(id) OVER w AS prev_id, lead(id) OVER w AS next_id
    FROM sluice_task WHERE fifo_key IS NOT NULL
    WINDOW w AS (PARTITION BY queue, fifo_key ORDER BY id))
UPDATE sluice_task t SET prev_id = l.prev_id, next_id = l.next_id
FROM linked l WHERE t.id = l.id;

INSERT INTO sluice_chain (queue, fifo_key, head_id, tail_id)
SELECT queue, fifo_key, min(id), max(id) FROM sluice_task
WHERE fifo_key IS NOT NULL GROUP BY queue, fifo_key;

DROP INDEX sluice_task_ready;
CREATE INDEX sluice_task_ready ON sluice_task (queue, priority DESC, run_at, id)
    WHERE state = 'pending' AND prev_id IS NULL;
-- Only promotion searched it.
DROP INDEX sluice_task_chain;
ALTER TABLE sluice_task DROP COLUMN is_head;

ALTER TABLE sluice_chain SET (autovacuum_vacuum_scale_factor = 0.01,
                              autovacuum_analyze_scale_factor = 0.02);

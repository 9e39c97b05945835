-- sluice-postgres schema, version 1: the hot table of live tasks, the history of
-- finished ones, and the workers' presence.

CREATE TABLE sluice_task (
    id               bigserial PRIMARY KEY,
    queue            text        NOT NULL,
    kind             text        NOT NULL,
    -- The user's key (for metrics and history); NULL for unkeyed tasks.
    key              text,
    -- The chain this task is ordered in: NULL is unordered, '' is the queue's single
    -- chain (strict FIFO), otherwise the key (FIFO per key).
    fifo_key         text,
    payload          jsonb       NOT NULL,
    state            text        NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'running')),
    -- Only the oldest live task of a chain is claimable.
    is_head          boolean     NOT NULL DEFAULT false,
    priority         smallint    NOT NULL DEFAULT 0,
    run_at           timestamptz NOT NULL DEFAULT now(),
    attempt          integer     NOT NULL DEFAULT 0,
    max_attempts     integer     NOT NULL DEFAULT 25 CHECK (max_attempts >= 1),
    timeout_ms       bigint      CHECK (timeout_ms > 0),
    lease_owner      text,
    lease_until      timestamptz,
    unique_key       text,
    errors           jsonb       NOT NULL DEFAULT '[]',
    cancel_requested boolean     NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- The claim path: only claimable rows are indexed.
CREATE INDEX sluice_task_ready ON sluice_task (queue, priority DESC, run_at, id)
    WHERE state = 'pending' AND (fifo_key IS NULL OR is_head);
-- Finding a chain's next task when its head leaves.
CREATE INDEX sluice_task_chain ON sluice_task (queue, fifo_key, id)
    WHERE fifo_key IS NOT NULL;
-- The maintenance leader's rescue of expired leases.
CREATE INDEX sluice_task_leases ON sluice_task (lease_until) WHERE state = 'running';
-- Idempotent enqueue: one live task per unique key and queue.
CREATE UNIQUE INDEX sluice_task_unique ON sluice_task (queue, unique_key)
    WHERE unique_key IS NOT NULL;

ALTER TABLE sluice_task SET (autovacuum_vacuum_scale_factor = 0.01,
                             autovacuum_analyze_scale_factor = 0.02);

CREATE TABLE sluice_task_done (
    id           bigint      PRIMARY KEY,
    queue        text        NOT NULL,
    kind         text        NOT NULL,
    key          text,
    fifo_key     text,
    payload      jsonb       NOT NULL,
    state        text        NOT NULL CHECK (state IN ('completed', 'dead', 'cancelled')),
    priority     smallint    NOT NULL,
    attempt      integer     NOT NULL,
    max_attempts integer     NOT NULL,
    timeout_ms   bigint,
    lease_owner  text,
    errors       jsonb       NOT NULL,
    created_at   timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX sluice_task_done_ttl ON sluice_task_done (state, finished_at);

CREATE TABLE sluice_worker (
    id           text        PRIMARY KEY,
    queue        text        NOT NULL,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);

-- sluice-postgres schema, version 2: a task's payload is JSON (`payload`) or raw
-- bytes (`payload_bytes`), exactly one of the two.

ALTER TABLE sluice_task ALTER COLUMN payload DROP NOT NULL;
ALTER TABLE sluice_task ADD COLUMN payload_bytes bytea;
ALTER TABLE sluice_task ADD CONSTRAINT sluice_task_one_payload
    CHECK ((payload IS NULL) <> (payload_bytes IS NULL));

ALTER TABLE sluice_task_done ALTER COLUMN payload DROP NOT NULL;
ALTER TABLE sluice_task_done ADD COLUMN payload_bytes bytea;
ALTER TABLE sluice_task_done ADD CONSTRAINT sluice_task_done_one_payload
    CHECK ((payload IS NULL) <> (payload_bytes IS NULL));

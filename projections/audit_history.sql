-- Audit history: one row per event of a cluster's log, with what it changed (`item`),
-- the value before and after, who, in which role, why and when. Rebuildable from the
-- log; rows of a rebuild carry the next generation until the checkpoint swaps to it.
CREATE TABLE IF NOT EXISTS audit_history (
    tenant_id      text        NOT NULL,
    generation     integer     NOT NULL,
    position       bigint      NOT NULL,
    stream_id      text        NOT NULL,
    event_type     text        NOT NULL,  -- the event's name, e.g. Scored
    subject        text        NOT NULL,  -- score, pledge, criteria, membership, refusal...
    item           text        NOT NULL,  -- the thing changed; `before` is its last `after`
    year           integer,
    unit           text,
    criteria       text[]      NOT NULL,  -- criterion codes concerned, for filtering
    before         jsonb,
    after          jsonb       NOT NULL,
    actor          text        NOT NULL,
    role           text        NOT NULL,
    reason         text,
    recorded_at    timestamptz NOT NULL,  -- when the log took it
    occurred_at    timestamptz NOT NULL,  -- when it happened (the day given, else the clock)
    correlation_id text        NOT NULL,
    causation_id   text,
    request_id     text,
    PRIMARY KEY (tenant_id, generation, position)
);
-- Added in place (nullable, so a running older version keeps writing): the command as the
-- API names it, and the unit the actor acted for. Version 3 of the projection fills them.
ALTER TABLE audit_history ADD COLUMN IF NOT EXISTS command text;
ALTER TABLE audit_history ADD COLUMN IF NOT EXISTS acting_unit text;
CREATE INDEX IF NOT EXISTS audit_history_by_unit
    ON audit_history (tenant_id, generation, unit, position);
CREATE INDEX IF NOT EXISTS audit_history_by_actor
    ON audit_history (tenant_id, generation, actor, position);
CREATE INDEX IF NOT EXISTS audit_history_by_time
    ON audit_history (tenant_id, generation, recorded_at);
CREATE INDEX IF NOT EXISTS audit_history_by_criterion
    ON audit_history USING gin (criteria);

GRANT SELECT, INSERT, UPDATE, DELETE ON audit_history TO thidua_app;
ALTER TABLE audit_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_history FORCE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS tenant_isolation ON audit_history;
CREATE POLICY tenant_isolation ON audit_history
    USING (tenant_id = current_tenant()) WITH CHECK (tenant_id = current_tenant());

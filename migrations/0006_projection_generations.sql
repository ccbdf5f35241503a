-- Projections are rebuilt into a new generation of rows beside the one serving, then
-- swapped by moving the checkpoint's generation: one row update, atomic, no DDL.
ALTER TABLE projection_checkpoints ADD COLUMN generation integer NOT NULL DEFAULT 1;

-- Time travel finds the position of a moment: positions and times grow together.
CREATE INDEX events_by_time ON events (tenant_id, recorded_at);

-- The projection runner and `thidua projections status` visit every cluster, and
-- row-level security hides one cluster from another, so this function (run as its owner,
-- the migrating user) reports positions only: each cluster's head and checkpoints.
CREATE FUNCTION projection_progress()
    RETURNS TABLE (tenant_id text, head bigint, projection text, version integer,
                   generation integer, "position" bigint, updated_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
    AS $$
        SELECT h.tenant_id, h.position, c.projection, c.version, c.generation, c.position,
               c.updated_at
        FROM event_log_heads h
        LEFT JOIN projection_checkpoints c ON c.tenant_id = h.tenant_id
        ORDER BY h.tenant_id, c.projection
    $$;
REVOKE ALL ON FUNCTION projection_progress() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION projection_progress() TO thidua_app;

-- Under FORCE ROW LEVEL SECURITY a non-superuser owner is confined like anyone else;
-- these policies let the owner, and so only the function above, read positions.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['event_log_heads', 'projection_checkpoints']
    LOOP
        EXECUTE format('CREATE POLICY owner_reads_positions ON %I FOR SELECT TO %I USING (true)',
                       t, current_user);
    END LOOP;
END
$$;

-- The clusters whose projections are behind their log or built by another version: what
-- the catch-up runner's sweep has to do, and nothing else. PostgreSQL reads every head
-- (a small table, one index scan); the runner gets only the rows that need work.
CREATE FUNCTION projections_behind(names text[], versions integer[])
    RETURNS TABLE (tenant_id text, projection text, head bigint, "position" bigint,
                   version integer)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
    AS $$
        SELECT h.tenant_id, p.name, h.position, coalesce(c.position, 0), c.version
        FROM event_log_heads h
        CROSS JOIN unnest(names, versions) AS p(name, version)
        LEFT JOIN projection_checkpoints c
               ON c.tenant_id = h.tenant_id AND c.projection = p.name
        WHERE coalesce(c.position, 0) < h.position OR c.version IS DISTINCT FROM p.version
              AND c.version IS NOT NULL
        ORDER BY h.tenant_id, p.name
    $$;
REVOKE ALL ON FUNCTION projections_behind(text[], integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION projections_behind(text[], integer[]) TO thidua_app;

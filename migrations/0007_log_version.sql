-- A cluster's log head and its projections' checkpoints in one call: together they are the
-- version of everything the cluster can be asked, so they key cached answers. Positions
-- only, no data; like projection_progress() it runs as its owner, past row-level security.
CREATE FUNCTION log_version(tenant text)
    RETURNS TABLE (head bigint, projection text, version integer, generation integer,
                   "position" bigint)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
    AS $$
        SELECT h.position, c.projection, c.version, c.generation, c.position
        FROM event_log_heads h
        LEFT JOIN projection_checkpoints c ON c.tenant_id = h.tenant_id
        WHERE h.tenant_id = tenant
        ORDER BY c.projection
    $$;
REVOKE ALL ON FUNCTION log_version(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION log_version(text) TO thidua_app;

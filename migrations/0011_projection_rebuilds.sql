-- A rebuild marks the generation it begins (committed before its rows land) and clears the
-- mark once only the serving generation's rows are left: a rebuild killed or cut off is
-- found by its mark, reported by `thidua projections status` and cleaned by the next
-- rebuild or the runner's start. Only marked rows are read (a partial index).
ALTER TABLE projection_checkpoints ADD COLUMN building integer;
CREATE INDEX projection_checkpoints_building ON projection_checkpoints (tenant_id, projection)
    WHERE building IS NOT NULL;

CREATE FUNCTION projections_building()
    RETURNS TABLE (tenant_id text, projection text, generation integer, building integer)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
    AS $$
        SELECT tenant_id, projection, generation, building FROM projection_checkpoints
        WHERE building IS NOT NULL ORDER BY tenant_id, projection
    $$;
REVOKE ALL ON FUNCTION projections_building() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION projections_building() TO thidua_app;

-- What the application role may do, and row-level security on every table that
-- holds tenant data: a transaction sees only the tenant it has set.
GRANT SELECT, INSERT         ON tenants                TO thidua_app;
GRANT SELECT, INSERT, UPDATE ON event_log_heads        TO thidua_app;
GRANT SELECT, INSERT         ON events                 TO thidua_app;
GRANT SELECT, INSERT         ON idempotency_keys       TO thidua_app;
GRANT SELECT, INSERT, UPDATE ON projection_checkpoints TO thidua_app;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['tenants', 'event_log_heads', 'events',
                             'idempotency_keys', 'projection_checkpoints']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I '
            'USING (tenant_id = current_tenant()) '
            'WITH CHECK (tenant_id = current_tenant())', t);
    END LOOP;
END
$$;

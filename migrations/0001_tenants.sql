-- The cluster (tenant) registry and the application's database role.
-- The application connects as (or SET ROLE to) thidua_app, which owns nothing,
-- so row-level security always applies to it.
DO $$
BEGIN
    CREATE ROLE thidua_app NOLOGIN;
EXCEPTION
    -- Roles are server-wide: another database on this server may have made it.
    WHEN duplicate_object OR unique_violation THEN NULL;
END
$$;

-- Lets a non-superuser migrator SET ROLE thidua_app on its pooled connections.
GRANT thidua_app TO CURRENT_USER;
GRANT USAGE ON SCHEMA public TO thidua_app;

-- The tenant a transaction works for; set per transaction by the application.
CREATE FUNCTION current_tenant() RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('thidua.tenant', true), '') $$;

CREATE TABLE tenants (
    tenant_id  text PRIMARY KEY
               CHECK (tenant_id ~ '^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$'),
    name       text NOT NULL CHECK (name <> '' AND name IS NFC NORMALIZED),
    created_at timestamptz NOT NULL DEFAULT now()
);

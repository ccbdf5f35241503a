-- How far each projection has read each tenant's log. Durable: a projection's
-- own tables live in projections/ and can be rebuilt, its checkpoint moves with them.
CREATE TABLE projection_checkpoints (
    tenant_id  text    NOT NULL REFERENCES tenants,
    projection text    NOT NULL,
    version    integer NOT NULL DEFAULT 1,
    position   bigint  NOT NULL DEFAULT 0 CHECK (position >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, projection)
);

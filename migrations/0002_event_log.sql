-- The append-only event log: one gapless sequence of positions per tenant.

-- The head of each tenant's log. Locking this row (SELECT ... FOR UPDATE) is the
-- per-tenant lock that orders appends: positions are assigned in commit order and
-- tenants never wait on each other.
CREATE TABLE event_log_heads (
    tenant_id text PRIMARY KEY REFERENCES tenants,
    position  bigint NOT NULL DEFAULT 0 CHECK (position >= 0),
    hash      bytea NOT NULL DEFAULT '\x0000000000000000000000000000000000000000000000000000000000000000'
);

CREATE TABLE events (
    tenant_id      text    NOT NULL REFERENCES tenants,
    position       bigint  NOT NULL CHECK (position > 0),
    stream_id      text    NOT NULL,
    stream_version integer NOT NULL CHECK (stream_version > 0),
    event_type     text    NOT NULL,
    event_version  integer NOT NULL DEFAULT 1 CHECK (event_version > 0),
    payload        bytea   NOT NULL,
    metadata       jsonb   NOT NULL,
    recorded_at    timestamptz NOT NULL,
    -- SHA-256 over the tenant's previous hash and this event's canonical bytes.
    hash           bytea   NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (tenant_id, position),
    UNIQUE (tenant_id, stream_id, stream_version)
);

-- A command retried with the same key records nothing and gets its first result.
CREATE TABLE idempotency_keys (
    tenant_id      text     NOT NULL REFERENCES tenants,
    key            text     NOT NULL,
    stream_id      text     NOT NULL,
    stream_version integer  NOT NULL,
    positions      bigint[] NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, key)
);

-- Append-only for everyone, owner and superuser included (short of disabling
-- the trigger, which an audit then detects through the hash chain).
CREATE FUNCTION refuse_event_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the event log is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER events_append_only
    BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION refuse_event_change();

CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_event_change();

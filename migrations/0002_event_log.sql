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
    -- SHA-256 chained to the tenant's previous event; see append_events.
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

-- One append, atomically, in one round trip: take the tenant's lock, replay an
-- idempotent retry, check the stream's version, chain the hashes, write.
-- The caller's transaction has set the tenant; row-level security applies.
--
-- Each event's hash is SHA-256(previous hash || position as int8 || recording time
-- in microseconds since the epoch as int8 || content digest), where the content digest
-- is the SHA-256 of everything known before the lock (see thidua.store.chain).
-- VOLATILE, so each statement below sees every commit made before it: the lock is
-- taken first, then the checks read what the previous holder committed.
CREATE FUNCTION append_events(
    p_tenant text, p_stream text, p_expected integer,
    p_types text[], p_event_versions integer[], p_payloads bytea[], p_digests bytea[],
    p_metadata jsonb, p_key text,
    OUT status text, OUT stream_version integer, OUT positions bigint[],
    OUT recorded_at timestamptz
) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    head_position bigint;
    chained bytea;
    micros bigint;
    hashes bytea[] := '{}';
    n integer := cardinality(p_types);
BEGIN
    IF p_tenant IS DISTINCT FROM current_tenant() THEN
        RAISE EXCEPTION 'append_events for % in a transaction set for %', p_tenant, current_tenant();
    END IF;
    SELECT h.position, h.hash INTO head_position, chained
    FROM event_log_heads h WHERE h.tenant_id = p_tenant FOR UPDATE;
    IF NOT FOUND THEN
        status := 'unknown_tenant';
        RETURN;
    END IF;
    recorded_at := clock_timestamp();  -- after the lock, so times follow positions

    IF p_key IS NOT NULL THEN
        SELECT k.stream_version, k.positions INTO stream_version, positions
        FROM idempotency_keys k WHERE k.tenant_id = p_tenant AND k.key = p_key;
        IF FOUND THEN
            status := 'replayed';
            RETURN;
        END IF;
    END IF;

    SELECT coalesce(max(e.stream_version), 0) INTO stream_version
    FROM events e WHERE e.tenant_id = p_tenant AND e.stream_id = p_stream;
    IF stream_version <> p_expected THEN
        status := 'conflict';
        RETURN;
    END IF;

    micros := (extract(epoch FROM recorded_at) * 1000000)::bigint;
    positions := array(SELECT head_position + i FROM generate_series(1, n) AS i);
    FOR i IN 1..n LOOP
        chained := sha256(chained || int8send(positions[i]) || int8send(micros) || p_digests[i]);
        hashes := hashes || chained;
    END LOOP;

    INSERT INTO events (tenant_id, position, stream_id, stream_version, event_type,
                        event_version, payload, metadata, recorded_at, hash)
    SELECT p_tenant, u.position, p_stream, p_expected + u.ord::integer, u.type,
           u.event_version, u.payload, p_metadata, recorded_at, u.hash
    FROM unnest(positions, p_types, p_event_versions, p_payloads, hashes)
         WITH ORDINALITY AS u(position, type, event_version, payload, hash, ord);

    UPDATE event_log_heads SET position = positions[n], hash = chained
    WHERE tenant_id = p_tenant;

    stream_version := p_expected + n;
    IF p_key IS NOT NULL THEN
        INSERT INTO idempotency_keys (tenant_id, key, stream_id, stream_version, positions)
        VALUES (p_tenant, p_key, p_stream, stream_version, positions);
    END IF;
    status := 'appended';
END
$$;

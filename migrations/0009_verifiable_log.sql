-- A log an auditor can verify without trusting the server.
--
-- 1. Appends only through append_events: the application role may read the log but not
--    write a row or move a head itself; append_events and open_log run as their owner.
-- 2. A Merkle tree per cluster (RFC 9162): log_tree keeps the hash of every perfect
--    subtree, (level, index) covering leaves [index * 2^level, (index + 1) * 2^level).
--    Leaf i is the event at position i + 1; its entry is the event's chain hash, which
--    commits to the event and to everything before it. The head keeps the frontier (the
--    perfect subtrees of the tree so far, largest first), so an append looks nothing up.
-- 3. Signed checkpoints of the tree, the witnesses' cosignatures, and the clusters whose
--    log grew since their last checkpoint (so the signer never visits every cluster).

REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON events, event_log_heads, idempotency_keys
    FROM thidua_app;

CREATE TABLE log_tree (
    tenant_id text     NOT NULL REFERENCES tenants,
    level     smallint NOT NULL CHECK (level BETWEEN 0 AND 62),
    index     bigint   NOT NULL CHECK (index >= 0),
    hash      bytea    NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (tenant_id, level, index)
);

CREATE TRIGGER log_tree_append_only
    BEFORE UPDATE OR DELETE ON log_tree
    FOR EACH ROW EXECUTE FUNCTION refuse_event_change();
CREATE TRIGGER log_tree_no_truncate
    BEFORE TRUNCATE ON log_tree
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_event_change();

ALTER TABLE event_log_heads ADD COLUMN frontier bytea[] NOT NULL DEFAULT '{}';

CREATE TABLE log_checkpoints (
    tenant_id text   NOT NULL REFERENCES tenants,
    size      bigint NOT NULL CHECK (size >= 0),
    root      bytea  NOT NULL CHECK (length(root) = 32),
    note      text   NOT NULL,  -- the signed note, exactly as signed
    signed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, size)
);

CREATE TABLE log_cosignatures (
    tenant_id   text   NOT NULL,
    size        bigint NOT NULL,
    witness     text   NOT NULL,  -- the witness's key name
    line        text   NOT NULL,  -- its signature line, as the witness sent it
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, size, witness),
    FOREIGN KEY (tenant_id, size) REFERENCES log_checkpoints
);

CREATE TABLE checkpoints_due (
    tenant_id text PRIMARY KEY REFERENCES tenants,
    since     timestamptz NOT NULL DEFAULT now()
);

GRANT SELECT ON log_tree TO thidua_app;
GRANT SELECT, INSERT ON log_checkpoints, log_cosignatures TO thidua_app;
GRANT SELECT, INSERT, DELETE ON checkpoints_due TO thidua_app;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['log_tree', 'log_checkpoints', 'log_cosignatures',
                             'checkpoints_due']
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
-- The signer asks which clusters are due (codes only, across clusters, see below).
CREATE POLICY owner_reads_due ON checkpoints_due FOR SELECT TO CURRENT_USER USING (true);

-- Adds leaves (entries: chain hashes) to a cluster's tree from its frontier; returns the
-- new frontier. Every node completed is written in one statement.
CREATE FUNCTION log_tree_add(p_tenant text, p_size bigint, p_frontier bytea[],
                             p_entries bytea[])
    RETURNS bytea[] LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    f bytea[] := p_frontier;
    levels smallint[] := '{}';
    indexes bigint[] := '{}';
    nodes bytea[] := '{}';
    h bytea;
    lvl smallint;
    idx bigint;
BEGIN
    FOR i IN 1..coalesce(cardinality(p_entries), 0) LOOP
        h := sha256('\x00'::bytea || p_entries[i]);
        idx := p_size + i - 1;
        lvl := 0;
        levels := levels || lvl; indexes := indexes || idx; nodes := nodes || h;
        WHILE idx % 2 = 1 LOOP
            h := sha256('\x01'::bytea || f[cardinality(f)] || h);
            f := f[1:cardinality(f) - 1];
            lvl := lvl + 1;
            idx := idx / 2;
            levels := levels || lvl; indexes := indexes || idx; nodes := nodes || h;
        END LOOP;
        f := f || h;
    END LOOP;
    INSERT INTO log_tree (tenant_id, level, index, hash)
    SELECT p_tenant, u.level, u.index, u.hash
    FROM unnest(levels, indexes, nodes) AS u(level, index, hash);
    RETURN f;
END
$$;
REVOKE ALL ON FUNCTION log_tree_add(text, bigint, bytea[], bytea[]) FROM PUBLIC;

-- Existing logs get their trees.
DO $$
DECLARE
    h record;
BEGIN
    FOR h IN SELECT tenant_id FROM event_log_heads LOOP
        PERFORM set_config('thidua.tenant', h.tenant_id, true);
        UPDATE event_log_heads SET frontier = log_tree_add(
            h.tenant_id, 0, '{}',
            array(SELECT e.hash FROM events e WHERE e.tenant_id = h.tenant_id
                  ORDER BY e.position))
        WHERE tenant_id = h.tenant_id;
    END LOOP;
    PERFORM set_config('thidua.tenant', '', true);
END
$$;

-- A new cluster's empty log.
CREATE FUNCTION open_log(p_tenant text) RETURNS void
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
BEGIN
    IF p_tenant IS DISTINCT FROM current_tenant() THEN
        RAISE EXCEPTION 'open_log for % in a transaction set for %', p_tenant, current_tenant();
    END IF;
    INSERT INTO event_log_heads (tenant_id) VALUES (p_tenant) ON CONFLICT DO NOTHING;
END
$$;
REVOKE ALL ON FUNCTION open_log(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION open_log(text) TO thidua_app;

DROP FUNCTION append_events(text, text, integer, text[], integer[], bytea[], bytea[], jsonb,
                            text, text[], integer[]);

-- As in 0005, and now: run as its owner (the only writer of the log), add the events to
-- the cluster's tree, mark the cluster due for a checkpoint, and return the events' hashes
-- (so the writer has the records as the log holds them without reading them back).
CREATE FUNCTION append_events(
    p_tenant text, p_stream text, p_expected integer,
    p_types text[], p_event_versions integer[], p_payloads bytea[], p_digests bytea[],
    p_metadata jsonb, p_key text, p_guard_streams text[], p_guard_versions integer[],
    OUT status text, OUT stream_version integer, OUT positions bigint[],
    OUT recorded_at timestamptz, OUT conflict_stream text, OUT hashes bytea[]
) LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
DECLARE
    head_position bigint;
    chained bytea;
    grown bytea[];
    micros bigint;
    n integer := cardinality(p_types);
BEGIN
    IF p_tenant IS DISTINCT FROM current_tenant() THEN
        RAISE EXCEPTION 'append_events for % in a transaction set for %', p_tenant, current_tenant();
    END IF;
    IF coalesce(n, 0) = 0 THEN
        RAISE EXCEPTION 'append_events needs at least one event';
    END IF;
    SELECT h.position, h.hash, h.frontier INTO head_position, chained, grown
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

    FOR i IN 1..coalesce(cardinality(p_guard_streams), 0) LOOP
        SELECT coalesce(max(e.stream_version), 0) INTO stream_version
        FROM events e WHERE e.tenant_id = p_tenant AND e.stream_id = p_guard_streams[i];
        IF stream_version <> p_guard_versions[i] THEN
            status := 'conflict';
            conflict_stream := p_guard_streams[i];
            RETURN;
        END IF;
    END LOOP;

    SELECT coalesce(max(e.stream_version), 0) INTO stream_version
    FROM events e WHERE e.tenant_id = p_tenant AND e.stream_id = p_stream;
    IF stream_version <> p_expected THEN
        status := 'conflict';
        conflict_stream := p_stream;
        RETURN;
    END IF;

    micros := (extract(epoch FROM recorded_at) * 1000000)::bigint;
    positions := array(SELECT head_position + i FROM generate_series(1, n) AS i);
    hashes := '{}';
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

    UPDATE event_log_heads
    SET position = positions[n], hash = chained,
        frontier = log_tree_add(p_tenant, head_position, grown, hashes)
    WHERE tenant_id = p_tenant;

    INSERT INTO checkpoints_due (tenant_id) VALUES (p_tenant) ON CONFLICT DO NOTHING;

    stream_version := p_expected + n;
    IF p_key IS NOT NULL THEN
        INSERT INTO idempotency_keys (tenant_id, key, stream_id, stream_version, positions)
        VALUES (p_tenant, p_key, p_stream, stream_version, positions);
    END IF;
    status := 'appended';
END
$$;
REVOKE ALL ON FUNCTION append_events(text, text, integer, text[], integer[], bytea[], bytea[],
                                     jsonb, text, text[], integer[]) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION append_events(text, text, integer, text[], integer[], bytea[],
                                        bytea[], jsonb, text, text[], integer[]) TO thidua_app;

-- The clusters whose log grew since their last checkpoint, oldest first: codes only.
CREATE FUNCTION due_checkpoints(p_limit integer)
    RETURNS TABLE (tenant_id text)
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public
    AS $$ SELECT d.tenant_id FROM checkpoints_due d ORDER BY d.since LIMIT p_limit $$;
REVOKE ALL ON FUNCTION due_checkpoints(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION due_checkpoints(integer) TO thidua_app;

-- Holds the cluster's writers until the caller's transaction ends (a projection swap reads
-- a settled head). Row locks outlive the function; FOR UPDATE needs a right the application
-- role no longer has on the heads.
CREATE FUNCTION lock_log(p_tenant text) RETURNS bigint
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = public AS $$
DECLARE
    found bigint;
BEGIN
    IF p_tenant IS DISTINCT FROM current_tenant() THEN
        RAISE EXCEPTION 'lock_log for % in a transaction set for %', p_tenant, current_tenant();
    END IF;
    SELECT h.position INTO found FROM event_log_heads h WHERE h.tenant_id = p_tenant FOR UPDATE;
    RETURN found;
END
$$;
REVOKE ALL ON FUNCTION lock_log(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lock_log(text) TO thidua_app;

-- Guarded appends: a command that decided on several streams (a score read with its
-- cluster-year, a finalisation read with every scorecard) appends to one stream only
-- if the others have not moved since it read them. The check runs under the tenant's
-- lock, so no write can slip between the check and the append.
DROP FUNCTION append_events(text, text, integer, text[], integer[], bytea[], bytea[], jsonb, text);

CREATE FUNCTION append_events(
    p_tenant text, p_stream text, p_expected integer,
    p_types text[], p_event_versions integer[], p_payloads bytea[], p_digests bytea[],
    p_metadata jsonb, p_key text, p_guard_streams text[], p_guard_versions integer[],
    OUT status text, OUT stream_version integer, OUT positions bigint[],
    OUT recorded_at timestamptz, OUT conflict_stream text
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

-- Refusals of callers whose token does not cover the cluster they named. They belong to no
-- cluster's log (a token of one cluster must not grow another's log), so the deployment
-- keeps them here for its auditors: one row a day per caller, cluster and code, counted.
-- Rows are bounded by callers x clusters x days whatever a caller sends: a code that names
-- no cluster is kept as '?'.
CREATE TABLE access_refusals (
    day      date        NOT NULL,
    subject  text        NOT NULL,
    cluster  text        NOT NULL,
    code     text        NOT NULL,
    what     text        NOT NULL,  -- the operation last refused
    count    bigint      NOT NULL DEFAULT 1,
    first_at timestamptz NOT NULL DEFAULT now(),
    last_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, subject, cluster, code)
);
GRANT SELECT ON access_refusals TO thidua_app;

-- Runs as its owner: it must know whether a cluster exists without seeing its rows.
CREATE FUNCTION note_access_refusal(subject text, cluster text, code text, what text)
    RETURNS void
    LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = public
    AS $$
        INSERT INTO access_refusals (day, subject, cluster, code, what)
        VALUES (
            (now() AT TIME ZONE 'Asia/Ho_Chi_Minh')::date,
            left(subject, 200),
            CASE WHEN EXISTS (SELECT 1 FROM tenants t WHERE t.tenant_id = cluster)
                 THEN cluster ELSE '?' END,
            left(code, 64),
            left(what, 64)
        )
        ON CONFLICT (day, subject, cluster, code) DO UPDATE
        SET count = access_refusals.count + 1, last_at = now(), what = excluded.what
    $$;
REVOKE ALL ON FUNCTION note_access_refusal(text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION note_access_refusal(text, text, text, text) TO thidua_app;

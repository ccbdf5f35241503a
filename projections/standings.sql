-- Standings: each cluster-year's live standings per layer, the frozen results (mid-year
-- review, finalised versions), and the dated inputs time travel recomputes them from:
-- score entries and submissions, each valid from the position that set it until the
-- position that replaced it (valid_to is the largest bigint while it stands).

CREATE TABLE IF NOT EXISTS standings (
    tenant_id        text        NOT NULL,
    generation       integer     NOT NULL,
    year             integer     NOT NULL,
    layer            text        NOT NULL,  -- self, verified, city
    unit             text        NOT NULL,
    rank             integer     NOT NULL,
    decided_by       text        NOT NULL,  -- the tie-break rule that set the place
    first            boolean     NOT NULL,  -- ranked first (nobody is when the top is tied)
    may_be_first     boolean     NOT NULL,
    floor            text[]      NOT NULL,  -- why the floor rule keeps it from first place
    base             numeric     NOT NULL,
    bonus            numeric     NOT NULL,
    deductions       numeric     NOT NULL,
    total            numeric     NOT NULL,
    parts            jsonb       NOT NULL,  -- part code -> points scored
    complete         boolean     NOT NULL,
    submitted_at     timestamptz,
    flagged          text[]      NOT NULL,  -- criteria to re-score after a criteria change
    new_model        boolean     NOT NULL,  -- a new model carried out (flag eligibility)
    criteria_version text        NOT NULL,
    on_day           date        NOT NULL,  -- the day the standings were computed for
    notes            jsonb       NOT NULL DEFAULT '[]',  -- [{kind, text, figures…}]
    PRIMARY KEY (tenant_id, generation, year, layer, unit)
);
-- Tables made before notes: the column is added, and projection version 2 rebuilds the rows.
ALTER TABLE standings ADD COLUMN IF NOT EXISTS notes jsonb NOT NULL DEFAULT '[]';

CREATE TABLE IF NOT EXISTS year_results (
    tenant_id  text    NOT NULL,
    generation integer NOT NULL,
    year       integer NOT NULL,
    kind       text    NOT NULL,  -- mid_year or final
    version    integer NOT NULL,
    result     jsonb   NOT NULL,
    position   bigint  NOT NULL,
    PRIMARY KEY (tenant_id, generation, year, kind, version)
);

CREATE TABLE IF NOT EXISTS score_entries (
    tenant_id        text        NOT NULL,
    generation       integer     NOT NULL,
    year             integer     NOT NULL,
    unit             text        NOT NULL,
    layer            text        NOT NULL,
    code             text        NOT NULL,
    points           numeric     NOT NULL,
    explanation      text        NOT NULL,
    evidence         jsonb       NOT NULL,
    criterion        jsonb       NOT NULL,  -- the definition it was scored against
    criteria_version text        NOT NULL,
    scored_at        timestamptz NOT NULL,
    valid_from       bigint      NOT NULL,
    valid_to         bigint      NOT NULL,
    PRIMARY KEY (tenant_id, generation, year, unit, layer, code, valid_from)
);
CREATE INDEX IF NOT EXISTS score_entries_standing
    ON score_entries (tenant_id, generation, year, valid_to, valid_from);

CREATE TABLE IF NOT EXISTS submissions (
    tenant_id    text        NOT NULL,
    generation   integer     NOT NULL,
    year         integer     NOT NULL,
    unit         text        NOT NULL,
    submitted_at timestamptz NOT NULL,
    valid_from   bigint      NOT NULL,
    valid_to     bigint      NOT NULL,
    PRIMARY KEY (tenant_id, generation, year, unit, valid_from)
);

CREATE TABLE IF NOT EXISTS year_days (
    tenant_id  text    NOT NULL,
    generation integer NOT NULL,
    year       integer NOT NULL,
    on_day     date    NOT NULL,  -- the day of the year's latest event
    valid_from bigint  NOT NULL,
    valid_to   bigint  NOT NULL,
    PRIMARY KEY (tenant_id, generation, year, valid_from)
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['standings', 'year_results', 'score_entries', 'submissions',
                             'year_days']
    LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO thidua_app', t);
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %I', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I '
            'USING (tenant_id = current_tenant()) '
            'WITH CHECK (tenant_id = current_tenant())', t);
    END LOOP;
END
$$;

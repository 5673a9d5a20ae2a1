-- The change log (watch): see the PostgreSQL migration of the same number. SQLite has one
-- writer at a time: revisions commit in their order by construction.
CREATE TABLE resource_changes (
    revision    INTEGER PRIMARY KEY,
    changed_at  INTEGER NOT NULL,
    op          TEXT NOT NULL,
    api_group   TEXT NOT NULL,
    api_version TEXT NOT NULL,
    resource    TEXT NOT NULL,
    cluster     TEXT NOT NULL,
    object      TEXT NOT NULL,
    previous    TEXT
);
CREATE INDEX resource_changes_resource ON resource_changes (api_group, api_version, resource, revision);
CREATE INDEX resource_changes_time ON resource_changes (changed_at);

CREATE TABLE resource_change_state (
    id          INTEGER PRIMARY KEY,
    revision    INTEGER NOT NULL,
    pruned      INTEGER NOT NULL
);
INSERT INTO resource_change_state (id, revision, pruned) VALUES (1, 0, 0);

ALTER TABLE resources ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;

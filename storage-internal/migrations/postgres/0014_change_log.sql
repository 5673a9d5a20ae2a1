-- The change log (watch): one row per create, update or delete of an object, written in the
-- transaction of the object write. `revision` is the layer's resource version, global to the
-- database (every replica over it agrees). Writers serialize on the row of
-- `resource_change_state` (locked first in every write transaction, until commit), so that
-- revisions commit in their order: a reader that has seen revision N has seen every revision
-- below it.
CREATE TABLE resource_changes (
    revision    BIGINT PRIMARY KEY,
    changed_at  BIGINT NOT NULL,
    op          TEXT NOT NULL,
    api_group   TEXT COLLATE "C" NOT NULL,
    api_version TEXT COLLATE "C" NOT NULL,
    resource    TEXT COLLATE "C" NOT NULL,
    cluster     TEXT COLLATE "C" NOT NULL,
    object      TEXT NOT NULL,
    previous    TEXT
);
CREATE INDEX resource_changes_resource ON resource_changes (api_group, api_version, resource, revision);
CREATE INDEX resource_changes_time ON resource_changes (changed_at);

-- One row: the last revision written, and the highest one pruned (watching from below it is
-- 410 Expired).
CREATE TABLE resource_change_state (
    id          INTEGER PRIMARY KEY,
    revision    BIGINT NOT NULL,
    pruned      BIGINT NOT NULL
);
INSERT INTO resource_change_state (id, revision, pruned) VALUES (1, 0, 0);

-- The revision of each object's last write (its metadata.resourceVersion as served).
ALTER TABLE resources ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;

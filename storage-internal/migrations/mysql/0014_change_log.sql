-- The change log (watch): see the PostgreSQL migration of the same number.
CREATE TABLE resource_changes (
    revision    BIGINT NOT NULL,
    changed_at  BIGINT NOT NULL,
    op          VARBINARY(16) NOT NULL,
    api_group   VARBINARY(253) NOT NULL,
    api_version VARBINARY(63) NOT NULL,
    resource    VARBINARY(253) NOT NULL,
    cluster     VARBINARY(253) NOT NULL,
    object      LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    previous    LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    PRIMARY KEY (revision),
    KEY resource_changes_resource (api_group, api_version, resource, revision),
    KEY resource_changes_time (changed_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE resource_change_state (
    id          INT NOT NULL,
    revision    BIGINT NOT NULL,
    pruned      BIGINT NOT NULL,
    PRIMARY KEY (id)
) ENGINE = InnoDB;
INSERT INTO resource_change_state (id, revision, pruned) VALUES (1, 0, 0);

ALTER TABLE resources ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;

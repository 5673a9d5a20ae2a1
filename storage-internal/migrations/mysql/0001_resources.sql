-- The objects of every member cluster and resource, one row each.
--
-- Filter and sort keys are VARBINARY: byte-wise comparison and order with no pad-space rule,
-- the same on MariaDB and MySQL 8, and short enough for one index over the whole key.
-- `object` keeps the object's JSON text exactly as received.
CREATE TABLE resources (
    id                      BIGINT NOT NULL AUTO_INCREMENT,
    rv_number               BIGINT NOT NULL,
    created_at              BIGINT NOT NULL,
    deleted_at              BIGINT NULL,
    synced_at               BIGINT NOT NULL,
    api_group               VARBINARY(253) NOT NULL,
    api_version             VARBINARY(63) NOT NULL,
    resource                VARBINARY(253) NOT NULL,
    cluster                 VARBINARY(253) NOT NULL,
    namespace               VARBINARY(253) NOT NULL,
    name                    VARBINARY(253) NOT NULL,
    kind                    VARBINARY(253) NOT NULL,
    uid                     VARBINARY(128) NOT NULL,
    owner_uid               VARBINARY(128) NOT NULL,
    resource_version        VARBINARY(64) NOT NULL,
    labels                  LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    object                  LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL,
    events                  LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    event_resource_versions LONGTEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL,
    PRIMARY KEY (id),
    UNIQUE KEY resources_key (api_group, api_version, resource, cluster, namespace, name),
    KEY resources_namespace (api_group, api_version, resource, namespace, cluster, name),
    KEY resources_created (api_group, api_version, resource, created_at),
    KEY resources_owner (cluster, owner_uid),
    KEY resources_uid (cluster, uid),
    KEY resources_name (name, cluster)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The kind and scope of each resource a storage was created for.
CREATE TABLE resource_types (
    api_group   VARBINARY(253) NOT NULL,
    api_version VARBINARY(63) NOT NULL,
    resource    VARBINARY(253) NOT NULL,
    kind        VARBINARY(253) NOT NULL,
    namespaced  BOOLEAN NOT NULL,
    PRIMARY KEY (api_group, api_version, resource)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

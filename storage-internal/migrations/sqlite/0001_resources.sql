-- The objects of every member cluster and resource, one row each.
--
-- TEXT columns compare with SQLite's default BINARY collation: byte-wise, as the contract
-- orders. `object` keeps the object's JSON text exactly as received.
CREATE TABLE resources (
    id                      INTEGER PRIMARY KEY,
    rv_number               INTEGER NOT NULL,
    created_at              INTEGER NOT NULL,
    deleted_at              INTEGER,
    synced_at               INTEGER NOT NULL,
    api_group               TEXT NOT NULL,
    api_version             TEXT NOT NULL,
    resource                TEXT NOT NULL,
    cluster                 TEXT NOT NULL,
    namespace               TEXT NOT NULL,
    name                    TEXT NOT NULL,
    kind                    TEXT NOT NULL,
    uid                     TEXT NOT NULL,
    owner_uid               TEXT NOT NULL,
    resource_version        TEXT NOT NULL,
    labels                  TEXT NOT NULL,
    object                  TEXT NOT NULL,
    events                  TEXT,
    event_resource_versions TEXT
);

CREATE UNIQUE INDEX resources_key ON resources (api_group, api_version, resource, cluster, namespace, name);
CREATE INDEX resources_namespace ON resources (api_group, api_version, resource, namespace, cluster, name);
CREATE INDEX resources_created ON resources (api_group, api_version, resource, created_at);
CREATE INDEX resources_owner ON resources (cluster, owner_uid) WHERE owner_uid <> '';
CREATE INDEX resources_uid ON resources (cluster, uid);
CREATE INDEX resources_name ON resources (name, cluster);

-- The kind and scope of each resource a storage was created for.
CREATE TABLE resource_types (
    api_group   TEXT NOT NULL,
    api_version TEXT NOT NULL,
    resource    TEXT NOT NULL,
    kind        TEXT NOT NULL,
    namespaced  BOOLEAN NOT NULL,
    PRIMARY KEY (api_group, api_version, resource)
);

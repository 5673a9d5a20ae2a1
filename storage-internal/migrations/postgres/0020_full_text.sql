-- Full-text search (the `query` parameter): the words of each object, as the contract's
-- tokenizer cuts them (storage_api::query::full_text), in a tsvector the layer writes itself
-- (never PostgreSQL's parser or dictionaries: the words must be every layer's), with a GIN index.
-- `search_version` is the resource version the words were taken from: a row where it is not
-- `resource_version` (written before this migration, or by an earlier version of the layer) is
-- pending, and the layer fills it in (at start-up and before each full-text list) through the
-- small partial index below. (Version 20: other migrations of this schema take the numbers
-- before it.) The GIN index is written directly (fastupdate off): with a pending list, one
-- unlucky write would flush up to 4 MB of it, and a short statement timeout cancels that write
-- again at each retry.
ALTER TABLE resources ADD COLUMN search_vector tsvector, ADD COLUMN search_version TEXT;
ALTER TABLE resources ALTER COLUMN search_version SET STORAGE MAIN;
CREATE INDEX resources_search ON resources USING GIN (search_vector) WITH (fastupdate = off);
CREATE INDEX resources_search_pending ON resources (id) WHERE search_version IS DISTINCT FROM resource_version;

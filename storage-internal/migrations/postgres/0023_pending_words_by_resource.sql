-- Pending full-text words, found per resource. A resource named in the configuration's
-- fullTextSearch.exclude is written without words and stays pending (so that taking it off
-- the list fills its words in at the next start); the catch-up before a full-text list only
-- reads the listed resource's pending rows, which this index finds without walking past the
-- (possibly many) pending rows of excluded resources.
DROP INDEX resources_search_pending;
CREATE INDEX resources_search_pending ON resources (api_group, resource, id) WHERE search_pending;

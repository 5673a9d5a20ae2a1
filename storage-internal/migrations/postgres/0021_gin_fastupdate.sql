-- GIN indexes written directly (fastupdate off), like resources_search in version 20.
--
-- With a pending list, every insert into a GIN index is cheap until the list passes
-- gin_pending_list_limit (4 MB by default); then the insert that crosses it merges the whole
-- list into the index, which takes tens to hundreds of milliseconds, and the write transaction
-- holding the change log's lock waits for it. Under churn every update of an object inserts
-- new entries (a non-HOT update), so the merge came back every few seconds as one slow upsert
-- (102 ms traced at 100 pod updates/s) and every write behind it queued. Off, each insert
-- pays its own, bounded, index update.
ALTER INDEX resources_labels SET (fastupdate = off);

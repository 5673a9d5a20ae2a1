-- Updates that change no indexed column stay on their heap page ("HOT" updates): no new entry
-- in any of the table's indexes, and a fraction of the WAL. A pod's status update (most of a
-- cluster's changes) changes no indexed column, yet none was HOT, for two reasons:
--
-- * the predicate of resources_search_pending read resource_version, which every update
--   changes (a column an index reads, predicate included, makes any update of it non-HOT).
--   Pending words are now a flag, search_pending: the writer sets it to false with the words,
--   the full-text catch-up likewise; it defaults to true, so that a row inserted by a writer
--   that does not write words (an earlier version) is pending. An earlier version's update of
--   a row, which keeps the row's flag, is no longer detected: its words stay those of the
--   object it replaced until the next write (the price of HOT updates; only versions before
--   migration 20 write no words). search_version, which the old predicate read, goes.
-- * pages were filled completely at insert: a new row version had no room on its page. They
--   are filled to 85% (new pages; pages written before keep what they have until rewritten).
--
-- The writer (write.rs) also keeps the stored labels and words when the new ones are equal:
-- a value sent again compares unequal to its stored (compressed or out-of-line) form, which
-- alone would make the update non-HOT.
ALTER TABLE resources ADD COLUMN search_pending BOOLEAN NOT NULL DEFAULT false;
UPDATE resources SET search_pending = true WHERE search_version IS DISTINCT FROM resource_version;
ALTER TABLE resources ALTER COLUMN search_pending SET DEFAULT true;
DROP INDEX resources_search_pending;
ALTER TABLE resources DROP COLUMN search_version;
CREATE INDEX resources_search_pending ON resources (id) WHERE search_pending;
ALTER TABLE resources SET (fillfactor = 85);

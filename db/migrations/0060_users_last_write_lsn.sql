-- Read-your-writes with replicas (db/replicas.py): the WAL position after a
-- user's last mutation. Their fleet reads go to a replica only once it has
-- replayed this far. Written only when replicas are configured.
alter table users add column last_write_lsn pg_lsn;

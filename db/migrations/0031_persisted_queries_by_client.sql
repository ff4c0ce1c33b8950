-- Who registered an automatic persisted query (client address), so that each
-- client has a quota of them and no client can fill the store and evict the
-- documents of everybody else. Trusted documents have none.
alter table persisted_queries add column registered_by text;

create index persisted_queries_automatic_by_client
    on persisted_queries (registered_by) where not trusted;

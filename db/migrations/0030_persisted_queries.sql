-- GraphQL documents known by their SHA-256 (Apollo automatic persisted
-- queries, and trusted documents registered ahead for PERSISTED_QUERIES=only).
-- Shared by every worker. Automatic ones are capped and evicted least recently
-- used first; trusted ones are never evicted.
create table persisted_queries (
    sha256 text primary key check (sha256 ~ '^[0-9a-f]{64}$'),
    document text not null,
    trusted boolean not null default false,
    created_at timestamptz not null default now(),
    last_used_at timestamptz not null default now()
);

create index persisted_queries_automatic_by_use
    on persisted_queries (last_used_at desc) where not trusted;

-- Shared summaries stored as columns rather than one JSON document: reading
-- 51 of them back is a binary decode of arrays and integers, with no JSON
-- built in PostgreSQL or parsed in Python. The cache is disposable.

drop table summary_cache;

create table summary_cache (
    user_id bigint not null,
    view_key bigint not null,        -- 0: the whole visible fleet; else a group id
    organization_id bigint not null,
    version bigint not null,
    today date not null,
    products integer not null,
    health_good integer not null,
    health_warning integer not null,
    health_critical integer not null,
    health_unknown integer not null,
    connected integer not null,
    disconnected integer not null,
    not_configured integer not null,
    code_current integer not null,
    code_update_available integer not null,
    code_unknown integer not null,
    contract_expired integer not null,
    contract_within_30 integer not null,
    contract_within_90 integer not null,
    contract_active integer not null,
    sr_open integer not null,
    sr_critical integer not null,
    sr_high integer not null,
    sr_medium integer not null,
    sr_low integer not null,
    site_count integer not null,
    family_ids bigint[] not null,
    family_names text[] not null,
    family_counts integer[] not null,
    site_ids bigint[] not null,
    site_names text[] not null,
    site_cities text[] not null,
    site_countries text[] not null,
    site_counts integer[] not null,
    primary key (user_id, view_key)
);

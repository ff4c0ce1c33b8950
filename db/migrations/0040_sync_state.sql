-- Sync of the install base (`server.py sync`, `server.py consume`; db/sync.py).
--
-- References: organizations and sites are named by the vendor's own keys
-- (the import file's "ref", now kept), products by service tag, requests by
-- number.
--
-- Ordering is per field: each synced record keeps, beside its values, the
-- observedAt of the change that set each field. A change sets a field only
-- when it is newer than that field's clock (ties broken by the value, so the
-- result never depends on arrival order); replaying changes, or receiving
-- them in any order, converges to the same record. `observed_at` is the
-- newest change the record has seen.
--
-- The sync_* tables hold the synced record; products, service_requests and
-- sites are its projection (what every view reads, with the roll-up and
-- version triggers). A decommissioned product, or one not complete yet (an
-- update seen before its creation), stays here with its clocks and is absent
-- from products, so a late older change cannot bring it back.

alter table organizations add column reference text unique
    check (length(reference) between 1 and 100);
alter table sites add column reference text unique
    check (length(reference) between 1 and 100);

create table sync_sites (
    reference text primary key,
    organization_id bigint,
    name text,
    city text,
    country text,
    organization_observed_at timestamptz,
    name_observed_at timestamptz,
    city_observed_at timestamptz,
    country_observed_at timestamptz,
    first_observed_at timestamptz not null,
    observed_at timestamptz not null
) with (fillfactor = 70);

create table sync_products (
    service_tag text primary key,
    organization_id bigint,
    site_id bigint,
    family_id bigint,
    name text,
    model text,
    health text,
    connectivity text,
    code_version text,
    recommended_code_version text,
    contract_level text,
    contract_ends_on date,
    decommissioned boolean,
    site_observed_at timestamptz,
    family_observed_at timestamptz,
    name_observed_at timestamptz,
    model_observed_at timestamptz,
    health_observed_at timestamptz,
    connectivity_observed_at timestamptz,
    code_version_observed_at timestamptz,
    recommended_code_version_observed_at timestamptz,
    contract_level_observed_at timestamptz,
    contract_ends_on_observed_at timestamptz,
    decommissioned_observed_at timestamptz,
    first_observed_at timestamptz not null,
    observed_at timestamptz not null
) with (fillfactor = 70);

create table sync_service_requests (
    number text primary key,
    product_tag text,
    severity text,
    title text,
    status text,
    closed_at timestamptz,
    opened_at timestamptz,
    product_observed_at timestamptz,
    severity_observed_at timestamptz,
    title_observed_at timestamptz,
    status_observed_at timestamptz,
    opened_observed_at timestamptz,
    first_observed_at timestamptz not null,
    observed_at timestamptz not null
) with (fillfactor = 70);
-- A product (re)appearing brings its requests back into service_requests.
create index sync_service_requests_product on sync_service_requests (product_tag);

-- Sync rewrites its records and products all day (health, connectivity,
-- code): room on each page lets those updates stay on the page (HOT), with
-- no new entry in the indexes, whose columns they do not touch.
alter table products set (fillfactor = 85);

-- Citus-ready fleet keys (docs/scaling.md): every fleet table's primary key
-- carries organization_id, as every foreign key between fleet tables already
-- does, so all of a tenant's rows can live on one shard. The former keys stay
-- as plain indexes: statements that look rows up by id alone keep their plans.

-- sites, products and custom_groups already had unique (organization_id, id),
-- which the foreign keys use: it becomes the primary key, and the foreign
-- keys are re-created against it.
do $$
declare
    t text;
    fk record;
    fks text[];
    unique_name text;
begin
    foreach t in array array['sites', 'products', 'custom_groups'] loop
        unique_name := t || '_organization_id_id_key';
        fks := '{}';
        for fk in
            select c.conrelid::regclass as tbl, c.conname, pg_get_constraintdef(c.oid) as def
              from pg_constraint c
              join pg_constraint u on u.conindid = c.conindid and u.conname = unique_name
             where c.contype = 'f'
        loop
            fks := fks || format('alter table %s add constraint %I %s', fk.tbl, fk.conname, fk.def);
            execute format('alter table %s drop constraint %I', fk.tbl, fk.conname);
        end loop;
        execute format('alter table %I drop constraint %I', t, t || '_pkey');
        execute format('alter table %I drop constraint %I', t, unique_name);
        execute format('alter table %I add constraint %I primary key (organization_id, id)',
                       t, t || '_pkey');
        execute format('create index %I on %I (id)', t || '_by_id', t);
        foreach unique_name in array fks loop
            execute unique_name;
        end loop;
    end loop;
end
$$;

alter table service_requests drop constraint service_requests_pkey;
alter table service_requests add constraint service_requests_pkey primary key (organization_id, id);
create index service_requests_by_id on service_requests (id);

alter table custom_group_products drop constraint custom_group_products_pkey,
    add constraint custom_group_products_pkey primary key (organization_id, group_id, product_id);
create index custom_group_products_by_group on custom_group_products (group_id, product_id);

alter table custom_group_families drop constraint custom_group_families_pkey,
    add constraint custom_group_families_pkey primary key (organization_id, group_id, family_id);
create index custom_group_families_by_group on custom_group_families (group_id, family_id);

alter table custom_group_sites drop constraint custom_group_sites_pkey,
    add constraint custom_group_sites_pkey primary key (organization_id, group_id, site_id);
create index custom_group_sites_by_group on custom_group_sites (group_id, site_id);

alter table user_sites drop constraint user_sites_pkey,
    add constraint user_sites_pkey primary key (organization_id, user_id, site_id);
create index user_sites_by_user on user_sites (user_id, site_id);

alter table summary_cache drop constraint summary_cache_pkey,
    add constraint summary_cache_pkey primary key (organization_id, user_id, view_key);

alter table product_open_requests drop constraint product_open_requests_pkey,
    add constraint product_open_requests_pkey primary key (organization_id, product_id);
create index product_open_requests_by_product on product_open_requests (product_id);

-- The service-request trigger of migration 0020, with the new conflict target.
create or replace function fleet_service_requests_changed() returns trigger
language plpgsql as $$
declare
    source text;
begin
    if tg_op = 'INSERT' then
        source := 'select 1 as sign, product_id, severity from fleet_new where status <> ''CLOSED''';
    elsif tg_op = 'DELETE' then
        source := 'select -1 as sign, product_id, severity from fleet_old where status <> ''CLOSED''';
    else
        source := 'select -1 as sign, product_id, severity from fleet_old where status <> ''CLOSED'' '
                  'union all '
                  'select 1, product_id, severity from fleet_new where status <> ''CLOSED''';
    end if;
    -- Requests of a product being deleted (cascade) are left to the
    -- product's own trigger, which takes its counters out with it.
    source := format($sql$
        select p.id as product_id, p.organization_id, p.site_id, p.family_id,
               sum(c.sign)::int as open,
               coalesce(sum(c.sign) filter (where c.severity = 'CRITICAL'), 0)::int as critical,
               coalesce(sum(c.sign) filter (where c.severity = 'HIGH'), 0)::int as high,
               coalesce(sum(c.sign) filter (where c.severity = 'MEDIUM'), 0)::int as medium,
               coalesce(sum(c.sign) filter (where c.severity = 'LOW'), 0)::int as low
          from (%s) as c
          join products p on p.id = c.product_id
         group by p.organization_id, p.id
        $sql$, source);
    execute format($sql$
        insert into product_open_requests
               (product_id, organization_id, open, critical, high, medium, low)
        select product_id, organization_id, open, critical, high, medium, low
          from (%s) as d order by product_id
        on conflict (organization_id, product_id) do update set
            open = product_open_requests.open + excluded.open,
            critical = product_open_requests.critical + excluded.critical,
            high = product_open_requests.high + excluded.high,
            medium = product_open_requests.medium + excluded.medium,
            low = product_open_requests.low + excluded.low
        $sql$, source);
    execute fleet_deltas_sql(format($sql$
        select organization_id, site_id, family_id,
               0 as products, 0 as health_good, 0 as health_warning, 0 as health_critical,
               0 as health_unknown, 0 as connected, 0 as disconnected, 0 as not_configured,
               0 as code_current, 0 as code_update_available, 0 as code_unknown,
               0 as contract_expired, 0 as contract_within_30, 0 as contract_within_90,
               0 as contract_active, open as sr_open, critical as sr_critical,
               high as sr_high, medium as sr_medium, low as sr_low
          from (%s) as d
        $sql$, source));
    return null;
end
$$;

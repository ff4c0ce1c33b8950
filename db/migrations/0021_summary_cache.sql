-- Computed summaries, shared between requests and kept exact by versions.
--
-- A summary changes only when the tenant's data changes (products, service
-- requests, sites, groups, who sees which sites, the tenant's time zone) or
-- when the tenant's day changes. Every such write bumps the tenant's version
-- in the same transaction; a cached summary is used only when it was
-- computed at the current version on the same day, so it is always the
-- answer a fresh computation would give. A summary statement computes only
-- the views it did not find, and stores them.

create table fleet_versions (
    organization_id bigint primary key,
    version bigint not null
);

create table summary_cache (
    user_id bigint not null,
    view_key bigint not null,        -- 0: the whole visible fleet; else a group id
    organization_id bigint not null,
    version bigint not null,
    today date not null,
    payload jsonb not null,
    primary key (user_id, view_key)
);

create function fleet_bump_versions(orgs bigint[]) returns void
language sql as $$
    insert into fleet_versions (organization_id, version)
    select distinct o, 1 from unnest(orgs) as o where o is not null order by o
    on conflict (organization_id) do update set version = fleet_versions.version + 1
$$;

-- For tables with an organization_id column.
create function fleet_tenant_rows_changed() returns trigger
language plpgsql as $$
declare
    orgs bigint[];
begin
    if tg_op = 'INSERT' then
        execute 'select array_agg(distinct organization_id) from fleet_new' into orgs;
    elsif tg_op = 'DELETE' then
        execute 'select array_agg(distinct organization_id) from fleet_old' into orgs;
    else
        execute 'select array_agg(distinct organization_id) from '
                '(select organization_id from fleet_old union select organization_id from fleet_new) x'
            into orgs;
    end if;
    if orgs is not null then
        perform fleet_bump_versions(orgs);
    end if;
    return null;
end
$$;

do $$
declare
    t text;
begin
    foreach t in array array['products', 'service_requests', 'sites', 'user_sites',
                             'custom_groups', 'custom_group_products',
                             'custom_group_families', 'custom_group_sites'] loop
        execute format(
            'create trigger fleet_version_inserted after insert on %I '
            'referencing new table as fleet_new for each statement '
            'execute function fleet_tenant_rows_changed()', t);
        execute format(
            'create trigger fleet_version_updated after update on %I '
            'referencing old table as fleet_old new table as fleet_new for each statement '
            'execute function fleet_tenant_rows_changed()', t);
        execute format(
            'create trigger fleet_version_deleted after delete on %I '
            'referencing old table as fleet_old for each statement '
            'execute function fleet_tenant_rows_changed()', t);
    end loop;
end
$$;

-- People: only what changes what someone sees (not a sign-in or a profile edit).
create function fleet_users_changed() returns trigger
language plpgsql as $$
begin
    perform fleet_bump_versions(array(
        select o.organization_id from fleet_old o join fleet_new n using (id)
         where (o.organization_id, o.role, o.site_scope)
               is distinct from (n.organization_id, n.role, n.site_scope)
        union
        select n.organization_id from fleet_old o join fleet_new n using (id)
         where (o.organization_id, o.role, o.site_scope)
               is distinct from (n.organization_id, n.role, n.site_scope)));
    return null;
end
$$;

create trigger fleet_version_users_updated after update on users
    referencing old table as fleet_old new table as fleet_new for each statement
    execute function fleet_users_changed();

-- A tenant's time zone moves its "today".
create function fleet_organizations_changed() returns trigger
language plpgsql as $$
begin
    perform fleet_bump_versions(array(
        select n.id from fleet_old o join fleet_new n using (id)
         where o.time_zone is distinct from n.time_zone));
    return null;
end
$$;

create trigger fleet_version_organizations_updated after update on organizations
    referencing old table as fleet_old new table as fleet_new for each statement
    execute function fleet_organizations_changed();

-- Family names are shown in every tenant's byFamily.
create function fleet_families_changed() returns trigger
language plpgsql as $$
begin
    update fleet_versions set version = version + 1;
    return null;
end
$$;

create trigger fleet_version_families_updated after update on product_families
    for each statement execute function fleet_families_changed();

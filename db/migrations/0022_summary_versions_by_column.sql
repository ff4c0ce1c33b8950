-- Updates bump a tenant's summary version only when a column that a summary
-- shows or counts changed (a product renamed, a request retitled or a
-- timestamp touched leaves the shared summaries valid).
-- Trigger arguments name those columns; rows are matched by `id`.

create function fleet_tenant_rows_updated() returns trigger
language plpgsql as $$
declare
    old_cols text;
    new_cols text;
    orgs bigint[];
begin
    select string_agg('o.' || quote_ident(c), ', '), string_agg('n.' || quote_ident(c), ', ')
      into old_cols, new_cols
      from unnest(tg_argv) as c;
    execute format(
        'select array_agg(distinct x.organization_id) from ('
        '  select o.organization_id from fleet_old o join fleet_new n using (id)'
        '   where (%1$s, o.organization_id) is distinct from (%2$s, n.organization_id)'
        '  union'
        '  select n.organization_id from fleet_old o join fleet_new n using (id)'
        '   where (%1$s, o.organization_id) is distinct from (%2$s, n.organization_id)'
        ') as x', old_cols, new_cols)
        into orgs;
    if orgs is not null then
        perform fleet_bump_versions(orgs);
    end if;
    return null;
end
$$;

drop trigger fleet_version_updated on products;
create trigger fleet_version_updated after update on products
    referencing old table as fleet_old new table as fleet_new for each statement
    execute function fleet_tenant_rows_updated(
        'site_id', 'family_id', 'health', 'connectivity', 'code_status', 'contract_ends_on');

drop trigger fleet_version_updated on service_requests;
create trigger fleet_version_updated after update on service_requests
    referencing old table as fleet_old new table as fleet_new for each statement
    execute function fleet_tenant_rows_updated('product_id', 'severity', 'status');

drop trigger fleet_version_updated on sites;
create trigger fleet_version_updated after update on sites
    referencing old table as fleet_old new table as fleet_new for each statement
    execute function fleet_tenant_rows_updated('name', 'city', 'country');

-- A group's name or description is not part of its summary.
drop trigger fleet_version_updated on custom_groups;
create trigger fleet_version_updated after update on custom_groups
    referencing old table as fleet_old new table as fleet_new for each statement
    execute function fleet_tenant_rows_updated('owner_id');

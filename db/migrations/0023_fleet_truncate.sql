-- TRUNCATE fires no row or statement triggers of DML: keep the roll-ups and
-- the summary versions right when a table behind them is emptied that way.

create function fleet_products_truncated() returns trigger
language plpgsql as $$
begin
    truncate fleet_cells, fleet_site_totals, fleet_family_totals, product_open_requests;
    update fleet_versions set version = version + 1;
    return null;
end
$$;

create trigger fleet_products_truncated after truncate on products
    for each statement execute function fleet_products_truncated();

create function fleet_service_requests_truncated() returns trigger
language plpgsql as $$
begin
    update fleet_cells set sr_open = 0, sr_critical = 0, sr_high = 0, sr_medium = 0, sr_low = 0
     where sr_open <> 0;
    update fleet_site_totals set sr_open = 0, sr_critical = 0, sr_high = 0, sr_medium = 0,
           sr_low = 0
     where sr_open <> 0;
    update fleet_family_totals set sr_open = 0, sr_critical = 0, sr_high = 0, sr_medium = 0,
           sr_low = 0
     where sr_open <> 0;
    truncate product_open_requests;
    update fleet_versions set version = version + 1;
    return null;
end
$$;

create trigger fleet_service_requests_truncated after truncate on service_requests
    for each statement execute function fleet_service_requests_truncated();

create function fleet_versions_all_bumped() returns trigger
language plpgsql as $$
begin
    update fleet_versions set version = version + 1;
    return null;
end
$$;

do $$
declare
    t text;
begin
    foreach t in array array['sites', 'user_sites', 'custom_groups', 'custom_group_products',
                             'custom_group_families', 'custom_group_sites'] loop
        execute format(
            'create trigger fleet_version_truncated after truncate on %I '
            'for each statement execute function fleet_versions_all_bumped()', t);
    end loop;
end
$$;

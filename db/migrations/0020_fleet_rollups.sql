-- Fleet roll-ups for the Summary tab (DESIGN §6).
--
-- A summary over a large tenant must not read every product. The counters
-- every Summary needs are kept, exact, at three grains by statement-level
-- triggers on products and service_requests:
--   fleet_cells          per organization x site x family
--   fleet_site_totals    per organization x site
--   fleet_family_totals  per organization x family
-- A summary reads the coarsest grain its rule allows (whole fleet: 12 family
-- rows; a sites-only group: one row per site; families x sites: the cells).
--
-- Contract buckets depend on "today" in the organization's time zone. They
-- are kept relative to fleet_rollup_dates.as_of; a read corrects them for the
-- few products whose bucket changed between as_of and today (three narrow
-- date ranges on an index), and fleet_refresh_contract_buckets() moves those
-- products and advances as_of, so the correction stays small.

create table fleet_rollup_dates (
    organization_id bigint primary key,
    as_of date not null
);

create function fleet_contract_bucket(ends_on date, as_of date) returns smallint
language sql immutable parallel safe as $$
    select (case
        when ends_on is null then 3         -- active: no end date
        when ends_on < as_of then 0         -- expired
        when ends_on <= as_of + 30 then 1   -- ending within 30 days
        when ends_on <= as_of + 90 then 2   -- ending in 31 to 90 days
        else 3                              -- active
    end)::smallint
$$;

-- The counters, identical at the three grains. contract_within_90 holds only
-- days 31..90; the API's endingWithin90Days adds contract_within_30.
create table fleet_cells (
    organization_id bigint not null,
    site_id bigint not null,
    family_id bigint not null,
    products integer not null default 0,
    health_good integer not null default 0,
    health_warning integer not null default 0,
    health_critical integer not null default 0,
    health_unknown integer not null default 0,
    connected integer not null default 0,
    disconnected integer not null default 0,
    not_configured integer not null default 0,
    code_current integer not null default 0,
    code_update_available integer not null default 0,
    code_unknown integer not null default 0,
    contract_expired integer not null default 0,
    contract_within_30 integer not null default 0,
    contract_within_90 integer not null default 0,
    contract_active integer not null default 0,
    sr_open integer not null default 0,
    sr_critical integer not null default 0,
    sr_high integer not null default 0,
    sr_medium integer not null default 0,
    sr_low integer not null default 0,
    primary key (organization_id, site_id, family_id)
);
create index fleet_cells_family on fleet_cells (organization_id, family_id, site_id);

create table fleet_site_totals (like fleet_cells including defaults);
alter table fleet_site_totals drop column family_id;
alter table fleet_site_totals add primary key (organization_id, site_id);

create table fleet_family_totals (like fleet_cells including defaults);
alter table fleet_family_totals drop column site_id;
alter table fleet_family_totals add primary key (organization_id, family_id);

-- Open service requests per product (Product.openServiceRequestCount, and
-- what a product carries with it when it moves between cells). No foreign
-- key: when a product is deleted, its requests cascade first and the
-- product's own trigger still needs these numbers to take them out.
create table product_open_requests (
    product_id bigint primary key,
    organization_id bigint not null,
    open integer not null default 0,
    critical integer not null default 0,
    high integer not null default 0,
    medium integer not null default 0,
    low integer not null default 0
);

create index products_org_contract on products (organization_id, contract_ends_on)
    where contract_ends_on is not null;

-- The statement that adds signed per-cell deltas (a query yielding the
-- fleet_cells columns) to the three grains, in key order so that concurrent
-- writers lock rows alike. Returned as text and run by the trigger itself:
-- transition tables are visible only to the trigger function's own queries.
create function fleet_deltas_sql(delta_sql text) returns text
language plpgsql immutable as $$
declare
    counters constant text[] := array[
        'products', 'health_good', 'health_warning', 'health_critical', 'health_unknown',
        'connected', 'disconnected', 'not_configured', 'code_current',
        'code_update_available', 'code_unknown', 'contract_expired', 'contract_within_30',
        'contract_within_90', 'contract_active', 'sr_open', 'sr_critical', 'sr_high',
        'sr_medium', 'sr_low'];
    cols text;
    sums text;
    sets_cells text;
    sets_sites text;
    sets_families text;
begin
    select string_agg(quote_ident(c), ', '),
           string_agg(format('sum(%1$I)::integer as %1$I', c), ', '),
           string_agg(format('%1$I = fleet_cells.%1$I + excluded.%1$I', c), ', '),
           string_agg(format('%1$I = fleet_site_totals.%1$I + excluded.%1$I', c), ', '),
           string_agg(format('%1$I = fleet_family_totals.%1$I + excluded.%1$I', c), ', ')
      into cols, sums, sets_cells, sets_sites, sets_families
      from unnest(counters) as c;
    return format($sql$
        with d as (
            select organization_id, site_id, family_id, %2$s
              from (%1$s) as raw
             group by organization_id, site_id, family_id
        ),
        cells as (
            insert into fleet_cells (organization_id, site_id, family_id, %3$s)
            select organization_id, site_id, family_id, %3$s from d
             order by organization_id, site_id, family_id
            on conflict (organization_id, site_id, family_id) do update set %4$s
        ),
        sites as (
            insert into fleet_site_totals (organization_id, site_id, %3$s)
            select organization_id, site_id, %2$s from d
             group by organization_id, site_id order by organization_id, site_id
            on conflict (organization_id, site_id) do update set %5$s
        )
        insert into fleet_family_totals (organization_id, family_id, %3$s)
        select organization_id, family_id, %2$s from d
         group by organization_id, family_id order by organization_id, family_id
        on conflict (organization_id, family_id) do update set %6$s
        $sql$, delta_sql, sums, cols, sets_cells, sets_sites, sets_families);
end
$$;

-- One product row as signed counters, its contract bucketed at `as_of`.
-- `p` must have the products columns plus `sign`; `r` is its
-- product_open_requests row (or nulls); `a` its fleet_rollup_dates row.
create function fleet_product_delta_sql(source text) returns text
language sql immutable as $$
    select format($sql$
        select p.organization_id, p.site_id, p.family_id,
               p.sign as products,
               p.sign * (p.health = 'GOOD')::int as health_good,
               p.sign * (p.health = 'WARNING')::int as health_warning,
               p.sign * (p.health = 'CRITICAL')::int as health_critical,
               p.sign * (p.health = 'UNKNOWN')::int as health_unknown,
               p.sign * (p.connectivity = 'CONNECTED')::int as connected,
               p.sign * (p.connectivity = 'DISCONNECTED')::int as disconnected,
               p.sign * (p.connectivity = 'NOT_CONFIGURED')::int as not_configured,
               p.sign * (p.code_status = 'CURRENT')::int as code_current,
               p.sign * (p.code_status = 'UPDATE_AVAILABLE')::int as code_update_available,
               p.sign * (p.code_status = 'UNKNOWN')::int as code_unknown,
               p.sign * (fleet_contract_bucket(p.contract_ends_on, a.as_of) = 0)::int
                   as contract_expired,
               p.sign * (fleet_contract_bucket(p.contract_ends_on, a.as_of) = 1)::int
                   as contract_within_30,
               p.sign * (fleet_contract_bucket(p.contract_ends_on, a.as_of) = 2)::int
                   as contract_within_90,
               p.sign * (fleet_contract_bucket(p.contract_ends_on, a.as_of) = 3)::int
                   as contract_active,
               p.sign * coalesce(r.open, 0) as sr_open,
               p.sign * coalesce(r.critical, 0) as sr_critical,
               p.sign * coalesce(r.high, 0) as sr_high,
               p.sign * coalesce(r.medium, 0) as sr_medium,
               p.sign * coalesce(r.low, 0) as sr_low
          from (%s) as p
          join fleet_rollup_dates a on a.organization_id = p.organization_id
          left join product_open_requests r on r.product_id = p.id
        $sql$, source)
$$;

create function fleet_products_changed() returns trigger
language plpgsql as $$
declare
    source text;
    orgs text;
begin
    if tg_op = 'INSERT' then
        source := 'select 1 as sign, n.* from fleet_new n';
        orgs := 'select organization_id from fleet_new';
    elsif tg_op = 'DELETE' then
        source := 'select -1 as sign, o.* from fleet_old o';
        orgs := 'select organization_id from fleet_old';
    else
        -- Only rows whose counted attributes changed (not e.g. a rename).
        source := $src$
            select s.sign, (s.row).* from (
                select -1 as sign, o as row from fleet_old o join fleet_new n using (id)
                 where (o.organization_id, o.site_id, o.family_id, o.health, o.connectivity,
                        o.code_status, o.contract_ends_on)
                       is distinct from
                       (n.organization_id, n.site_id, n.family_id, n.health, n.connectivity,
                        n.code_status, n.contract_ends_on)
                union all
                select 1, n from fleet_old o join fleet_new n using (id)
                 where (o.organization_id, o.site_id, o.family_id, o.health, o.connectivity,
                        o.code_status, o.contract_ends_on)
                       is distinct from
                       (n.organization_id, n.site_id, n.family_id, n.health, n.connectivity,
                        n.code_status, n.contract_ends_on)
            ) as s
        $src$;
        orgs := 'select organization_id from fleet_new';
    end if;
    -- "Today" of a tenant seen for the first time; then share-lock the dates so
    -- that a concurrent refresh of the buckets waits for this transaction.
    execute format($sql$
        insert into fleet_rollup_dates (organization_id, as_of)
        select o.id, (now() at time zone o.time_zone)::date
          from organizations o where o.id in (%s)
        on conflict (organization_id) do nothing
        $sql$, orgs);
    execute format(
        'select 1 from fleet_rollup_dates where organization_id in (%s) '
        'order by organization_id for share', orgs);
    execute fleet_deltas_sql(fleet_product_delta_sql(source));
    if tg_op = 'DELETE' then
        delete from product_open_requests r using fleet_old o where r.product_id = o.id;
    end if;
    return null;
end
$$;

create trigger fleet_products_inserted after insert on products
    referencing new table as fleet_new for each statement
    execute function fleet_products_changed();
create trigger fleet_products_updated after update on products
    referencing old table as fleet_old new table as fleet_new for each statement
    execute function fleet_products_changed();
create trigger fleet_products_deleted after delete on products
    referencing old table as fleet_old for each statement
    execute function fleet_products_changed();

create function fleet_service_requests_changed() returns trigger
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
         group by p.id
        $sql$, source);
    execute format($sql$
        insert into product_open_requests
               (product_id, organization_id, open, critical, high, medium, low)
        select product_id, organization_id, open, critical, high, medium, low
          from (%s) as d order by product_id
        on conflict (product_id) do update set
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

create trigger fleet_service_requests_inserted after insert on service_requests
    referencing new table as fleet_new for each statement
    execute function fleet_service_requests_changed();
create trigger fleet_service_requests_updated after update on service_requests
    referencing old table as fleet_old new table as fleet_new for each statement
    execute function fleet_service_requests_changed();
create trigger fleet_service_requests_deleted after delete on service_requests
    referencing old table as fleet_old for each statement
    execute function fleet_service_requests_changed();

-- Moves the products whose contract bucket changed since as_of and advances
-- as_of to the organization's today. Safe to run at any time, any number of
-- times; reads are exact with or without it.
create function fleet_refresh_contract_buckets(org bigint) returns integer
language plpgsql as $$
declare
    old_day date;
    new_day date;
    lo date;
    hi date;
    moved integer;
begin
    select d.as_of, (now() at time zone o.time_zone)::date into old_day, new_day
      from fleet_rollup_dates d join organizations o on o.id = d.organization_id
     where d.organization_id = org
       for update of d;
    if old_day is null or old_day = new_day then
        return 0;
    end if;
    lo := least(old_day, new_day);
    hi := greatest(old_day, new_day);
    execute fleet_deltas_sql($sql$
        select organization_id, site_id, family_id,
               0 as products, 0 as health_good, 0 as health_warning, 0 as health_critical,
               0 as health_unknown, 0 as connected, 0 as disconnected, 0 as not_configured,
               0 as code_current, 0 as code_update_available, 0 as code_unknown,
               (b_new = 0)::int - (b_old = 0)::int as contract_expired,
               (b_new = 1)::int - (b_old = 1)::int as contract_within_30,
               (b_new = 2)::int - (b_old = 2)::int as contract_within_90,
               (b_new = 3)::int - (b_old = 3)::int as contract_active,
               0 as sr_open, 0 as sr_critical, 0 as sr_high, 0 as sr_medium, 0 as sr_low
          from (
            select p.organization_id, p.site_id, p.family_id,
                   fleet_contract_bucket(p.contract_ends_on, $2) as b_old,
                   fleet_contract_bucket(p.contract_ends_on, $3) as b_new
              from products p
             where p.organization_id = $1
               and (p.contract_ends_on between $4 and $5 - 1
                    or p.contract_ends_on between $4 + 31 and $5 + 30
                    or p.contract_ends_on between $4 + 91 and $5 + 90)
          ) as m
         where b_old <> b_new
        $sql$) using org, old_day, new_day, lo, hi;
    get diagnostics moved = row_count;  -- family rows touched, for logs
    update fleet_rollup_dates set as_of = new_day where organization_id = org;
    return moved;
end
$$;

-- Backfill what exists already (a database migrated after its data loaded).
insert into fleet_rollup_dates (organization_id, as_of)
select o.id, (now() at time zone o.time_zone)::date from organizations o;

insert into product_open_requests (product_id, organization_id, open, critical, high, medium, low)
select product_id, organization_id, count(*),
       count(*) filter (where severity = 'CRITICAL'), count(*) filter (where severity = 'HIGH'),
       count(*) filter (where severity = 'MEDIUM'), count(*) filter (where severity = 'LOW')
  from service_requests where status <> 'CLOSED'
 group by product_id, organization_id;

do $$
begin
    execute fleet_deltas_sql(fleet_product_delta_sql('select 1 as sign, x.* from products x'));
end
$$;

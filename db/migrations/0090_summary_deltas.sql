-- A cheap first read after a write (DESIGN §6): a stored summary a few
-- product writes old is moved forward by what those writes changed, instead
-- of being computed again from the roll-ups (0.1-0.5 s for a 50-group
-- dashboard at 100k products; the delta costs milliseconds).
--
-- 1. Product and service-request writes of a tenant record what they changed
--    in `fleet_changes`: each product's image before (-1) and after (+1), or a
--    request count delta (0), tagged with the tenant version the write made.
-- 2. Every other summary write (groups, scopes, sites, time zone, bulk writes
--    past CHANGE_LOG_LIMIT rows, truncation) moves `rebuild_version` with
--    `version`: a stored summary older than it must be computed again.
-- 3. fleet_advance_summaries() moves a stored summary from its version to the
--    current one by those images: counters by their signed sum (contract
--    buckets at today's date, as the stored row is), families by their
--    product deltas, top sites by the touched sites' counts read from the
--    roll-ups. It answers only what it can prove exact; the rest is computed.
--
-- Also: a stored summary records whether its viewer saw every site, and is
-- read only by a viewer with the same scope. A statement that began before a
-- viewer's scope changed could otherwise store an answer of the old scope
-- under the new version.

alter table fleet_versions
    add column rebuild_version bigint not null default 0,
    add column delta_version bigint;
update fleet_versions set rebuild_version = version;

alter table summary_cache add column all_sites boolean;

-- Migration 0050's trigger, plus: a version bump is a rebuild unless its
-- writer set delta_version to the new version (only the change log does).
create or replace function fleet_versions_keep_data_version() returns trigger
language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        new.data_version := greatest(new.data_version, new.version);
        if new.delta_version is distinct from new.version then
            new.rebuild_version := new.version;
        end if;
    elsif new.version <> old.version then
        if new.data_version <= old.data_version then
            new.data_version := old.data_version + 1;
        end if;
        if new.delta_version is distinct from new.version then
            new.rebuild_version := new.version;
        end if;
    end if;
    return new;
end
$$;

create table fleet_changes (
    organization_id bigint not null,
    version bigint not null,
    id bigint generated always as identity,
    product_id bigint not null,
    site_id bigint not null,
    family_id bigint not null,
    -- +1 the product as it is after, -1 as it was before, 0 only its open
    -- service requests changed (by the sr_* deltas).
    products smallint not null check (products between -1 and 1),
    health text,
    connectivity text,
    code_status text,
    contract_ends_on date,
    sr_open integer not null,
    sr_critical integer not null,
    sr_high integer not null,
    sr_medium integer not null,
    sr_low integer not null,
    recorded_at timestamptz not null default now(),
    primary key (organization_id, version, id)
);
create index fleet_changes_recorded on fleet_changes (recorded_at);

-- Past this many images per tenant in one statement (a bulk import), a write
-- is a rebuild: moving 51 summaries by thousands of images costs more than
-- computing them.
create function fleet_change_log_limit() returns integer
language sql immutable as $$ select 256 $$;

-- The statement that records `images` (a query with the fleet_changes
-- columns but version, id and recorded_at) for tenants with few of them,
-- bumping their version as a delta, and bumps the other tenants' versions as
-- rebuilds; it yields the tenants whose version moved. Returned as text and
-- run by the trigger itself: transition tables are visible only to the
-- trigger function's own queries (as fleet_deltas_sql, migration 0020).
create function fleet_log_changes_sql(images text) returns text
language sql immutable as $$
    select format($sql$
        with images as materialized (%s),
        per_tenant as (
            select organization_id, count(*) as n from images group by organization_id
        ),
        rebuilt as (
            select fleet_bump_versions(array_agg(organization_id)) from per_tenant
             where n > fleet_change_log_limit()
            having count(*) > 0
        ),
        bumped as (
            insert into fleet_versions (organization_id, version, delta_version)
            select organization_id, 1, 1 from per_tenant
             where n <= fleet_change_log_limit()
             order by organization_id
            on conflict (organization_id) do update
               set version = fleet_versions.version + 1,
                   delta_version = fleet_versions.version + 1
            returning organization_id, version
        ),
        logged as (
            insert into fleet_changes
                   (organization_id, version, product_id, site_id, family_id, products, health,
                    connectivity, code_status, contract_ends_on, sr_open, sr_critical, sr_high,
                    sr_medium, sr_low)
            select i.organization_id, b.version, i.product_id, i.site_id, i.family_id,
                   i.products, i.health, i.connectivity, i.code_status, i.contract_ends_on,
                   i.sr_open, i.sr_critical, i.sr_high, i.sr_medium, i.sr_low
              from images i
              join bumped b using (organization_id)
        )
        select coalesce(array_agg(organization_id), '{}')
          from per_tenant
         where (select count(*) from rebuilt) >= 0
        $sql$, images)
$$;

-- A product image: `p` has the products columns and `sign`; its open
-- requests come from product_open_requests (still there on delete: this
-- trigger fires before fleet_products_deleted, which takes them out).
create function fleet_product_images_sql(source text) returns text
language sql immutable as $$
    select format($sql$
        select p.organization_id, p.id as product_id, p.site_id, p.family_id,
               p.sign::smallint as products, p.health, p.connectivity, p.code_status,
               p.contract_ends_on,
               p.sign * coalesce(r.open, 0) as sr_open,
               p.sign * coalesce(r.critical, 0) as sr_critical,
               p.sign * coalesce(r.high, 0) as sr_high,
               p.sign * coalesce(r.medium, 0) as sr_medium,
               p.sign * coalesce(r.low, 0) as sr_low
          from (%s) as p
          left join product_open_requests r
            on r.organization_id = p.organization_id and r.product_id = p.id
        $sql$, source)
$$;

-- Replaces the version triggers of products (migrations 0021, 0022, 0050).
create function fleet_products_logged() returns trigger
language plpgsql as $$
declare
    source text;
    summary_orgs bigint[];
    touched_orgs bigint[];
begin
    if tg_op = 'INSERT' then
        source := 'select 1 as sign, n.* from fleet_new n';
    elsif tg_op = 'DELETE' then
        source := 'select -1 as sign, o.* from fleet_old o';
    else
        -- Rows whose counted attributes changed (a rename is not a summary change).
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
    end if;
    execute fleet_log_changes_sql(fleet_product_images_sql(source)) into summary_orgs;
    if tg_op = 'UPDATE' then
        -- Anything else rewritten (a name) changes what lists show: data version.
        select array_agg(distinct n.organization_id) into touched_orgs
          from fleet_old o join fleet_new n using (id)
         where o is distinct from n and n.organization_id <> all(summary_orgs);
        if touched_orgs is not null then
            perform fleet_bump_data_versions(touched_orgs);
        end if;
    end if;
    return null;
end
$$;

-- Replaces the version triggers of service_requests: a request changes a
-- summary only through its product's open-request counters. Requests of a
-- product being deleted are left to the product's image (as in the roll-ups).
create function fleet_service_requests_logged() returns trigger
language plpgsql as $$
declare
    source text;
    summary_orgs bigint[];
    touched_orgs bigint[];
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
    execute fleet_log_changes_sql(format($sql$
        select * from (
            select p.organization_id, p.id as product_id, p.site_id, p.family_id,
                   0::smallint as products, null::text as health, null::text as connectivity,
                   null::text as code_status, null::date as contract_ends_on,
                   sum(c.sign)::int as sr_open,
                   coalesce(sum(c.sign) filter (where c.severity = 'CRITICAL'), 0)::int
                       as sr_critical,
                   coalesce(sum(c.sign) filter (where c.severity = 'HIGH'), 0)::int as sr_high,
                   coalesce(sum(c.sign) filter (where c.severity = 'MEDIUM'), 0)::int
                       as sr_medium,
                   coalesce(sum(c.sign) filter (where c.severity = 'LOW'), 0)::int as sr_low
              from (%s) as c
              join products p on p.id = c.product_id
             group by p.organization_id, p.id
        ) as d
         where (sr_open, sr_critical, sr_high, sr_medium, sr_low) <> (0, 0, 0, 0, 0)
        $sql$, source))
        into summary_orgs;
    -- A request written with no count change (a title, a status between two
    -- open ones) still changes what lists show.
    if tg_op = 'UPDATE' then
        select array_agg(distinct n.organization_id) into touched_orgs
          from fleet_old o join fleet_new n using (id)
         where o is distinct from n and n.organization_id <> all(summary_orgs);
    elsif tg_op = 'INSERT' then
        select array_agg(distinct organization_id) into touched_orgs
          from fleet_new where organization_id <> all(summary_orgs);
    else
        select array_agg(distinct organization_id) into touched_orgs
          from fleet_old where organization_id <> all(summary_orgs);
    end if;
    if touched_orgs is not null then
        perform fleet_bump_data_versions(touched_orgs);
    end if;
    return null;
end
$$;

do $$
declare
    t text;
    f text;
begin
    foreach t in array array['products', 'service_requests'] loop
        f := case t when 'products' then 'fleet_products_logged'
                    else 'fleet_service_requests_logged' end;
        execute format('drop trigger fleet_version_inserted on %I', t);
        execute format('drop trigger fleet_version_updated on %I', t);
        execute format('drop trigger fleet_version_deleted on %I', t);
        -- Named to fire before the roll-up triggers (alphabetical order): a
        -- deleted product's open requests are still in product_open_requests.
        execute format(
            'create trigger fleet_changes_inserted after insert on %I '
            'referencing new table as fleet_new for each statement execute function %I()', t, f);
        execute format(
            'create trigger fleet_changes_updated after update on %I '
            'referencing old table as fleet_old new table as fleet_new for each statement '
            'execute function %I()', t, f);
        execute format(
            'create trigger fleet_changes_deleted after delete on %I '
            'referencing old table as fleet_old for each statement execute function %I()', t, f);
    end loop;
end
$$;

-- Migration 0026's fill, its update list now read from summary_cache's own
-- columns (here: all_sites joins them), so that a column added later needs no
-- copy of this function.
do $do$
begin
    execute format($create$
        create or replace function summary_cache_fill(p_rows summary_cache[]) returns integer
        language plpgsql volatile as $fn$
        declare
            stored integer;
        begin
            if p_rows is null or cardinality(p_rows) = 0 then
                return 0;
            end if;
            insert into summary_cache as c
            select r.* from unnest(p_rows) as r
             order by r.view_key  -- one lock order for concurrent fillers
            on conflict on constraint summary_cache_pkey do update set %s
             where c.version <= excluded.version;
            get diagnostics stored = row_count;
            return stored;
        exception
            when serialization_failure or deadlock_detected then
                return 0;
        end;
        $fn$
        $create$,
        (select string_agg(format('%1$I = excluded.%1$I', a.attname), ', ' order by a.attnum)
           from pg_attribute a
          where a.attrelid = 'summary_cache'::regclass and a.attnum > 0
            and not a.attisdropped and a.attname not in ('user_id', 'view_key')));
end
$do$;

-- The stored summaries of `p_keys` that are behind the tenant's version only
-- by logged product changes, moved to the current version (whole
-- summary_cache rows, ready to store). Views it cannot prove exact are left out: not
-- stored, stored for another scope or day, older than the last rebuild or
-- than the log, or whose top sites a shrinking site could reorder past the
-- stored list's end. The caller computes those.
create function fleet_advance_summaries(
    p_org bigint, p_user bigint, p_all_sites boolean, p_keys bigint[], p_top integer)
returns setof summary_cache
language plpgsql stable
-- One plan per connection: planning this statement costs more than running it.
set plan_cache_mode = force_generic_plan
as $fn$
declare
    v_now bigint;
    v_rebuild bigint;
    v_today date;
    v_from bigint;
    v_images integer;
    v_versions integer;
begin
    if p_keys is null or cardinality(p_keys) = 0 then
        return;
    end if;
    select fv.version, fv.rebuild_version into v_now, v_rebuild
      from fleet_versions fv where fv.organization_id = p_org;
    select (now() at time zone o.time_zone)::date into v_today
      from organizations o where o.id = p_org;
    if v_now is null or v_today is null then
        return;
    end if;
    select min(c.version) into v_from
      from summary_cache c
     where c.organization_id = p_org and c.user_id = p_user and c.view_key = any(p_keys)
       and c.all_sites = p_all_sites and c.today = v_today
       and c.version >= v_rebuild and c.version < v_now;
    if v_from is null or v_now - v_from > fleet_change_log_limit() then
        return;
    end if;
    -- Every version since the oldest stored summary must still be in the log
    -- (it is purged by age), and few enough images to beat a computation.
    select count(*), count(distinct l.version) into v_images, v_versions
      from fleet_changes l
     where l.organization_id = p_org and l.version > v_from and l.version <= v_now;
    if v_versions <> v_now - v_from or v_images > fleet_change_log_limit() then
        return;
    end if;
    return query
    with visible as (
        select array_agg(us.site_id) as ids from user_sites us
         where us.user_id = p_user and us.organization_id = p_org
    ),
    stale as materialized (
        -- Groups, their rules and site visibility are as they were at the
        -- stored version: changing any of them is a rebuild.
        select c.*, g.fams, g.sites
          from summary_cache c
          left join fleet_viewer_groups(p_org, p_user, p_keys) as g on g.group_id = c.view_key
         where c.organization_id = p_org and c.user_id = p_user and c.view_key = any(p_keys)
           and c.all_sites = p_all_sites and c.today = v_today
           and c.version >= v_rebuild and c.version < v_now
           and (c.view_key = 0 or g.group_id is not null)
    ),
    images as materialized (
        -- At most fleet_change_log_limit() rows (checked above).
        select l.* from fleet_changes l
         where l.organization_id = p_org and l.version > v_from and l.version <= v_now
    ),
    hits as materialized (
        -- The images each view counts: visible, and in the group by its rule or listed.
        select s.view_key, l.product_id, l.site_id, l.family_id, l.products, l.health,
               l.connectivity, l.code_status, l.contract_ends_on, l.sr_open, l.sr_critical,
               l.sr_high, l.sr_medium, l.sr_low
          from stale s
          join images l on l.version > s.version
         where (p_all_sites or l.site_id = any(coalesce((select ids from visible), '{}')))
           and (s.view_key = 0
                or fleet_group_rule_matches(s.fams, s.sites, l.family_id, l.site_id)
                or exists (select 1 from custom_group_products gp
                            where gp.group_id = s.view_key and gp.product_id = l.product_id))
    ),
    deltas as materialized (
        select h.view_key,
               sum(h.products)::int as products,
               sum(case when h.health = 'GOOD' then h.products else 0 end)::int as health_good,
               sum(case when h.health = 'WARNING' then h.products else 0 end)::int as health_warning,
               sum(case when h.health = 'CRITICAL' then h.products else 0 end)::int as health_critical,
               sum(case when h.health = 'UNKNOWN' then h.products else 0 end)::int as health_unknown,
               sum(case when h.connectivity = 'CONNECTED' then h.products else 0 end)::int as connected,
               sum(case when h.connectivity = 'DISCONNECTED' then h.products else 0 end)::int as disconnected,
               sum(case when h.connectivity = 'NOT_CONFIGURED' then h.products else 0 end)::int as not_configured,
               sum(case when h.code_status = 'CURRENT' then h.products else 0 end)::int as code_current,
               sum(case when h.code_status = 'UPDATE_AVAILABLE' then h.products else 0 end)::int as code_update_available,
               sum(case when h.code_status = 'UNKNOWN' then h.products else 0 end)::int as code_unknown,
               sum(case when fleet_contract_bucket(h.contract_ends_on, v_today) = 0 then h.products else 0 end)::int as contract_expired,
               sum(case when fleet_contract_bucket(h.contract_ends_on, v_today) = 1 then h.products else 0 end)::int as contract_within_30,
               sum(case when fleet_contract_bucket(h.contract_ends_on, v_today) = 2 then h.products else 0 end)::int as contract_within_90,
               sum(case when fleet_contract_bucket(h.contract_ends_on, v_today) = 3 then h.products else 0 end)::int as contract_active,
               sum(h.sr_open)::int as sr_open,
               sum(h.sr_critical)::int as sr_critical,
               sum(h.sr_high)::int as sr_high,
               sum(h.sr_medium)::int as sr_medium,
               sum(h.sr_low)::int as sr_low
          from hits h
         group by h.view_key
    ),
    family_deltas as materialized (
        select h.view_key, h.family_id, sum(h.products)::int as d from hits h
         group by h.view_key, h.family_id having sum(h.products) <> 0
    ),
    new_families as materialized (
        select s.view_key,
               array_agg(x.family_id order by x.n desc, x.family_id) as family_ids,
               array_agg(pf.name order by x.n desc, x.family_id) as family_names,
               array_agg(x.n order by x.n desc, x.family_id) as family_counts
          from stale s
          cross join lateral (
              select u.family_id, sum(u.n)::int as n from (
                  select f.id as family_id, f.n
                    from unnest(s.family_ids, s.family_counts) as f(id, n)
                  union all
                  select fd.family_id, fd.d from family_deltas fd where fd.view_key = s.view_key
              ) as u
               group by u.family_id having sum(u.n) > 0
          ) as x
          join product_families pf on pf.id = x.family_id
         where s.view_key in (select fd.view_key from family_deltas fd)
         group by s.view_key
    ),
    site_deltas as (
        select h.view_key, h.site_id, sum(h.products)::int as d from hits h
         group by h.view_key, h.site_id having sum(h.products) <> 0
    ),
    touched as materialized (
        -- A touched site's count in the view now, from the roll-ups (its
        -- count before is that minus the delta).
        select sd.view_key, sd.site_id, sd.d,
               case when not (p_all_sites
                              or sd.site_id = any(coalesce((select ids from visible), '{}')))
                    then 0
                    else coalesce((
                        select sum(c.products) from fleet_cells c
                         where c.organization_id = p_org and c.site_id = sd.site_id
                           and (sd.view_key = 0
                                or fleet_group_rule_matches(s.fams, s.sites, c.family_id,
                                                            c.site_id))), 0)::int
                       + (select count(*) from custom_group_products gp
                            join products p on p.organization_id = p_org and p.id = gp.product_id
                           where sd.view_key <> 0 and gp.group_id = sd.view_key
                             and p.site_id = sd.site_id
                             and not fleet_group_rule_matches(s.fams, s.sites, p.family_id,
                                                              p.site_id))::int
               end as n
          from site_deltas sd
          join stale s on s.view_key = sd.view_key
    ),
    site_candidates as materialized (
        -- Untouched sites of the stored list keep their count; touched ones
        -- come with theirs. Sites beyond a cut list rank below its last one.
        select s.view_key, x.site_id, x.n
          from stale s
          cross join lateral (
              select u.id as site_id, u.n
                from unnest(s.site_ids, s.site_counts) as u(id, n)
               where not exists (select 1 from touched t
                                  where t.view_key = s.view_key and t.site_id = u.id)
              union all
              select t.site_id, t.n from touched t where t.view_key = s.view_key and t.n > 0
          ) as x
         where s.view_key in (select t.view_key from touched t)
    ),
    site_checks as materialized (
        select s.view_key,
               s.site_count + coalesce((
                   select sum((t.n > 0)::int - ((t.n - t.d) > 0)::int)::int from touched t
                    where t.view_key = s.view_key), 0) as site_count,
               -- Exact when the stored list held every site, or when enough
               -- sites still rank at or above its last one to fill it.
               cardinality(s.site_ids) >= s.site_count
               or (select count(*) from site_candidates c
                    where c.view_key = s.view_key
                      and (c.n > s.site_counts[cardinality(s.site_counts)]
                           or (c.n = s.site_counts[cardinality(s.site_counts)]
                               and c.site_id <= s.site_ids[cardinality(s.site_ids)])))
                  >= cardinality(s.site_ids) as exact
          from stale s
         where s.view_key in (select t.view_key from touched t)
    ),
    new_sites as materialized (
        select r.view_key,
               array_agg(r.site_id order by r.rank) filter (where r.rank <= p_top) as site_ids,
               array_agg(r.n order by r.rank) filter (where r.rank <= p_top) as site_counts,
               array_agg(st.name order by r.rank) filter (where r.rank <= p_top) as site_names,
               array_agg(st.city order by r.rank) filter (where r.rank <= p_top) as site_cities,
               array_agg(st.country::text order by r.rank) filter (where r.rank <= p_top)
                   as site_countries
          from (select c.view_key, c.site_id, c.n,
                       row_number() over (partition by c.view_key order by c.n desc, c.site_id)
                           as rank
                  from site_candidates c) as r
          left join sites st
            on st.organization_id = p_org and st.id = r.site_id and r.rank <= p_top
         group by r.view_key
    )
    select p_user, s.view_key, p_org, v_now, v_today,
           s.products + coalesce(d.products, 0),
           s.health_good + coalesce(d.health_good, 0),
           s.health_warning + coalesce(d.health_warning, 0),
           s.health_critical + coalesce(d.health_critical, 0),
           s.health_unknown + coalesce(d.health_unknown, 0),
           s.connected + coalesce(d.connected, 0),
           s.disconnected + coalesce(d.disconnected, 0),
           s.not_configured + coalesce(d.not_configured, 0),
           s.code_current + coalesce(d.code_current, 0),
           s.code_update_available + coalesce(d.code_update_available, 0),
           s.code_unknown + coalesce(d.code_unknown, 0),
           s.contract_expired + coalesce(d.contract_expired, 0),
           s.contract_within_30 + coalesce(d.contract_within_30, 0),
           s.contract_within_90 + coalesce(d.contract_within_90, 0),
           s.contract_active + coalesce(d.contract_active, 0),
           s.sr_open + coalesce(d.sr_open, 0),
           s.sr_critical + coalesce(d.sr_critical, 0),
           s.sr_high + coalesce(d.sr_high, 0),
           s.sr_medium + coalesce(d.sr_medium, 0),
           s.sr_low + coalesce(d.sr_low, 0),
           coalesce(sc.site_count, s.site_count),
           case when s.view_key in (select fd.view_key from family_deltas fd)
                then coalesce(nf.family_ids, '{}') else s.family_ids end,
           case when s.view_key in (select fd.view_key from family_deltas fd)
                then coalesce(nf.family_names, '{}') else s.family_names end,
           case when s.view_key in (select fd.view_key from family_deltas fd)
                then coalesce(nf.family_counts, '{}') else s.family_counts end,
           case when sc.view_key is null then s.site_ids else coalesce(ns.site_ids, '{}') end,
           case when sc.view_key is null then s.site_names else coalesce(ns.site_names, '{}') end,
           case when sc.view_key is null then s.site_cities
                else coalesce(ns.site_cities, '{}') end,
           case when sc.view_key is null then s.site_countries
                else coalesce(ns.site_countries, '{}') end,
           case when sc.view_key is null then s.site_counts
                else coalesce(ns.site_counts, '{}') end,
           p_all_sites
      from stale s
      left join deltas d on d.view_key = s.view_key
      left join new_families nf on nf.view_key = s.view_key
      left join site_checks sc on sc.view_key = s.view_key
      left join new_sites ns on ns.view_key = s.view_key
     where sc.exact is not false;
end
$fn$;

-- A custom group's rule, written once: fleet_compute_summaries (here, replacing
-- migration 0025's copy) and the product statements of db/fleet.py use these.
--
-- A group is the viewer's own (owner and organization), else it is absent. Its
-- rule is its families and its sites (null: none chosen); a product matches when
-- the group has either and the product is of a chosen family (or any, when none
-- is chosen) at a chosen site (or any). Products listed explicitly belong to the
-- group as well; site visibility (user_sites) is applied by each caller on top.

create function fleet_viewer_groups(p_org bigint, p_user bigint, p_ids bigint[])
returns table (group_id bigint, fams bigint[], sites bigint[])
language sql stable as $fn$
    select g.id, f.ids, s.ids
      from custom_groups g
      left join lateral (select array_agg(cf.family_id) as ids
                           from custom_group_families cf where cf.group_id = g.id) f on true
      left join lateral (select array_agg(cs.site_id) as ids
                           from custom_group_sites cs where cs.group_id = g.id) s on true
     where g.id = any(p_ids) and g.owner_id = p_user and g.organization_id = p_org
$fn$;

create function fleet_group_rule_matches(
    p_fams bigint[], p_sites bigint[], p_family bigint, p_site bigint)
returns boolean
language sql immutable as $fn$
    select (p_fams is not null or p_sites is not null)
       and (p_fams is null or p_family = any(p_fams))
       and (p_sites is null or p_site = any(p_sites))
$fn$;

-- Migration 0025's function with its group lookup and rule through the above.
create or replace function fleet_compute_summaries(
    p_org bigint, p_user bigint, p_all_sites boolean, p_keys bigint[], p_top integer)
returns table (
    view_key bigint,
    products integer,
    health_good integer,
    health_warning integer,
    health_critical integer,
    health_unknown integer,
    connected integer,
    disconnected integer,
    not_configured integer,
    code_current integer,
    code_update_available integer,
    code_unknown integer,
    contract_expired integer,
    contract_within_30 integer,
    contract_within_90 integer,
    contract_active integer,
    sr_open integer,
    sr_critical integer,
    sr_high integer,
    sr_medium integer,
    sr_low integer,
    site_count integer,
    family_ids bigint[],
    family_names text[],
    family_counts integer[],
    site_ids bigint[],
    site_names text[],
    site_cities text[],
    site_countries text[],
    site_counts integer[]
)
language plpgsql stable as $fn$
#variable_conflict use_column
begin
    if p_keys is null or cardinality(p_keys) = 0 then
        return;
    end if;
    return query
    with day as (
        select (now() at time zone o.time_zone)::date as today, d.as_of
          from organizations o
          left join fleet_rollup_dates d on d.organization_id = o.id
         where o.id = p_org
    ),
    visible as (
        select array_agg(us.site_id) as ids from user_sites us
         where us.user_id = p_user and us.organization_id = p_org
    ),
    raw_views as (
        select k.key as view_key, g.group_id,
               coalesce(g.fams, '{}') as fams, coalesce(g.sites, '{}') as sites,
               g.fams as rule_fams, g.sites as rule_sites,
               (k.key = 0 or g.fams is not null or g.sites is not null) as has_rule
          from unnest(p_keys) as k(key)
          left join fleet_viewer_groups(p_org, p_user, p_keys) as g on g.group_id = k.key
         where k.key = 0 or g.group_id is not null
    ),
    views as materialized (
        -- eff_sites: the sites a view is restricted to (null: every site).
        select r.view_key, r.group_id, r.fams, r.sites, r.rule_fams, r.rule_sites, r.has_rule,
               case
                   when cardinality(r.sites) > 0 and p_all_sites then r.sites
                   when cardinality(r.sites) > 0 then array(
                       select x from unnest(r.sites) x
                        where x = any(coalesce((select ids from visible), '{}')))
                   when p_all_sites then null
                   else coalesce((select ids from visible), '{}')
               end as eff_sites
          from raw_views r
    ),
    family_rows_all as (
        select v.view_key, t.*
          from views v
          join fleet_family_totals t
            on t.organization_id = p_org
           and (cardinality(v.fams) = 0 or t.family_id = any(v.fams))
         where v.has_rule and v.eff_sites is null
    ),
    site_rows_all as (
        select v.view_key, t.site_id, t.products
          from views v
          join fleet_site_totals t on t.organization_id = p_org
         where v.has_rule and v.eff_sites is null and cardinality(v.fams) = 0
    ),
    fam_cells as (
        select v.view_key, t.site_id, t.products
          from views v
          cross join lateral unnest(v.fams) as f(id)
          join fleet_cells t on t.organization_id = p_org and t.family_id = f.id
         where v.has_rule and v.eff_sites is null
    ),
    site_rows_some as (
        select v.view_key, t.*
          from views v
          cross join lateral unnest(v.eff_sites) as s(id)
          join fleet_site_totals t on t.organization_id = p_org and t.site_id = s.id
         where v.has_rule and cardinality(v.fams) = 0
    ),
    site_cells as (
        select v.view_key, t.family_id, t.products
          from views v
          cross join lateral unnest(v.eff_sites) as s(id)
          join fleet_cells t on t.organization_id = p_org and t.site_id = s.id
         where v.has_rule and cardinality(v.fams) = 0
    ),
    pair_cells as materialized (
        select v.view_key, t.*
          from views v
          cross join lateral unnest(v.eff_sites) as s(id)
          cross join lateral unnest(v.fams) as f(id)
          join fleet_cells t
            on t.organization_id = p_org and t.site_id = s.id and t.family_id = f.id
         where v.has_rule
    ),
    listed as materialized (
        select v.view_key, p.site_id, p.family_id, p.health, p.connectivity, p.code_status,
               p.contract_ends_on, day.today,
               coalesce(r.open, 0) as sr_open, coalesce(r.critical, 0) as sr_critical,
               coalesce(r.high, 0) as sr_high, coalesce(r.medium, 0) as sr_medium,
               coalesce(r.low, 0) as sr_low
          from views v
          cross join day
          join custom_group_products gp on gp.group_id = v.group_id
          cross join lateral (
              select p.* from products p
               where p.id = gp.product_id and p.organization_id = p_org
              offset 0) as p
          left join product_open_requests r on r.product_id = p.id
         where (p_all_sites or p.site_id = any(coalesce((select ids from visible), '{}')))
           and not fleet_group_rule_matches(v.rule_fams, v.rule_sites, p.family_id, p.site_id)
    ),
    moved as (
        select p.site_id, p.family_id,
               fleet_contract_bucket(p.contract_ends_on, day.as_of) as b_old,
               fleet_contract_bucket(p.contract_ends_on, day.today) as b_new
          from day
          join products p
            on p.organization_id = p_org
           and (p.contract_ends_on between least(day.as_of, day.today)
                                       and greatest(day.as_of, day.today) - 1
                or p.contract_ends_on between least(day.as_of, day.today) + 31
                                          and greatest(day.as_of, day.today) + 30
                or p.contract_ends_on between least(day.as_of, day.today) + 91
                                          and greatest(day.as_of, day.today) + 90)
         where day.as_of <> day.today
           and fleet_contract_bucket(p.contract_ends_on, day.as_of)
               <> fleet_contract_bucket(p.contract_ends_on, day.today)
    ),
    corrections as (
        select v.view_key, m.b_old, m.b_new
          from views v
          join moved m
            on v.has_rule
           and (cardinality(v.fams) = 0 or m.family_id = any(v.fams))
           and (v.eff_sites is null or m.site_id = any(v.eff_sites))
    ),
    totals as (
        select view_key, sum(products)::int as products, sum(health_good)::int as health_good, sum(health_warning)::int as health_warning, sum(health_critical)::int as health_critical, sum(health_unknown)::int as health_unknown, sum(connected)::int as connected, sum(disconnected)::int as disconnected, sum(not_configured)::int as not_configured, sum(code_current)::int as code_current, sum(code_update_available)::int as code_update_available, sum(code_unknown)::int as code_unknown, sum(contract_expired)::int as contract_expired, sum(contract_within_30)::int as contract_within_30, sum(contract_within_90)::int as contract_within_90, sum(contract_active)::int as contract_active, sum(sr_open)::int as sr_open, sum(sr_critical)::int as sr_critical, sum(sr_high)::int as sr_high, sum(sr_medium)::int as sr_medium, sum(sr_low)::int as sr_low
          from (
            select view_key, products, health_good, health_warning, health_critical, health_unknown, connected, disconnected, not_configured, code_current, code_update_available, code_unknown, contract_expired, contract_within_30, contract_within_90, contract_active, sr_open, sr_critical, sr_high, sr_medium, sr_low from family_rows_all
            union all
            select view_key, products, health_good, health_warning, health_critical, health_unknown, connected, disconnected, not_configured, code_current, code_update_available, code_unknown, contract_expired, contract_within_30, contract_within_90, contract_active, sr_open, sr_critical, sr_high, sr_medium, sr_low from site_rows_some
            union all
            select view_key, products, health_good, health_warning, health_critical, health_unknown, connected, disconnected, not_configured, code_current, code_update_available, code_unknown, contract_expired, contract_within_30, contract_within_90, contract_active, sr_open, sr_critical, sr_high, sr_medium, sr_low from pair_cells
            union all
            select l.view_key, 1, (l.health = 'GOOD')::int, (l.health = 'WARNING')::int, (l.health = 'CRITICAL')::int, (l.health = 'UNKNOWN')::int, (l.connectivity = 'CONNECTED')::int, (l.connectivity = 'DISCONNECTED')::int, (l.connectivity = 'NOT_CONFIGURED')::int, (l.code_status = 'CURRENT')::int, (l.code_status = 'UPDATE_AVAILABLE')::int, (l.code_status = 'UNKNOWN')::int, (fleet_contract_bucket(l.contract_ends_on, l.today) = 0)::int, (fleet_contract_bucket(l.contract_ends_on, l.today) = 1)::int, (fleet_contract_bucket(l.contract_ends_on, l.today) = 2)::int, (fleet_contract_bucket(l.contract_ends_on, l.today) = 3)::int, l.sr_open, l.sr_critical, l.sr_high, l.sr_medium, l.sr_low from listed l
            union all
            select m.view_key, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (m.b_new = 0)::int - (m.b_old = 0)::int, (m.b_new = 1)::int - (m.b_old = 1)::int, (m.b_new = 2)::int - (m.b_old = 2)::int, (m.b_new = 3)::int - (m.b_old = 3)::int, 0, 0, 0, 0, 0 from corrections m
          ) as all_rows
         group by view_key
    ),
    family_rows as (
        select view_key, family_id, products as n from family_rows_all
        union all
        select view_key, family_id, products from site_cells
        union all
        select view_key, family_id, products from pair_cells
        union all
        select view_key, family_id, 1 from listed
    ),
    families as (
        select x.view_key,
               array_agg(x.family_id order by x.n desc, x.family_id) as family_ids,
               array_agg(pf.name order by x.n desc, x.family_id) as family_names,
               array_agg(x.n order by x.n desc, x.family_id) as family_counts
          from (select view_key, family_id, sum(n)::int as n from family_rows
                 group by view_key, family_id having sum(n) > 0) as x
          join product_families pf on pf.id = x.family_id
         group by x.view_key
    ),
    site_rows as (
        select view_key, site_id, products as n from site_rows_all
        union all
        select view_key, site_id, products from fam_cells
        union all
        select view_key, site_id, products from site_rows_some
        union all
        select view_key, site_id, products from pair_cells
        union all
        select view_key, site_id, 1 from listed
    ),
    ranked_sites as (
        select view_key, site_id, n,
               row_number() over (partition by view_key order by n desc, site_id) as rank
          from (select view_key, site_id, sum(n)::int as n from site_rows
                 group by view_key, site_id having sum(n) > 0) as x
    ),
    sites as (
        select x.view_key, count(*)::int as site_count,
               array_agg(x.site_id order by x.rank) filter (where x.rank <= p_top) as site_ids,
               array_agg(x.n order by x.rank) filter (where x.rank <= p_top) as site_counts,
               array_agg(st.name order by x.rank) filter (where x.rank <= p_top) as site_names,
               array_agg(st.city order by x.rank) filter (where x.rank <= p_top) as site_cities,
               array_agg(st.country::text order by x.rank) filter (where x.rank <= p_top)
                   as site_countries
          from ranked_sites x
          left join lateral (
              select s.name, s.city, s.country from sites s
               where s.id = x.site_id and x.rank <= p_top) as st on true
         group by x.view_key
    ),
    computed as (
    select v.view_key, coalesce(t.products, 0) as products, coalesce(t.health_good, 0) as health_good, coalesce(t.health_warning, 0) as health_warning, coalesce(t.health_critical, 0) as health_critical, coalesce(t.health_unknown, 0) as health_unknown, coalesce(t.connected, 0) as connected, coalesce(t.disconnected, 0) as disconnected, coalesce(t.not_configured, 0) as not_configured, coalesce(t.code_current, 0) as code_current, coalesce(t.code_update_available, 0) as code_update_available, coalesce(t.code_unknown, 0) as code_unknown, coalesce(t.contract_expired, 0) as contract_expired, coalesce(t.contract_within_30, 0) as contract_within_30, coalesce(t.contract_within_90, 0) as contract_within_90, coalesce(t.contract_active, 0) as contract_active, coalesce(t.sr_open, 0) as sr_open, coalesce(t.sr_critical, 0) as sr_critical, coalesce(t.sr_high, 0) as sr_high, coalesce(t.sr_medium, 0) as sr_medium, coalesce(t.sr_low, 0) as sr_low,
           coalesce(s.site_count, 0) as site_count,
           coalesce(f.family_ids, '{}') as family_ids,
           coalesce(f.family_names, '{}') as family_names,
           coalesce(f.family_counts, '{}') as family_counts,
           coalesce(s.site_ids, '{}') as site_ids,
           coalesce(s.site_names, '{}') as site_names,
           coalesce(s.site_cities, '{}') as site_cities,
           coalesce(s.site_countries, '{}') as site_countries,
           coalesce(s.site_counts, '{}') as site_counts
      from views v
      left join totals t using (view_key)
      left join families f using (view_key)
      left join sites s using (view_key)
    )
    select * from computed;
end
$fn$;

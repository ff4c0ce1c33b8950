-- Filling the shared summary cache never fails a read. A query operation reads
-- in one REPEATABLE READ snapshot (db/snapshot.py); when another request stored
-- the same views after that snapshot began, PostgreSQL refuses the upsert
-- ("could not serialize access due to concurrent update"). The cache is
-- disposable and the answer is already computed, so the fill is skipped then
-- (the exception block is a subtransaction: the reader's transaction goes on).
-- `p_rows` are whole summary_cache rows; a newer version stored is kept.

create function summary_cache_fill(p_rows summary_cache[]) returns integer
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
    on conflict on constraint summary_cache_pkey do update
       set organization_id = excluded.organization_id, version = excluded.version,
           today = excluded.today, products = excluded.products,
           health_good = excluded.health_good, health_warning = excluded.health_warning,
           health_critical = excluded.health_critical, health_unknown = excluded.health_unknown,
           connected = excluded.connected, disconnected = excluded.disconnected,
           not_configured = excluded.not_configured, code_current = excluded.code_current,
           code_update_available = excluded.code_update_available,
           code_unknown = excluded.code_unknown, contract_expired = excluded.contract_expired,
           contract_within_30 = excluded.contract_within_30,
           contract_within_90 = excluded.contract_within_90,
           contract_active = excluded.contract_active, sr_open = excluded.sr_open,
           sr_critical = excluded.sr_critical, sr_high = excluded.sr_high,
           sr_medium = excluded.sr_medium, sr_low = excluded.sr_low,
           site_count = excluded.site_count, family_ids = excluded.family_ids,
           family_names = excluded.family_names, family_counts = excluded.family_counts,
           site_ids = excluded.site_ids, site_names = excluded.site_names,
           site_cities = excluded.site_cities, site_countries = excluded.site_countries,
           site_counts = excluded.site_counts
     where c.version <= excluded.version;
    get diagnostics stored = row_count;
    return stored;
exception
    when serialization_failure or deadlock_detected then
        return 0;
end;
$fn$;

-- The change feed (DESIGN §6, §8): every write that can change what a viewer
-- of the fleet sees notifies the tenant's new data version, from the same
-- transaction (NOTIFY is delivered on commit, never on rollback).
--
-- Two versions per tenant, in fleet_versions:
--   version       bumps when a summary may change (migrations 0021-0022);
--   data_version  bumps when anything a fleet read shows may change: every
--                 summary change, plus what summaries do not show (a product
--                 or group renamed, a site's other columns, a request's title).
-- Per-worker answer caches key on data_version; subscriptions recompute a
-- summary only when `version` moved.
--
-- Channel `service360_changes`, payload `organization_id:data_version:version`.
-- Channel `service360_sessions`, payload `user_id`: a session of that user was
-- revoked or removed (live subscriptions check theirs at once).

alter table fleet_versions add column data_version bigint not null default 0;
update fleet_versions set data_version = version;

-- Whatever bumps `version` (today's triggers, bulk bumps, later writers) moves
-- `data_version` too: a summary change is always a data change.
create function fleet_versions_keep_data_version() returns trigger
language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        new.data_version := greatest(new.data_version, new.version);
    elsif new.version <> old.version and new.data_version <= old.data_version then
        new.data_version := old.data_version + 1;
    end if;
    return new;
end
$$;

create trigger fleet_versions_keep_data_version before insert or update on fleet_versions
    for each row execute function fleet_versions_keep_data_version();

create function fleet_versions_notify() returns trigger
language plpgsql as $$
begin
    if tg_op = 'INSERT' or new.data_version <> old.data_version then
        perform pg_notify('service360_changes',
                          new.organization_id || ':' || new.data_version || ':' || new.version);
    end if;
    return null;
end
$$;

create trigger fleet_versions_notify after insert or update on fleet_versions
    for each row execute function fleet_versions_notify();

create function fleet_bump_data_versions(orgs bigint[]) returns void
language sql as $$
    insert into fleet_versions (organization_id, version, data_version)
    select distinct o, 0, 1 from unnest(orgs) as o where o is not null order by o
    on conflict (organization_id) do update set data_version = fleet_versions.data_version + 1
$$;

-- Updates: the summary version when a column that summaries count changed
-- (the trigger's arguments, as in 0022), the data version for any change.
create or replace function fleet_tenant_rows_updated() returns trigger
language plpgsql as $$
declare
    old_cols text;
    new_cols text;
    summary_orgs bigint[];
    touched_orgs bigint[];
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
        into summary_orgs;
    if summary_orgs is not null then
        perform fleet_bump_versions(summary_orgs);
    end if;
    -- Rows rewritten with equal values change nothing anyone sees.
    select array_agg(distinct x.organization_id) into touched_orgs from (
        select o.organization_id from fleet_old o join fleet_new n using (id)
         where o is distinct from n
        union
        select n.organization_id from fleet_old o join fleet_new n using (id)
         where o is distinct from n
    ) as x
     where x.organization_id <> all(coalesce(summary_orgs, '{}'));
    if touched_orgs is not null then
        perform fleet_bump_data_versions(touched_orgs);
    end if;
    return null;
end
$$;

create function fleet_sessions_changed() returns trigger
language plpgsql as $$
declare
    u bigint;
begin
    if tg_op = 'DELETE' then
        for u in select distinct user_id from fleet_old loop
            perform pg_notify('service360_sessions', u::text);
        end loop;
    else
        for u in select distinct o.user_id from fleet_old o join fleet_new n using (token_hash)
                  where (o.revoked_at, o.expires_at) is distinct from (n.revoked_at, n.expires_at)
        loop
            perform pg_notify('service360_sessions', u::text);
        end loop;
    end if;
    return null;
end
$$;

create trigger fleet_sessions_updated after update on sessions
    referencing old table as fleet_old new table as fleet_new for each statement
    execute function fleet_sessions_changed();
create trigger fleet_sessions_deleted after delete on sessions
    referencing old table as fleet_old for each statement
    execute function fleet_sessions_changed();

-- Consecutive failed sign-ins per address, known or not alike (NIST 800-63B
-- §5.2.2): after a few, each try waits a growing delay; after many, the
-- address is locked for a long time or until a password reset. A success
-- deletes the row: only failures count.
create table sign_in_failures (
    email citext primary key check (length(email) <= 320),
    failures integer not null check (failures >= 0),
    last_failed_at timestamptz not null
);
create index sign_in_failures_last on sign_in_failures (last_failed_at);

-- How long after the last failure the next try may start.
create function sign_in_delay(
    failures integer, free integer, max_delay integer, lockout_at integer,
    lockout_seconds integer
) returns interval language sql immutable as $$
    select case
        when failures >= lockout_at then make_interval(secs => lockout_seconds)
        when failures < free then interval '0'
        else make_interval(secs => least(max_delay, 2 ^ (failures - free + 1)))
    end
$$;

-- Wrong one-time codes an account took since `wrong_codes_since` (its
-- current day): a cumulative cap beside the 5 tries of each code.
alter table users
    add column wrong_codes integer not null default 0 check (wrong_codes >= 0),
    add column wrong_codes_since timestamptz;

-- Accounts: throttling counters, one-time code send history, look-up indexes.

-- Fixed-window counters of sign-in, code and reset attempts, per address and
-- per client address. Kept here (not in memory) so every worker shares them.
create table throttle_hits (
    bucket text primary key check (length(bucket) <= 400),
    window_started_at timestamptz not null,
    hits integer not null check (hits >= 0)
);
create index throttle_hits_window on throttle_hits (window_started_at);

-- Every one-time code sent (or refused to an unknown address alike), per
-- address: "no sooner than 60 s after the last, at most 5 an hour".
create table code_sends (
    id bigint generated always as identity primary key,
    email citext not null check (length(email) <= 320),
    sent_at timestamptz not null default now()
);
create index code_sends_email on code_sends (email, sent_at desc);

create index onboarding_requests_user on onboarding_requests (user_id, id desc);
create index one_time_codes_live on one_time_codes (user_id, purpose, id desc)
    where consumed_at is null;

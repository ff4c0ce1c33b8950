-- A claimed mail's lease in a column of its own, apart from its retry time:
-- when the SMTP server comes back, mail waiting on back-off is made due at
-- once without touching mail that another sender holds right now.
alter table mail_outbox add column leased_until timestamptz;
-- Leases taken before this column existed lived in next_attempt_at; they end there.

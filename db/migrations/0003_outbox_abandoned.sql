-- Mail that can never be delivered (a permanent 5xx, or too many tries) is
-- set aside instead of being retried forever; it stays for an operator to read.
alter table mail_outbox add column abandoned_at timestamptz;
drop index mail_outbox_due;
create index mail_outbox_due on mail_outbox (next_attempt_at)
    where sent_at is null and abandoned_at is null;

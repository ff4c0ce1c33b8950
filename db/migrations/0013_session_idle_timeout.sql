-- Sessions have an absolute lifetime and an idle timeout (NIST 800-63B §7.2).
-- `expires_at` is the sooner of the two and is what every lookup compares
-- with; the idle part slides forward when the session is used (at most once
-- a minute), never past `absolute_expires_at`.
alter table sessions add column absolute_expires_at timestamptz;
update sessions set absolute_expires_at = expires_at;
-- Rows written by tools with only `expires_at` (bench, fixtures) have no
-- other limit than it.
alter table sessions alter column absolute_expires_at set default 'infinity',
                     alter column absolute_expires_at set not null;

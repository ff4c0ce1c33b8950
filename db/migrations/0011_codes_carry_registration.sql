-- A verification code carries the registration (password hash, names,
-- language, country) of the createAccount or resend that asked for it:
-- verifying with that code makes it the account's, so the password in force
-- after verification is the one that whoever proved the mailbox chose.
-- Cleared when the code is consumed or spent, so old hashes do not linger.
alter table one_time_codes add column registration jsonb;

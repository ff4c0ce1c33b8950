-- Internationalised top-level domains arrive in their ASCII (punycode) form,
-- e.g. "xn--p1ai": allow digits and hyphens in the last label too.
alter table organization_domains drop constraint organization_domains_domain_check;
alter table organization_domains add constraint organization_domains_domain_check
    check (domain ~ '^[a-z0-9-]+(\.[a-z0-9-]+)*\.([a-z]{2,}|xn--[a-z0-9-]+)$');

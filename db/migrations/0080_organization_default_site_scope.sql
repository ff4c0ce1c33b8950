-- Which sites a member attached to the organization from now on sees at first:
-- ALL_SITES, or SELECTED_SITES with no site until an administrator assigns some.
-- Read when a person is attached (domain match, division choice, onboarding
-- approval); changing it leaves current members as they are. It changes no
-- one's visibility by itself, so no summary version moves with it (the users'
-- own site_scope, when set from it, bumps as every scope change does: 0021).
alter table organizations
    add column default_site_scope text not null default 'ALL_SITES'
        check (default_site_scope in ('ALL_SITES', 'SELECTED_SITES'));

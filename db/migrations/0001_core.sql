-- Service360 core data model (DESIGN §3).
-- Every tenant table carries organization_id, and tenant children reference
-- their parent through (organization_id, id) so a row can never point into
-- another tenant.

create extension if not exists citext;
create extension if not exists pg_trgm;

-- ------------------------------------------------------------ organizations

create table organizations (
    id bigint generated always as identity primary key,
    name text not null check (length(name) between 1 and 200),
    division text check (length(division) <= 200),
    kind text not null check (kind in ('COMPANY', 'GOVERNMENT', 'PARTNER')),
    city text,
    country char(2) not null check (country ~ '^[A-Z]{2}$'),
    -- The organization's own time zone: "today" for contract counts.
    time_zone text not null default 'UTC',
    parent_id bigint references organizations (id),
    status text not null default 'ACTIVE' check (status in ('ACTIVE', 'SUSPENDED')),
    created_at timestamptz not null default now()
);

create table organization_domains (
    domain citext not null check (domain ~ '^[a-z0-9.-]+\.[a-z]{2,}$'),
    organization_id bigint not null references organizations (id) on delete cascade,
    verified boolean not null default true,
    created_at timestamptz not null default now(),
    primary key (domain, organization_id)
);
create index organization_domains_organization on organization_domains (organization_id);

-- ------------------------------------------------------------------- people

create table users (
    id bigint generated always as identity primary key,
    email citext not null unique check (length(email) <= 254),
    password_hash text not null,
    first_name text not null check (length(first_name) between 1 and 100),
    last_name text not null check (length(last_name) between 1 and 100),
    job_title text check (length(job_title) <= 100),
    business_phone text check (length(business_phone) <= 40),
    company_name text check (length(company_name) <= 200),
    address jsonb,
    country char(2) check (country ~ '^[A-Z]{2}$'),
    preferred_language text not null default 'en' check (preferred_language in ('en', 'fr')),
    step text not null default 'VERIFY_EMAIL' check (step in (
        'VERIFY_EMAIL', 'CHOOSE_ACCESS_TYPE', 'COMPLETE_PROFILE', 'SELECT_ORGANIZATION',
        'DESCRIBE_ORGANIZATION', 'AWAITING_APPROVAL', 'PARTNER_REFERRAL', 'COMPLETE')),
    access_type text check (access_type in ('CUSTOMER_EMPLOYEE', 'PARTNER')),
    organization_id bigint references organizations (id),
    role text check (role in ('MEMBER', 'ADMIN')),
    site_scope text not null default 'ALL_SITES' check (site_scope in ('ALL_SITES', 'SELECTED_SITES')),
    is_staff boolean not null default false,
    created_at timestamptz not null default now(),
    verified_at timestamptz,
    updated_at timestamptz not null default now(),
    -- A role only means something inside an organization.
    check ((organization_id is null) = (role is null)),
    unique (organization_id, id)
);
create index users_organization on users (organization_id, id) where organization_id is not null;

create table one_time_codes (
    id bigint generated always as identity primary key,
    user_id bigint not null references users (id) on delete cascade,
    purpose text not null check (purpose in ('VERIFY_EMAIL', 'RESET_PASSWORD')),
    code_hash bytea not null,
    expires_at timestamptz not null,
    attempts integer not null default 0 check (attempts >= 0),
    consumed_at timestamptz,
    created_at timestamptz not null default now()
);
create index one_time_codes_user on one_time_codes (user_id, purpose, created_at desc);

create table sessions (
    token_hash bytea primary key,
    user_id bigint not null references users (id) on delete cascade,
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    revoked_at timestamptz
);
create index sessions_user on sessions (user_id) where revoked_at is null;

create table onboarding_requests (
    id bigint generated always as identity primary key,
    user_id bigint not null references users (id) on delete cascade,
    legal_name text not null check (length(legal_name) between 1 and 200),
    domain citext not null,
    website text check (length(website) <= 300),
    address jsonb not null,
    country char(2) not null check (country ~ '^[A-Z]{2}$'),
    employee_count integer check (employee_count >= 0),
    status text not null default 'PENDING' check (status in ('PENDING', 'APPROVED', 'REJECTED')),
    submitted_at timestamptz not null default now(),
    decided_by bigint references users (id),
    decided_at timestamptz,
    decision_note text check (length(decision_note) <= 2000),
    organization_id bigint references organizations (id),
    check ((status = 'PENDING') = (decided_at is null))
);
-- One open request per person.
create unique index onboarding_requests_one_pending on onboarding_requests (user_id)
    where status = 'PENDING';
create index onboarding_requests_status on onboarding_requests (status, id);

-- ---------------------------------------------------------- sites, products

create table sites (
    id bigint generated always as identity primary key,
    organization_id bigint not null references organizations (id) on delete cascade,
    name text not null check (length(name) between 1 and 200),
    city text,
    country char(2) not null check (country ~ '^[A-Z]{2}$'),
    created_at timestamptz not null default now(),
    unique (organization_id, id)
);
create index sites_organization_name on sites (organization_id, name, id);

create table user_sites (
    organization_id bigint not null,
    user_id bigint not null,
    site_id bigint not null,
    primary key (user_id, site_id),
    foreign key (organization_id, user_id) references users (organization_id, id) on delete cascade,
    foreign key (organization_id, site_id) references sites (organization_id, id) on delete cascade
);
create index user_sites_site on user_sites (organization_id, site_id);

create table product_families (
    id bigint generated always as identity primary key,
    name text not null unique
);

insert into product_families (name) values
    ('PowerEdge'), ('PowerStore'), ('PowerMax'), ('PowerScale'), ('PowerVault'),
    ('PowerProtect'), ('PowerSwitch'), ('VxRail'), ('Unity XT'), ('PowerFlex'),
    ('Data Domain'), ('XtremIO');

create table products (
    id bigint generated always as identity primary key,
    organization_id bigint not null,
    site_id bigint not null,
    family_id bigint not null references product_families (id),
    service_tag text not null unique check (service_tag ~ '^[A-Z0-9-]{1,20}$'),
    name text not null check (length(name) between 1 and 200),
    model text not null check (length(model) between 1 and 100),
    health text not null default 'UNKNOWN'
        check (health in ('GOOD', 'WARNING', 'CRITICAL', 'UNKNOWN')),
    connectivity text not null default 'NOT_CONFIGURED'
        check (connectivity in ('CONNECTED', 'DISCONNECTED', 'NOT_CONFIGURED')),
    code_version text,
    recommended_code_version text,
    code_status text not null generated always as (
        case
            when code_version is null or recommended_code_version is null then 'UNKNOWN'
            when code_version = recommended_code_version then 'CURRENT'
            else 'UPDATE_AVAILABLE'
        end) stored,
    contract_level text,
    contract_ends_on date,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    foreign key (organization_id, site_id) references sites (organization_id, id) on delete cascade,
    unique (organization_id, id)
);
create index products_org_id on products (organization_id, id);
create index products_org_site_family on products (organization_id, site_id, family_id);
create index products_org_family on products (organization_id, family_id, id);
create index products_search on products
    using gin ((service_tag || ' ' || name || ' ' || model) gin_trgm_ops);

create table service_requests (
    id bigint generated always as identity primary key,
    organization_id bigint not null,
    product_id bigint not null,
    number text not null unique,
    severity text not null check (severity in ('CRITICAL', 'HIGH', 'MEDIUM', 'LOW')),
    status text not null default 'OPEN'
        check (status in ('OPEN', 'IN_PROGRESS', 'WAITING_ON_CUSTOMER', 'CLOSED')),
    title text not null check (length(title) between 1 and 300),
    opened_at timestamptz not null default now(),
    closed_at timestamptz,
    foreign key (organization_id, product_id)
        references products (organization_id, id) on delete cascade,
    check ((status = 'CLOSED') = (closed_at is not null))
);
create index service_requests_open on service_requests (organization_id, product_id)
    include (severity) where status <> 'CLOSED';

-- ------------------------------------------------------------ custom groups

create table custom_groups (
    id bigint generated always as identity primary key,
    organization_id bigint not null,
    owner_id bigint not null,
    name text not null check (length(btrim(name)) between 1 and 100),
    description text check (length(description) <= 1000),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    foreign key (organization_id, owner_id) references users (organization_id, id) on delete cascade,
    unique (organization_id, id)
);
create index custom_groups_owner on custom_groups (owner_id, id);

create table custom_group_products (
    organization_id bigint not null,
    group_id bigint not null,
    product_id bigint not null,
    primary key (group_id, product_id),
    foreign key (organization_id, group_id) references custom_groups (organization_id, id) on delete cascade,
    foreign key (organization_id, product_id) references products (organization_id, id) on delete cascade
);

create table custom_group_families (
    organization_id bigint not null,
    group_id bigint not null,
    family_id bigint not null references product_families (id),
    primary key (group_id, family_id),
    foreign key (organization_id, group_id) references custom_groups (organization_id, id) on delete cascade
);

create table custom_group_sites (
    organization_id bigint not null,
    group_id bigint not null,
    site_id bigint not null,
    primary key (group_id, site_id),
    foreign key (organization_id, group_id) references custom_groups (organization_id, id) on delete cascade,
    foreign key (organization_id, site_id) references sites (organization_id, id) on delete cascade
);

-- ------------------------------------------------------------------- outbox

create table mail_outbox (
    id bigint generated always as identity primary key,
    recipient citext not null,
    subject text not null,
    body text not null,
    template text not null,
    language text not null default 'en',
    created_at timestamptz not null default now(),
    attempts integer not null default 0,
    next_attempt_at timestamptz not null default now(),
    sent_at timestamptz,
    last_error text
);
create index mail_outbox_due on mail_outbox (next_attempt_at) where sent_at is null;

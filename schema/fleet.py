"""What clients see of the fleet: sites, products, custom groups, the Summary tab,
and member administration.

Every read goes through `resolvers/` with the viewer's scope; the types here
only turn rows into fields. `user_visible_sites`, `organization_sites` and
`organization_members` are called by the accounts types (User, Organization).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from enum import Enum
from typing import Any

import asyncpg
import strawberry

from db.summary import SummaryRow
from resolvers.account_values import AccessLevel, Role, SiteScope
from resolvers.context import Context
from resolvers.fleet import ProductQuery, SiteQuery, products_page, sites_page
from resolvers.fleet_loaders import (
    FamiliesByGroupId,
    GroupById,
    OpenRequestCountByProductId,
    ProductById,
    ProductCountBySiteId,
    SiteById,
    VisibleSitesByGroupId,
)
from resolvers.groups import (
    MAX_GROUPS_PER_USER,
    GroupInput,
    create_group,
    delete_custom_group,
    groups_page,
    update_custom_group,
)
from resolvers.ids import encode_id
from resolvers.loaders import FamilyById
from resolvers.members import (
    organization_members as resolve_organization_members,
)
from resolvers.members import (
    organization_sites as resolve_organization_sites,
)
from resolvers.members import (
    set_member_role,
    set_member_site_access,
    set_organization_default_site_scope,
)
from resolvers.members import (
    user_visible_sites as resolve_user_visible_sites,
)
from resolvers.pagination import MAX_PAGE_SIZE, page_request
from resolvers.permissions import HasFullAccess
from resolvers.summary import load_group_summary, load_summary
from schema.account_types import Organization, User
from schema.catalog import ProductFamily
from schema.common import Connection, Node, connection_from_page
from schema.mutations import MutationPayload, mutation

Info = strawberry.Info[Context, None]

# ------------------------------------------------------------------ enums


@strawberry.enum(description="How a product is doing, as it last reported.")
class Health(Enum):
    GOOD = "GOOD"
    WARNING = "WARNING"
    CRITICAL = "CRITICAL"
    UNKNOWN = "UNKNOWN"


@strawberry.enum(description="Whether a product reports home.")
class Connectivity(Enum):
    CONNECTED = "CONNECTED"
    DISCONNECTED = "DISCONNECTED"
    NOT_CONFIGURED = "NOT_CONFIGURED"


@strawberry.enum(description="Whether a product runs the recommended code version.")
class CodeStatus(Enum):
    CURRENT = strawberry.enum_value("CURRENT", description="Runs the recommended version.")
    UPDATE_AVAILABLE = "UPDATE_AVAILABLE"
    UNKNOWN = "UNKNOWN"


# ------------------------------------------------------------ sites, products


@strawberry.type(description="A place where the organization has products.")
class Site(Node):
    name: str
    city: str | None
    country: str
    pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: Mapping[str, Any] | asyncpg.Record) -> Site:
        return cls(
            id=strawberry.ID(encode_id("Site", row["id"])),
            name=row["name"],
            city=row["city"],
            country=row["country"],
            pk=row["id"],
        )

    @strawberry.field(description="How many of this site's products the viewer sees.")
    async def product_count(self, info: Info) -> int:
        count: int = await info.context.loaders.get(ProductCountBySiteId).load(self.pk)
        return count


@strawberry.type(description="One product (a server, an array, a switch) at a site.")
class Product(Node):
    service_tag: str
    name: str
    model: str
    health: Health
    connectivity: Connectivity
    code_version: str | None
    recommended_code_version: str | None
    code_status: CodeStatus
    contract_level: str | None
    contract_ends_on: date | None
    pk: strawberry.Private[int]
    family_pk: strawberry.Private[int]
    site_pk: strawberry.Private[int]
    # Lists read the family's and site's names with the page (no loader trip).
    shown_family: strawberry.Private[ProductFamily | None] = None
    shown_site: strawberry.Private[Site | None] = None

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Product:
        shown = row.get("site_name") is not None
        return cls(
            id=strawberry.ID(encode_id("Product", row["id"])),
            service_tag=row["service_tag"],
            name=row["name"],
            model=row["model"],
            health=Health(row["health"]),
            connectivity=Connectivity(row["connectivity"]),
            code_version=row["code_version"],
            recommended_code_version=row["recommended_code_version"],
            code_status=CodeStatus(row["code_status"]),
            contract_level=row["contract_level"],
            contract_ends_on=row["contract_ends_on"],
            pk=row["id"],
            family_pk=row["family_id"],
            site_pk=row["site_id"],
            shown_family=ProductFamily(
                id=strawberry.ID(encode_id("ProductFamily", row["family_id"])),
                name=row["family_name"],
                pk=row["family_id"],
            )
            if shown
            else None,
            shown_site=Site(
                id=strawberry.ID(encode_id("Site", row["site_id"])),
                name=row["site_name"],
                city=row["site_city"],
                country=row["site_country"],
                pk=row["site_id"],
            )
            if shown
            else None,
        )

    @strawberry.field(description="The product's family.")
    def family(self, info: Info) -> ProductFamily:
        # Synchronous when the page brought the family along (no coroutine per
        # product); otherwise an awaitable that the executor resolves.
        if self.shown_family is not None:
            return self.shown_family
        return self._load_family(info)  # type: ignore[return-value]

    async def _load_family(self, info: Info) -> ProductFamily:
        row = await info.context.loaders.get(FamilyById).load(self.family_pk)
        assert row is not None  # products reference an existing family
        return ProductFamily.from_row(row)

    @strawberry.field(description="Where the product is.")
    def site(self, info: Info) -> Site:
        if self.shown_site is not None:
            return self.shown_site
        return self._load_site(info)  # type: ignore[return-value]

    async def _load_site(self, info: Info) -> Site:
        row = await info.context.loaders.get(SiteById).load(self.site_pk)
        assert row is not None  # a visible product is at a visible site
        return Site.from_row(row)

    @strawberry.field(description="Service requests of this product that are not closed.")
    async def open_service_request_count(self, info: Info) -> int:
        count: int = await info.context.loaders.get(OpenRequestCountByProductId).load(self.pk)
        return count


@strawberry.input(description="Narrows a product list; every given condition must hold.")
class ProductFilter:
    group_id: strawberry.ID | None = strawberry.field(
        default=None, description="Only this custom group's products."
    )
    family_ids: list[strawberry.ID] | None = None
    site_ids: list[strawberry.ID] | None = None
    health: list[Health] | None = None
    connectivity: list[Connectivity] | None = None
    code_status: list[CodeStatus] | None = None
    contract_ends_within_days: int | None = strawberry.field(
        default=None, description="Contracts ending between today and today + N days."
    )
    search: str | None = strawberry.field(
        default=None, description="Service tag, name or model contains this, case-insensitive."
    )

    def to_query(self) -> ProductQuery:
        return ProductQuery(
            group_id=self.group_id,
            family_ids=self.family_ids,
            site_ids=self.site_ids,
            health=[h.value for h in self.health] if self.health is not None else None,
            connectivity=(
                [c.value for c in self.connectivity] if self.connectivity is not None else None
            ),
            code_status=[c.value for c in self.code_status]
            if self.code_status is not None
            else None,
            contract_ends_within_days=self.contract_ends_within_days,
            search=self.search,
        )


@strawberry.input(description="Narrows a site list.")
class SiteFilter:
    country: str | None = strawberry.field(default=None, description="ISO 3166-1 alpha-2.")
    search: str | None = strawberry.field(default=None, description="Name or city contains this.")

    def to_query(self) -> SiteQuery:
        return SiteQuery(country=self.country, search=self.search)


ProductConnection = Connection[Product]
SiteConnection = Connection[Site]


# --------------------------------------------------------------- summary


@strawberry.type(description="Products by health.")
class HealthCounts:
    good: int
    warning: int
    critical: int
    unknown: int


@strawberry.type(description="Products by connectivity.")
class ConnectivityCounts:
    connected: int
    disconnected: int
    not_configured: int


@strawberry.type(
    description="Products by contract end, with today's date in the organization's time."
)
class ContractCounts:
    active: int = strawberry.field(description="Ends after today + 90 days, or has no end date.")
    ending_within30_days: int = strawberry.field(name="endingWithin30Days")
    ending_within90_days: int = strawberry.field(
        name="endingWithin90Days", description="Includes those within 30 days."
    )
    expired: int


@strawberry.type(description="Products by code currency.")
class CodeCounts:
    current: int
    update_available: int
    unknown: int


@strawberry.type(description="Open service requests, and the open ones by severity.")
class ServiceRequestCounts:
    open: int
    critical: int
    high: int
    medium: int
    low: int


@strawberry.type(description="How many products of a view are of one family.")
class FamilyCount:
    family: ProductFamily
    count: int


@strawberry.type(description="How many products of a view are at one site.")
class SiteCount:
    site: Site
    count: int


@strawberry.type(description="The Summary tab: counts over the whole visible fleet or one group.")
class Summary:
    product_count: int
    site_count: int = strawberry.field(description="Sites with at least one product of the view.")
    health: HealthCounts
    connectivity: ConnectivityCounts
    contracts: ContractCounts
    code: CodeCounts
    service_requests: ServiceRequestCounts
    row: strawberry.Private[SummaryRow]

    @classmethod
    def from_row(cls, row: SummaryRow) -> Summary:
        return cls(
            product_count=row.products,
            site_count=row.site_count,
            health=HealthCounts(
                good=row.health_good,
                warning=row.health_warning,
                critical=row.health_critical,
                unknown=row.health_unknown,
            ),
            connectivity=ConnectivityCounts(
                connected=row.connected,
                disconnected=row.disconnected,
                not_configured=row.not_configured,
            ),
            contracts=ContractCounts(
                active=row.contract_active,
                ending_within30_days=row.contract_within_30,
                ending_within90_days=row.contract_within_30 + row.contract_within_90,
                expired=row.contract_expired,
            ),
            code=CodeCounts(
                current=row.code_current,
                update_available=row.code_update_available,
                unknown=row.code_unknown,
            ),
            service_requests=ServiceRequestCounts(
                open=row.sr_open,
                critical=row.sr_critical,
                high=row.sr_high,
                medium=row.sr_medium,
                low=row.sr_low,
            ),
            row=row,
        )

    @strawberry.field(description="Products per family, largest first.")
    def by_family(self) -> list[FamilyCount]:
        # Names come with the summary's own statement: no loader round trip.
        return [
            FamilyCount(
                family=ProductFamily(
                    id=strawberry.ID(encode_id("ProductFamily", f.family_id)),
                    name=f.name,
                    pk=f.family_id,
                ),
                count=f.product_count,
            )
            for f in self.row.by_family
        ]

    @strawberry.field(description=f"Products per site, largest first (at most {MAX_PAGE_SIZE}).")
    def by_site(self, first: int | None = 10) -> list[SiteCount]:
        size = page_request(first, None).first
        return [
            SiteCount(
                site=Site.from_row(
                    {"id": s.site_id, "name": s.name, "city": s.city, "country": s.country}
                ),
                count=s.product_count,
            )
            for s in self.row.top_sites(size)
        ]


# ------------------------------------------------------------ custom groups


@strawberry.type(
    description=(
        "Part of the visible fleet: the listed products, plus, when families or sites are "
        "given, every visible product of those families (any, if none) at those sites "
        "(any, if none). Evaluated when read."
    )
)
class CustomGroup(Node):
    name: str
    description: str | None
    created_at: datetime
    updated_at: datetime
    pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> CustomGroup:
        return cls(
            id=strawberry.ID(encode_id("CustomGroup", row["id"])),
            name=row["name"],
            description=row["description"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            pk=row["id"],
        )

    @strawberry.field(description="The families of the group's rule.")
    async def families(self, info: Info) -> list[ProductFamily]:
        rows = await info.context.loaders.get(FamiliesByGroupId).load(self.pk)
        return [ProductFamily.from_row(r) for r in rows]

    @strawberry.field(description="The sites of the group's rule that the viewer still sees.")
    async def sites(self, info: Info) -> list[Site]:
        rows = await info.context.loaders.get(VisibleSitesByGroupId).load(self.pk)
        return [Site.from_row(r) for r in rows]

    @strawberry.field(description="The products listed one by one (those still visible).")
    async def listed_products(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Product]:
        page = await products_page(
            info.context, None, first, after, group_pk=self.pk, listed_only=True
        )
        return connection_from_page(page, Product.from_row)

    @strawberry.field(description="The group's products, optionally narrowed further.")
    async def products(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: ProductFilter | None = None,
    ) -> Connection[Product]:
        query = filter.to_query() if filter is not None else None
        page = await products_page(info.context, query, first, after, group_pk=self.pk)
        return connection_from_page(page, Product.from_row)

    @strawberry.field(description="The Summary tab of this group.")
    async def summary(self, info: Info) -> Summary:
        return Summary.from_row(await load_group_summary(info.context, self.pk))


CustomGroupConnection = Connection[CustomGroup]


@strawberry.input(description="A custom group's name and rule.")
class CustomGroupInput:
    name: str
    description: str | None = None
    product_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Listed products; on update, null keeps them. At most 10,000."
    )
    family_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Families of the rule; on update, null keeps them."
    )
    site_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Sites of the rule; on update, null keeps them."
    )

    def to_input(self) -> GroupInput:
        return GroupInput(
            name=self.name,
            description=self.description,
            product_ids=self.product_ids,
            family_ids=self.family_ids,
            site_ids=self.site_ids,
        )


@strawberry.type(description="The group as saved, or why it was not.")
class CustomGroupPayload(MutationPayload):
    custom_group: CustomGroup | None = None


@strawberry.type(description="The id of the deleted group, or why it was not deleted.")
class DeleteCustomGroupPayload(MutationPayload):
    deleted_id: strawberry.ID | None = None


@strawberry.input(description="Which sites a member sees.")
class SiteAccessInput:
    user_id: strawberry.ID
    scope: SiteScope
    site_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="With SELECTED_SITES: the sites the member sees."
    )


@strawberry.type(description="The member as changed, or why they were not.")
class MemberPayload(MutationPayload):
    member: User | None = None


@strawberry.input(description="The site scope that members attached from now on start with.")
class DefaultSiteScopeInput:
    organization_id: strawberry.ID = strawberry.field(description="Your own organization.")
    scope: SiteScope = strawberry.field(
        description="ALL_SITES, or SELECTED_SITES: no site until an administrator assigns some."
    )


@strawberry.type(description="The organization as changed, or why it was not.")
class OrganizationPayload(MutationPayload):
    organization: Organization | None = None


# --------------------------------------------------- used by the accounts types


async def user_visible_sites(
    info: Info, user_pk: int, first: int | None, after: str | None
) -> Connection[Site]:
    """User.visibleSites: the sites this user sees (themselves, or their admin asking)."""
    page = await resolve_user_visible_sites(info.context, user_pk, first, after)
    return connection_from_page(page, Site.from_row)


async def organization_sites(
    info: Info,
    organization_pk: int,
    first: int | None,
    after: str | None,
    filter: SiteFilter | None,
) -> Connection[Site]:
    """Organization.sites: its sites that the viewer sees (FULL members of it only)."""
    query = filter.to_query() if filter is not None else None
    page = await resolve_organization_sites(info.context, organization_pk, first, after, query)
    return connection_from_page(page, Site.from_row)


async def organization_members(
    info: Info, organization_pk: int, first: int | None, after: str | None
) -> Connection[User]:
    """Organization.members: its users, for its administrators only (FORBIDDEN otherwise)."""
    page = await resolve_organization_members(info.context, organization_pk, first, after)
    return connection_from_page(page, User.from_row)


# ---------------------------------------------------------------- root fields


@strawberry.type
class FleetQuery:
    @strawberry.field(
        description="The Summary tab: the whole visible fleet, or one of your custom groups.",
        permission_classes=[HasFullAccess],
    )
    async def summary(self, info: Info, group_id: strawberry.ID | None = None) -> Summary:
        return Summary.from_row(await load_summary(info.context, group_id))

    @strawberry.field(
        description="Your own custom groups, oldest first.", permission_classes=[HasFullAccess]
    )
    async def custom_groups(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[CustomGroup]:
        page = await groups_page(info.context, first, after)
        return connection_from_page(page, CustomGroup.from_row)

    @strawberry.field(
        description="Products you may see, by id, narrowed by the filter.",
        permission_classes=[HasFullAccess],
    )
    async def products(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: ProductFilter | None = None,
    ) -> Connection[Product]:
        query = filter.to_query() if filter is not None else None
        page = await products_page(info.context, query, first, after)
        return connection_from_page(page, Product.from_row)

    @strawberry.field(description="Sites you may see, by name.", permission_classes=[HasFullAccess])
    async def sites(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: SiteFilter | None = None,
    ) -> Connection[Site]:
        query = filter.to_query() if filter is not None else None
        page = await sites_page(info.context, query, first, after)
        return connection_from_page(page, Site.from_row)


@strawberry.type
class FleetMutation:
    @mutation(
        description=f"Create a custom group (at most {MAX_GROUPS_PER_USER} per person).",
        permission_classes=[HasFullAccess],
    )
    async def create_custom_group(self, info: Info, input: CustomGroupInput) -> CustomGroupPayload:
        row = await create_group(info.context, input.to_input())
        return CustomGroupPayload(custom_group=CustomGroup.from_row(row))

    @mutation(
        description="Rename a custom group or change its rule (your own groups only).",
        permission_classes=[HasFullAccess],
    )
    async def update_custom_group(
        self, info: Info, id: strawberry.ID, input: CustomGroupInput
    ) -> CustomGroupPayload:
        row = await update_custom_group(info.context, id, input.to_input())
        return CustomGroupPayload(custom_group=CustomGroup.from_row(row))

    @mutation(description="Delete one of your custom groups.", permission_classes=[HasFullAccess])
    async def delete_custom_group(self, info: Info, id: strawberry.ID) -> DeleteCustomGroupPayload:
        deleted = await delete_custom_group(info.context, id)
        return DeleteCustomGroupPayload(deleted_id=strawberry.ID(deleted))

    @mutation(
        description="Choose which sites a member sees (administrators only).",
        permission_classes=[HasFullAccess],
    )
    async def set_member_site_access(self, info: Info, input: SiteAccessInput) -> MemberPayload:
        row = await set_member_site_access(info.context, input.user_id, input.scope, input.site_ids)
        return MemberPayload(member=User.from_row(row))

    @mutation(
        description="Make a member an administrator or not (administrators only).",
        permission_classes=[HasFullAccess],
    )
    async def set_member_role(
        self, info: Info, user_id: strawberry.ID, role: Role
    ) -> MemberPayload:
        row = await set_member_role(info.context, user_id, role)
        return MemberPayload(member=User.from_row(row))

    @mutation(
        description=(
            "Choose which sites members attached from now on see at first "
            "(administrators only); current members keep their access."
        ),
        permission_classes=[HasFullAccess],
    )
    async def set_default_site_scope(
        self, info: Info, input: DefaultSiteScopeInput
    ) -> OrganizationPayload:
        row = await set_organization_default_site_scope(
            info.context, input.organization_id, input.scope
        )
        return OrganizationPayload(organization=Organization.from_row(row))


# ------------------------------------------------------------------ nodes


def _sees_fleet(context: Context) -> bool:
    # node() of a fleet object for someone without FULL access: as if it did not exist.
    return context.viewer is not None and context.viewer.access_level == AccessLevel.FULL


async def site_node(context: Context, pk: int) -> Site | None:
    if not _sees_fleet(context):
        return None
    row = await context.loaders.get(SiteById).load(pk)
    return Site.from_row(row) if row is not None else None


async def product_node(context: Context, pk: int) -> Product | None:
    if not _sees_fleet(context):
        return None
    row = await context.loaders.get(ProductById).load(pk)
    return Product.from_row(row) if row is not None else None


async def group_node(context: Context, pk: int) -> CustomGroup | None:
    if not _sees_fleet(context):
        return None
    row = await context.loaders.get(GroupById).load(pk)
    return CustomGroup.from_row(row) if row is not None else None


NODE_LOADERS = {"Site": site_node, "Product": product_node, "CustomGroup": group_node}

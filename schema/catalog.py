"""The public product catalogue."""

from __future__ import annotations

import asyncpg
import strawberry

from db.catalog import fetch_families
from resolvers.context import Context
from resolvers.ids import encode_id
from resolvers.loaders import FamilyById
from schema.common import Node


@strawberry.type(description='A product family, e.g. "PowerEdge" or "PowerStore".')
class ProductFamily(Node):
    name: str
    pk: strawberry.Private[int]

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> ProductFamily:
        return cls(
            id=strawberry.ID(encode_id("ProductFamily", row["id"])), name=row["name"], pk=row["id"]
        )


async def family_node(context: Context, pk: int) -> ProductFamily | None:
    row = await context.loaders.get(FamilyById).load(pk)
    return ProductFamily.from_row(row) if row is not None else None


NODE_LOADERS = {"ProductFamily": family_node}


@strawberry.type
class CatalogQuery:
    @strawberry.field(description="The product families (public: LIMITED access may read it).")
    async def product_families(self, info: strawberry.Info[Context, None]) -> list[ProductFamily]:
        rows = await fetch_families(info.context.db)
        return [ProductFamily.from_row(row) for row in rows]

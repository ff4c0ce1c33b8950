"""Sites, products, custom groups, the Summary tab, member administration (to be built)."""

from __future__ import annotations

from typing import Any

import strawberry


@strawberry.type
class FleetQuery:
    pass


@strawberry.type
class FleetMutation:
    pass


NODE_LOADERS: dict[str, Any] = {}

"""At most one credential mutation per operation (DESIGN §5, issue 12).

A credential mutation checks or sets a password or a one-time code. Aliases
would let one request make many guesses, or queue many argon2 hashes, past
every per-request limit; a validation rule refuses such a document before
anything runs, with `extensions.code` TOO_MANY_CREDENTIAL_MUTATIONS.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValidationRule,
)

# Every mutation that checks or sets a password or a code; a new one is added here.
CREDENTIAL_MUTATIONS = frozenset(
    {
        "createAccount",
        "signIn",
        "verifyEmail",
        "resetPassword",
        "requestPasswordReset",
        "resendVerificationCode",
    }
)
MAX_CREDENTIAL_MUTATIONS = 1
ERROR_CODE = "TOO_MANY_CREDENTIAL_MUTATIONS"


class OneCredentialMutation(ValidationRule):
    def enter_operation_definition(self, node: OperationDefinitionNode, *_args: Any) -> None:
        if node.operation is not OperationType.MUTATION:
            return
        count = self._count(node.selection_set, set())
        if count > MAX_CREDENTIAL_MUTATIONS:
            self.report_error(
                GraphQLError(
                    f"At most {MAX_CREDENTIAL_MUTATIONS} sign-up, sign-in, code or password "
                    f"mutation per request; this one has {count}.",
                    node,
                    extensions={"code": ERROR_CODE},
                )
            )

    def _count(self, selection_set: SelectionSetNode, seen: set[str]) -> int:
        """Root fields named like a credential mutation, through fragments
        (each fragment followed once: a cycle is another rule's error)."""
        count = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                count += selection.name.value in CREDENTIAL_MUTATIONS
            elif isinstance(selection, InlineFragmentNode):
                count += self._count(selection.selection_set, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.context.get_fragment(name)
                if fragment is not None and name not in seen:
                    seen.add(name)
                    count += self._count(fragment.selection_set, seen)
        return count

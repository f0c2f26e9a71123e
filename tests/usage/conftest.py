"""The usage tests' cast, as the account tests have it: alice owns the team, dave admins it,
bob is a member, carol owns another team."""

from tests.accounts.conftest import PASSWORD, as_, team  # noqa: F401  (fixtures and helpers shared)

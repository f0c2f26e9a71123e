from tests.accounts.conftest import PASSWORD, as_, team  # noqa: F401  (the account tests' cast)

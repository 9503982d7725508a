"""Service tests reuse the in-process gateway fixture of the API tests."""

from tests.api.conftest import make_gateway  # noqa: F401  (a fixture, re-exported for this folder)

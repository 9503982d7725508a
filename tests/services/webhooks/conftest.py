"""In-process gateways (as in the API tests) for the webhook sender's tests."""

from tests.api.conftest import make_gateway  # noqa: F401 - the fixture, shared

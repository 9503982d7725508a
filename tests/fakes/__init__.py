"""Faithful stand-ins for external systems (a Kubernetes API server with a spark-operator), over real HTTP.

Test modules load the fixtures with `pytest_plugins = ["tests.fakes.k8s_server"]` and may import from the
same module; registering it for assertion rewriting first keeps pytest from warning about that.
"""

import pytest

pytest.register_assert_rewrite("tests.fakes.k8s_server")

"""Applying `domain.spec_policy` to a submission: who is exempt, and how a refusal reads.

Why a module of its own: both APIs submit through `services.applications`, and the Livy API must name
its own field (`conf.<key>`) where the native API names `spec.sparkConf.<key>`. Only an authenticated
admin (`gateway.authorization.admins`) is exempt; without authentication nobody is, so an open gateway
cannot be used to create privileged pods either.
"""

from __future__ import annotations

from spark_gateway.domain.errors import BadRequest
from spark_gateway.domain.sparkapp import SparkApplication
from spark_gateway.domain.spec_policy import SpecPolicy, Violation
from spark_gateway.services.gateway import GatewayRuntime

LIVY_CONF = ("spec.sparkConf.", "conf.")


def describe(violation: Violation, *, livy: bool) -> str:
    text = violation.describe()
    return text.replace(*LIVY_CONF, 1) if livy and text.startswith(LIVY_CONF[0]) else text


def enforce_spec_policy(
    gateway: GatewayRuntime, user: str | None, app: SparkApplication, *, livy: bool
) -> None:
    """Raise BadRequest naming every field `user` may not set (nothing for an authenticated admin)."""
    if user is not None and gateway.access.is_admin(user):
        return
    conf = gateway.settings.gateway
    policy = SpecPolicy.build(conf.allowedSpecFields, conf.allowedServiceAccounts)
    found = policy.violations(app.to_k8s())
    if found:
        details = "; ".join(describe(v, livy=livy) for v in found)
        raise BadRequest(f"refused, only an admin may set: {details}")

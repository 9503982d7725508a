"""Where webhooks may go: http(s) URLs whose hosts are public, unless the configuration allows more.

A webhook is a request the gateway makes on a user's behalf, so without this anyone who may submit
could make the gateway call its own network (metadata services, databases, admin ports). Loopback,
private, link-local, multicast and reserved addresses are refused unless `webhooks.allowPrivateNetworks`
or `webhooks.allowedHosts` (host names, addresses, CIDRs) says otherwise. Submissions are checked when
they arrive (syntax, address literals); every delivery resolves the host again before it is sent.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from spark_gateway.webhook_settings import WebhooksConfig

MAX_URL_LENGTH = 2000
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class TargetPolicy:
    def __init__(self, config: WebhooksConfig) -> None:
        self.allow_private = config.allowPrivateNetworks
        self.names: set[str] = set()
        self.networks: list[IPNetwork] = []
        for entry in config.allowedHosts:
            try:
                self.networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                self.names.add(entry.lower().rstrip("."))

    def syntax_problem(self, url: str) -> str | None:
        """Why `url` cannot be a webhook target at all (None: it can, as far as its text goes)."""
        if len(url) > MAX_URL_LENGTH:
            return f"callback URL longer than {MAX_URL_LENGTH} characters"
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError:
            return "callback URL is not a valid URL"
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return "callback URL must be an http:// or https:// URL with a host"
        if parts.username or parts.password:
            return "callback URL must not carry credentials"
        return None

    def address_problem(self, address: IPAddress) -> str | None:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if any(address in net for net in self.networks) or self.allow_private or address.is_global:
            return None
        return f"callback target {address} is in a network the gateway does not call (webhooks.allowedHosts)"

    def request_problem(self, url: str) -> str | None:
        """Checked when a submission names `url`: its syntax, and its address when it is a literal."""
        if problem := self.syntax_problem(url):
            return problem
        host = (urlsplit(url).hostname or "").rstrip(".")
        if host.lower() in self.names:
            return None
        try:
            return self.address_problem(ipaddress.ip_address(host))
        except ValueError:
            return None  # a name: resolved (and checked) at delivery time

    async def delivery_problem(self, url: str) -> str | None:
        """Checked before every delivery: every address the host resolves to must be allowed."""
        if problem := self.syntax_problem(url):
            return problem
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
        if host.lower() in self.names:
            return None
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            return f"cannot resolve {host}: {exc.strerror or exc}"
        for info in infos:
            if problem := self.address_problem(ipaddress.ip_address(info[4][0])):
                return problem
        return None

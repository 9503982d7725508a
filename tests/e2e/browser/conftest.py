"""A real headless Chromium (Debian's `chromium` and `chromedriver`) driven by Selenium.

Nothing is downloaded at test time: Selenium is given the browser and driver paths, so Selenium
Manager never runs. Without them the tests skip (or fail in CI, see `tests.conftest.missing`); `.ci/run`
installs both. Every browser resolves only 127.0.0.1, so no page can quietly reach the internet.
Each test saves screenshots under `test-output/browser/` for a person to look at.
"""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO_ROOT, missing
from tests.e2e.conftest import REPO, GatewayProcess, free_port

CHROMIUM = os.environ.get("SPARK_GATEWAY_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SPARK_GATEWAY_CHROMEDRIVER", "/usr/bin/chromedriver")
SCREENSHOTS = Path(os.environ.get("SPARK_GATEWAY_TEST_OUTPUT", REPO_ROOT / "test-output")) / "browser"
FLAGS = (
    "--headless",
    "--no-sandbox",  # the tests run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
    # The outside world is unreachable: every host name but 127.0.0.1 fails to resolve.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
)


PASSWORDS = {"alice": "pw-alice", "bob": "pw-bob", "root": "pw-root"}  # root is the admin


def authorization(user: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{PASSWORDS[user]}".encode()).decode()


def basic_auth(folder: Path) -> dict[str, Any]:
    """The `gateway` settings of a gateway behind Basic authentication for PASSWORDS' users (their
    htpasswd file is written into `folder`)."""
    from tests.api.security.helpers import write_htpasswd

    htpasswd = write_htpasswd(folder / "htpasswd", PASSWORDS)
    return {
        "middleware": [{"type": "BasicAuthMiddleware", "conf": {"htpasswdFile": str(htpasswd)}}],
        "authorization": {"admins": ["root"]},
    }


def local_cluster(name: str, namespace: str, *, stand_in: bool = False) -> dict[str, Any]:
    """A local cluster (id = name) with one namespace (id = its name); a stand-in's `spark-submit`
    is /bin/false, so what it runs fails at once without starting Spark."""
    cluster: dict[str, Any] = {
        "name": name,
        "id": name,
        "type": "local",
        "namespaces": [{"name": namespace, "id": namespace}],
    }
    if stand_in:
        cluster["local"] = {"sparkSubmit": "/bin/false"}
    return cluster


def browser_available() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    return None


def new_driver(user_data_dir: str) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={user_data_dir}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))


class Browser:
    """One Chromium with helpers for waiting on conditions and saving screenshots."""

    def __init__(self, driver: Any, shots: Path) -> None:
        self.driver = driver
        self.shots = shots

    def as_user(self, authorization: str | None) -> None:
        """Send this Authorization header with every request (what a browser does after the Basic prompt)."""
        self.driver.execute_cdp_cmd("Network.enable", {})
        headers = {"Authorization": authorization} if authorization else {}
        self.driver.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": headers})

    def open(self, url: str) -> None:
        self.driver.get(url)

    def wait(self, condition: Callable[[Any], Any], timeout: float = 30.0, what: str = "") -> Any:
        from selenium.common.exceptions import TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        try:
            return WebDriverWait(self.driver, timeout, poll_frequency=0.2).until(condition)
        except TimeoutException:
            self.screenshot("timeout")
            raise AssertionError(f"timed out waiting for {what or condition}") from None

    def find(self, css: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return list(self.driver.find_elements(By.CSS_SELECTOR, css))

    def text(self, css: str) -> str:
        found = self.find_all(css)
        return str(found[0].text) if found else ""

    def rows(self) -> dict[str, str]:
        """The applications table as {gateway id: state}, read in one go (auto-refresh replaces it)."""
        rows = self.driver.execute_script(
            "return [...document.querySelectorAll('tr[data-gateway-id]')]"
            ".map(r => [r.dataset.gatewayId, (r.querySelector('.badge') || {}).textContent || ''])"
        )
        return {gid: state for gid, state in rows}

    def listed(self) -> list[str]:
        return list(self.rows())

    def table_as(self, base_url: str, user: str) -> list[str]:
        """Open the applications page as `user` and return the gateway ids it lists."""
        self.as_user(authorization(user))
        self.open(f"{base_url}/ui/applications")
        self.wait(lambda d: self.find_all("#total"), what=f"{user}'s table")
        return self.listed()

    def screenshot(self, name: str) -> Path:
        self.shots.mkdir(parents=True, exist_ok=True)
        path = self.shots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def console_errors(self) -> list[str]:
        return [
            entry["message"]
            for entry in self.driver.get_log("browser")
            if entry["level"] == "SEVERE" and "favicon" not in entry["message"]
        ]


@pytest.fixture(scope="module")
def browser_driver() -> Iterator[Any]:
    """One headless Chromium per test module, with a fresh profile."""
    reason = browser_available()
    if reason:
        missing(reason)
    profile = tempfile.mkdtemp(prefix="sg-chromium-")
    driver = new_driver(profile)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def browser(browser_driver: Any, request: pytest.FixtureRequest) -> Iterator[Browser]:
    module = request.node.module.__name__.rsplit(".", 1)[-1]
    test = request.node.name.replace("[", "-").replace("]", "")
    b = Browser(browser_driver, SCREENSHOTS / module / test)
    b.as_user(None)
    yield b
    b.screenshot("end")


def wait_until(condition: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
    """Poll a condition outside the browser (the API) until it holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def module_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., GatewayProcess]]:
    """Start real gateway processes (`spark-gateway serve`) that live for the whole test module."""
    started: list[GatewayProcess] = []
    folder = tmp_path_factory.mktemp("gateway")
    env = dict(os.environ)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)

    def start(config: dict[str, Any]) -> GatewayProcess:
        conf = {"dataDir": str(folder / "data"), **config}
        conf_path = folder / f"gateway-{len(started)}.yaml"
        conf_path.write_text(yaml.safe_dump(conf))
        gw = GatewayProcess(conf_path, free_port(), folder / f"gateway-{len(started)}.log", env)
        started.append(gw)
        return gw.start()

    yield start
    for gw in started:
        gw.stop()

"""The dashboard, the host pages and the API need a login when the frontend is reachable from
other machines, show no secret when logged in, and the API docs render with no internet.

The frontend listens on a non-loopback address, 10.213.0.1 — inside a network namespace this
test makes (a veth pair, nothing routed out), and so does every client: curl and headless
Chromium run in the namespace, which has no route anywhere, so a page that needed a CDN would
render empty.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from rocks.inventory import queries as q
from rocks.server.config import ServerConfig
from tests.server.conftest import API_TOKEN, REPO, ROOTPW, Cluster, mac, make_cluster

ADDRESS = "10.213.0.1"
LEAK = "secretword1234"  # part of a secret value a compile error quotes


def _ns_ok() -> str:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return "needs root and iproute2 for a network namespace"
    return ""


@dataclass
class Namespace:
    name: str

    def run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.name, *argv], capture_output=True,
                              text=True, timeout=timeout)

    def popen(self, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            return subprocess.Popen(["ip", "netns", "exec", self.name, *argv], env=env,
                                    stdout=out, stderr=subprocess.STDOUT, cwd=REPO)


@pytest.fixture(scope="module")
def ns() -> Iterator[Namespace]:
    problem = _ns_ok()
    if problem:
        pytest.fail(problem)
    name = f"rocks-i13s-{os.getpid()}"
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    subprocess.run(["ip", "netns", "add", name], check=True)
    n = Namespace(name)
    try:
        for argv in (["ip", "link", "set", "lo", "up"],
                     ["ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1"],
                     ["ip", "addr", "add", f"{ADDRESS}/24", "dev", "v0"],
                     ["ip", "link", "set", "v0", "up"], ["ip", "link", "set", "v1", "up"]):
            r = n.run(*argv)
            assert r.returncode == 0, r.stderr
        yield n
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = make_cluster(tmp_path_factory.mktemp("cluster"), 3)
    with c.inventory.transaction() as s:  # a secret whose value the compile error quotes
        q.set_attr(s, "host", "compute-0-2", "Kickstart_Timezone", f"UTC --bogus {LEAK}",
                   secret=True)
    yield c
    c.inventory.close()


def start(ns: Namespace, cluster: Cluster, tmp: Path, host: str, port: int) -> Iterator[str]:
    config = ServerConfig(database_url=cluster.url, state_dir=str(cluster.state), host=host,
                          port=port, refresh_interval=0.2)
    env = {**os.environ, "ROCKS_SERVER_CONFIG": config.to_env(), "ROCKS_API_TOKEN": API_TOKEN,
           "PYTHONPATH": str(REPO)}
    log = tmp / f"server-{port}.log"
    proc = ns.popen([sys.executable, "-m", "rocks.server.run"], env, log)
    base = f"http://{host}:{port}"
    try:
        deadline = time.monotonic() + 60
        while ns.run("curl", "-s", "-o", "/dev/null", "--max-time", "2", base + "/login"
                     ).returncode != 0:
            assert proc.poll() is None, log.read_text()[-3000:]
            if time.monotonic() >= deadline:  # a timeout, not a timing
                pytest.fail(log.read_text()[-3000:])
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def public(ns: Namespace, cluster: Cluster,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from start(ns, cluster, tmp_path_factory.mktemp("public"), ADDRESS, 8080)


@pytest.fixture(scope="module")
def loopback(ns: Namespace, cluster: Cluster,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    yield from start(ns, cluster, tmp_path_factory.mktemp("loopback"), "127.0.0.1", 8081)


@dataclass
class Reply:
    status: int
    headers: str
    body: str


def curl(ns: Namespace, url: str, *args: str) -> Reply:
    r = ns.run("curl", "-s", "-D", "-", "--max-time", "20", *args, url)
    assert r.returncode == 0, r.stderr
    head, _, body = r.stdout.partition("\n\n")  # text mode: CRLF came as LF
    return Reply(int(head.split()[1]), head.lower(), body)


PAGES = ("/", "/status.json", "/hosts/compute-0-1", "/appliances/compute/graph", "/api/docs",
         "/api/redoc", "/api/openapi.json", "/api/hosts", "/api/hosts/compute-0-1",
         "/api/events")


def no_secret(text: str, cluster: Cluster) -> None:
    assert ROOTPW not in text and LEAK not in text
    assert not any(t in text for t in cluster.tokens.values())
    assert API_TOKEN not in text


def test_pages_and_api_refuse_without_a_login(ns: Namespace, cluster: Cluster,
                                              public: str) -> None:
    for path in PAGES:
        r = curl(ns, public + path)
        if path.endswith(".json") or (path.startswith("/api/") and "docs" not in path \
                and "redoc" not in path):
            assert r.status == 401, (path, r.status)
        else:
            assert r.status == 303, (path, r.status)
            assert "location: /login?next=" in r.headers
        for name in cluster.addresses:
            assert name not in r.body, path
        assert mac(1) not in r.body
        no_secret(r.body, cluster)
    wrong = curl(ns, public + "/", "-H", "Authorization: Bearer wrong")
    assert wrong.status == 303
    form = curl(ns, public + "/login")
    assert form.status == 200 and 'name="token"' in form.body


def test_read_only_login_then_pages_without_secrets(ns: Namespace, cluster: Cluster,
                                                    public: str) -> None:
    from rocks.cli.context import run_cli

    r = run_cli(["create", "frontend", "token", "readonly=yes"],
                {"ROCKS_STATE": str(cluster.state)})
    assert r.code == 0, r.stderr
    readonly = r.stdout.strip()
    assert (cluster.state / "readonly-token").stat().st_mode & 0o777 == 0o600
    bad = curl(ns, public + "/login", "--data-urlencode", "token=guess", "-d", "next=/")
    assert bad.status == 401 and "set-cookie" not in bad.headers
    ok = curl(ns, public + "/login", "--data-urlencode", f"token={readonly}",
              "--data-urlencode", "next=//evil.example/x")
    assert ok.status == 303 and "location: /\n" in ok.headers + "\n"
    cookie = re.search(r"set-cookie: (rocks_session=[^;]+);", ok.headers)
    assert cookie and "httponly" in ok.headers and "samesite=strict" in ok.headers
    session = ("-H", f"Cookie: {cookie.group(1)}")
    for path in PAGES:
        page = curl(ns, public + path, *session)
        assert page.status == 200, (path, page.status, page.body[:200])
        no_secret(page.body, cluster)
    host = curl(ns, public + "/hosts/compute-0-2", *session)
    assert "kickstart-invalid" in host.body and "********" in host.body  # masked, not quoted
    admin = curl(ns, public + "/api/hosts/compute-0-1", "-H", f"Authorization: Bearer {API_TOKEN}")
    assert admin.status == 200 and '"rootpw_hash":"********"' in admin.body
    no_secret(admin.body, cluster)
    # a new read-only token ends the sessions signed with the old one
    assert run_cli(["create", "frontend", "token", "readonly=yes"],
                   {"ROCKS_STATE": str(cluster.state)}).code == 0
    time.sleep(1.2)
    assert curl(ns, public + "/", *session).status == 303


def test_api_docs_render_with_no_internet(ns: Namespace, loopback: str, tmp_path: Path) -> None:
    for path in ("/api/docs", "/api/redoc"):
        html = curl(ns, loopback + path).body
        assert not re.search(r"(src|href)=\"https?://", html), html  # nothing from elsewhere
    common = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
              "--no-first-run", "--disable-background-networking", "--disable-component-update",
              "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
              "--window-size=1280,800", "--virtual-time-budget=8000", "--dump-dom"]
    env_home = f"HOME={tmp_path}"
    swagger = ns.run("env", env_home, *common, loopback + "/api/docs", timeout=120)
    assert swagger.returncode == 0, swagger.stderr[-2000:]
    assert 'class="swagger-ui' in swagger.stdout and "opblock" in swagger.stdout
    assert "/api/hosts/{name}" in swagger.stdout
    redoc = ns.run("env", env_home, *common, loopback + "/api/redoc", timeout=120)
    assert redoc.returncode == 0, redoc.stderr[-2000:]
    assert "api-content" in redoc.stdout or "redoc-wrap" in redoc.stdout
    assert "/api/appliances" in redoc.stdout


def test_login_is_required_exactly_off_loopback() -> None:
    def need(**kw: object) -> bool:
        return ServerConfig(database_url="", state_dir="", **kw).login_required  # type: ignore[arg-type]

    assert not need(host="127.0.0.1") and not need(host="::1") and not need(host="localhost")
    assert need(host="0.0.0.0") and need(host=ADDRESS) and need(host="frontend.local")
    assert need(host="127.0.0.1", login="yes")
    assert need(host="127.0.0.1", trusted_proxies="127.0.0.1")  # a proxy brings others in

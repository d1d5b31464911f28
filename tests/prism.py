"""Pytest plugin: run Prism, a mock of Twilio's REST API built from Twilio's OpenAPI spec.

Prism validates every request against the published spec (a missing `To`
is a 422, no credentials a 401) and answers the spec's example. It only
knows success for Messages create; error paths use tests/fake_twilio.py.

`prism_url` starts one Prism for the whole session on a free port of
127.0.0.1, waits until it answers, and stops it at the end. Without Prism
(or the spec) the tests that use it are skipped with the reason, or fail
under CI (tests.conftest.need).

Where it looks: $PEERLINE_TEST_PRISM (the prism binary) and
$PEERLINE_TEST_TWILIO_SPEC (twilio_api_v2010.json), which .ci/run exports;
else .prism/node_modules/.bin/prism and the copy vendored in tests/twilio/
(see tests/twilio/README.md), both inside the repository.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT = 90.0


def prism_paths() -> tuple[Path | None, Path | None]:
    """Return the Prism binary and the Twilio spec to serve (None where missing)."""
    binary = Path(os.environ.get("PEERLINE_TEST_PRISM")
                  or REPO / ".prism" / "node_modules" / ".bin" / "prism")
    spec = Path(os.environ.get("PEERLINE_TEST_TWILIO_SPEC")
                or REPO / "tests" / "twilio" / "twilio_api_v2010.json")
    return (binary if binary.exists() else None), (spec if spec.exists() else None)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/", timeout=1):
            return True
    except urllib.error.HTTPError:
        return True  # any HTTP answer (Prism says 404 for /) means it is up
    except OSError:
        return False


@pytest.fixture(scope="session")
def prism_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a running Prism mock of the Twilio API (set it as twilio.api_base_url)."""
    from tests.conftest import need

    binary, spec = prism_paths()
    if binary is None:
        need("Prism not installed: npm install --prefix .prism @stoplight/prism-cli@5.16.0 "
             "or set PEERLINE_TEST_PRISM (.ci/run does)")
    if spec is None:
        need("Twilio OpenAPI spec not found: set PEERLINE_TEST_TWILIO_SPEC (.ci/run does)")
    if shutil.which("node") is None:
        need("Prism needs Node.js, which is not installed")
    assert binary is not None and spec is not None
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("prism") / "prism.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [str(binary), "mock", "-h", "127.0.0.1", "-p", str(port), str(spec)],
            stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(url):
            if process.poll() is not None:
                tail = log_path.read_text(errors="replace")[-2000:]
                pytest.fail(f"Prism exited with {process.returncode}:\n{tail}")
            if time.monotonic() > deadline:
                pytest.fail(f"Prism did not answer on {url} within {START_TIMEOUT:.0f}s")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

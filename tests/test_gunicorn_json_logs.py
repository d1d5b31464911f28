"""Under gunicorn, `logging.json = true` makes PeerLine's log lines JSON objects, redacted."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tests.conftest import need


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_json_logs_under_gunicorn(tmp_path, db_url):
    gunicorn = Path(sys.executable).with_name("gunicorn")
    if not gunicorn.exists() and not shutil.which("gunicorn"):
        need("gunicorn is not installed in this environment")
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\nurl = "{db_url}"\n[web]\nsecret_key = "k"\n'
                      '[twilio]\nauth_token = "tok"\n[logging]\njson = true\n')
    os.chmod(config, 0o600)
    port = _free_port()
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(gunicorn), "-w", "1", "-b", f"127.0.0.1:{port}", "bot:create_app()"],
            env={**os.environ, "PEERLINE_CONFIG": str(config)}, stdout=log,
            stderr=subprocess.STDOUT, cwd=tmp_path, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
                break
            except OSError:
                assert proc.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.1)
        form = urllib.parse.urlencode({"MessageSid": "SMjson1", "From": "+12025550123",
                                       "Body": "my secret words"}).encode()
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/sms/inbound", data=form, timeout=5)
        except urllib.error.HTTPError as exc:
            assert exc.code == 403
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    lines = log_path.read_text().splitlines()
    ours = [json.loads(line) for line in lines if line.startswith("{")]
    refused = [entry for entry in ours if entry["logger"] == "bot.web.webhook"]
    assert refused, f"no JSON line from bot.webhook in: {lines}"
    assert refused[0]["level"] == "WARNING" and "refused /sms/inbound" in refused[0]["message"]
    assert {"time", "level", "logger", "message"} <= set(refused[0])
    text = log_path.read_text()
    assert "my secret words" not in text and "2025550123" not in text

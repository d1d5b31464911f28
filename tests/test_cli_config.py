"""`peerline flows check|test --config X`: a config that cannot be read is said, not skipped."""

from __future__ import annotations

import pytest

from tests.test_cli import refusal, run, write_config


@pytest.mark.parametrize("command", ["check", "test"])
def test_flows_commands_refuse_a_broken_config_instead_of_checking_another_folder(
        tmp_path, command):
    flows = tmp_path / "myflows"
    flows.mkdir()
    (flows / "broken.yaml").write_text("id: other\nstart: nowhere\nsteps: {}\n")
    config = write_config(tmp_path, f'[flows]\ndir = "{flows}"\n\n[program]\ntimezon = "UTC"\n')
    line = refusal(run("flows", command, "--config", str(config)))
    assert "timezon" in line, line

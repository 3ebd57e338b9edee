"""The systemd unit and logrotate file `icapfilter install-service` writes."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner

from icapfilter.cli import main
from icapfilter.config import parse_config
from icapfilter.services.render import outside_writable

SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
LOGROTATE = shutil.which("logrotate")


@pytest.fixture
def installed(tmp_path):
    conf = tmp_path / "icapfilter.conf"
    conf.write_text('[log]\naccess = "/var/log/icapfilter/access.log"\n')
    result = CliRunner().invoke(main, ["install-service", "--root", str(tmp_path / "root"),
                                       "--config", str(conf)])
    assert result.exit_code == 0, result.output
    root = tmp_path / "root" / "etc"
    return conf, root / "systemd" / "system" / "icapfilter.service", \
        root / "logrotate.d" / "icapfilter", result.output


def directives(text: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        match = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if match:
            found.setdefault(match.group(1), []).append(match.group(2))
    return found


def test_the_unit_runs_this_installation_with_the_configuration_and_reloads_with_reload(
        installed):
    conf, unit, _logrotate, output = installed
    d = directives(unit.read_text())
    binary = d["ExecStart"][0].split()[0]
    assert d["ExecStart"] == [f"{binary} serve --config {conf}"]
    assert d["ExecReload"] == [f"{binary} reload --config {conf}"]
    assert d["ExecStartPre"] == [f"{binary} config check {conf}"]
    assert subprocess.run([binary, "--version"], capture_output=True).returncode == 0
    assert "systemctl enable --now icapfilter" in output


def test_the_unit_is_hardened(installed):
    d = directives(installed[1].read_text())
    for key, value in {"DynamicUser": "yes", "ProtectSystem": "strict", "NoNewPrivileges": "yes",
                       "PrivateTmp": "yes", "RuntimeDirectory": "icapfilter",
                       "LogsDirectory": "icapfilter", "CacheDirectory": "icapfilter",
                       "CapabilityBoundingSet": ""}.items():
        assert d[key] == [value], key
    assert set(d["ReadWritePaths"][0].split()) == {"/run/icapfilter", "/var/lib/icapfilter",
                                                  "/var/cache/icapfilter", "/var/log/icapfilter"}
    assert d["Before"] == ["squid.service"]


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze not installed")
def test_systemd_analyze_verifies_the_unit(installed):
    unit = installed[1]
    done = subprocess.run([SYSTEMD_ANALYZE, "verify", f"./{unit.name}"], cwd=unit.parent,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "", done.stderr


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze not installed")
def test_systemd_rates_the_unit_exposure_low(installed):
    unit = installed[1]
    done = subprocess.run([SYSTEMD_ANALYZE, "security", "--offline=yes", f"./{unit.name}"],
                          cwd=unit.parent, capture_output=True, text=True, timeout=60)
    if "--offline" in done.stderr:
        pytest.skip("this systemd-analyze has no offline security check")
    level = re.search(r"Overall exposure level for \S+: ([0-9.]+)", done.stdout)
    assert level, done.stdout[-500:] + done.stderr
    assert float(level.group(1)) <= 2.0


@pytest.mark.skipif(LOGROTATE is None, reason="logrotate not installed")
def test_logrotate_reads_the_file_and_signals_the_server_to_reopen(installed, tmp_path):
    logrotate = installed[2]
    text = logrotate.read_text()
    assert "systemctl kill --signal=SIGUSR1 icapfilter.service" in text
    done = subprocess.run([LOGROTATE, "-d", "-s", str(tmp_path / "state"), str(logrotate)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "error" not in (done.stdout + done.stderr).lower()


def test_print_installs_nothing(tmp_path):
    result = CliRunner().invoke(main, ["install-service", "--print", "--root", str(tmp_path)])
    assert result.exit_code == 0
    assert "# /etc/systemd/system/icapfilter.service" in result.output
    assert "# /etc/logrotate.d/icapfilter" in result.output
    assert list(tmp_path.iterdir()) == []


def test_files_the_unit_may_not_write_are_named_with_their_key():
    config = parse_config('[log]\naccess = "/var/log/icapfilter/a.log"\nerror = "/srv/e.log"\n'
                          '[server]\npid_file = "/var/run/icapfilter.pid"\n')
    assert outside_writable(config) == ["[log] error: /srv/e.log",
                                        "[server] pid_file: /var/run/icapfilter.pid"]


def _install(tmp_path, *args: str):
    return CliRunner().invoke(main, ["install-service", "--root", str(tmp_path / "root"),
                                     *args])


def test_a_configuration_path_with_spaces_and_specifiers_stays_one_word(tmp_path):
    folder = tmp_path / "my conf $HOME"
    folder.mkdir()
    conf = folder / "filter%i.conf"
    conf.write_text("")
    result = _install(tmp_path, "--config", str(conf))
    assert result.exit_code == 0, result.output
    unit = tmp_path / "root" / "etc" / "systemd" / "system" / "icapfilter.service"
    quoted = '"' + str(conf).replace("%", "%%").replace("$", "$$") + '"'
    assert directives(unit.read_text())["ExecStart"][0].endswith(f" serve --config {quoted}")
    if SYSTEMD_ANALYZE is not None:
        done = subprocess.run([SYSTEMD_ANALYZE, "verify", f"./{unit.name}"], cwd=unit.parent,
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and done.stderr == "", done.stderr


@pytest.mark.parametrize("args,needle", [
    (["--unit", "icapfilter.service; reboot"], "unit name"),
    (["--unit", "../../../tmp/x.service"], "unit name"),
    (["--config", "/etc/icap\nExecStartPost=/bin/true"], "control character"),
])
def test_names_that_would_break_the_unit_or_logrotate_are_refused(tmp_path, args, needle):
    result = _install(tmp_path, *args)
    assert result.exit_code == 1 and needle in result.output
    assert not (tmp_path / "root").exists()

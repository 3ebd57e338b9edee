"""``icapfilter install-service``: the systemd unit and logrotate file, installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import click

UNIT_PATH = "etc/systemd/system/{unit}"
LOGROTATE_PATH = "etc/logrotate.d/icapfilter"


def _binary() -> str:
    """This installation's ``icapfilter`` script (beside the Python running us)."""
    beside = Path(sys.executable).parent / "icapfilter"
    if beside.is_file():
        return str(beside)
    found = shutil.which("icapfilter")
    if found is None:
        raise click.ClickException("cannot find the icapfilter command: run this as "
                                   "/path/to/venv/bin/icapfilter install-service")
    return str(Path(found).absolute())


def _check_config(path: Path) -> None:
    """Warn of what would stop the service: no file yet, or paths it may not write."""
    from icapfilter.config import ConfigError, load_config
    from icapfilter.services.render import WRITABLE, outside_writable

    if not path.exists():
        click.echo(f"note: {path} does not exist yet: copy icapfilter.conf.sample there and "
                   "edit it (the unit runs `icapfilter config check` before each start)",
                   err=True)
        return
    try:
        outside = outside_writable(load_config(path))
    except ConfigError as exc:
        click.echo(f"warning: {exc}", err=True)
        return
    for item in outside:
        click.echo(f"warning: {item} is outside the folders the unit may write "
                   f"({', '.join(WRITABLE)}): move it there, or add ReadWritePaths= "
                   "with `systemctl edit icapfilter`", err=True)


@click.command("install-service")
@click.option("--config", "config_path", default="/etc/icapfilter.conf", show_default=True,
              type=click.Path(dir_okay=False), help="Configuration file the service runs with.")
@click.option("--root", default="/", show_default=True, type=click.Path(file_okay=False),
              help="Install below this folder (package builds, tests).")
@click.option("--unit", default="icapfilter.service", show_default=True,
              help="Name of the systemd unit.")
@click.option("--print", "print_only", is_flag=True,
              help="Print the unit and the logrotate file; install nothing.")
def install_service(config_path: str, root: str, unit: str, print_only: bool) -> None:
    """Install a hardened systemd unit and a logrotate file (Linux).

    Writes /etc/systemd/system/icapfilter.service (its own dynamic user,
    read-only system, writable /run, /var/lib and /var/log/icapfilter;
    `systemctl reload` runs `icapfilter reload`) and /etc/logrotate.d/icapfilter
    (daily, 14 kept; the server reopens its logs on SIGUSR1), then reloads
    systemd. Start it with `systemctl enable --now icapfilter`.
    """
    from icapfilter.services.render import logrotate_text, unit_text

    config = Path(config_path).absolute()
    try:
        texts = {UNIT_PATH.format(unit=unit): unit_text(_binary(), str(config)),
                 LOGROTATE_PATH: logrotate_text(unit)}
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if print_only:
        for name, text in texts.items():
            click.echo(f"# /{name}\n{text}")
        return
    _check_config(config)
    for name, text in texts.items():
        target = Path(root) / name
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        except OSError as exc:
            raise click.ClickException(f"cannot write {target}: {exc.strerror or exc} "
                                       "(run as root, or give --root)") from None
        click.echo(f"wrote {target}")
    if Path(root).resolve() == Path("/") and Path("/run/systemd/system").is_dir():
        subprocess.run(["systemctl", "daemon-reload"], check=False, timeout=60)
    click.echo(f"next: systemctl enable --now {unit.removesuffix('.service')}; "
               f"reload with systemctl reload {unit.removesuffix('.service')}")

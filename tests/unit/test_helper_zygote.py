"""The helper zygote's rebuilds, without sockets or forks."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

import icapfilter.app
import icapfilter.helperpolicy
from icapfilter.helperzygote import Zygote


@pytest.fixture
def zygote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Zygote]:
    (tmp_path / "BL/adult").mkdir(parents=True)
    (tmp_path / "BL/adult/domains").write_text("bad.test\n")
    config = tmp_path / "c.toml"
    config.write_text(f'[lists]\npaths = ["{tmp_path / "BL"}"]\n'
                      '[[groups]]\nname = "default"\nblock = ["adult"]\n')
    monkeypatch.setattr(icapfilter.app, "setup_logging", lambda config: None)
    yield Zygote(str(config), None)
    gc.unfreeze()


def blocks(zygote: Zygote, host: str) -> bool:
    from icapfilter.squidhelper import answer

    return answer(zygote.policy, f"10.0.0.1 - http://{host}/".encode()).startswith(b"OK")


def test_lists_edited_while_the_policy_builds_are_picked_up_by_the_next_launcher(
        zygote: Zygote, monkeypatch: pytest.MonkeyPatch) -> None:
    real = icapfilter.helperpolicy.helper_policy
    lists = Path(zygote.config_path).parent / "BL/adult/domains"

    def edited_meanwhile(config, build):  # type: ignore[no-untyped-def]
        policy = real(config, build)
        lists.write_text("bad.test\nlate.test\n")
        return policy

    monkeypatch.setattr(icapfilter.helperpolicy, "helper_policy", edited_meanwhile)
    zygote.build()
    assert not blocks(zygote, "late.test")
    monkeypatch.setattr(icapfilter.helperpolicy, "helper_policy", real)
    zygote.refresh()
    assert blocks(zygote, "late.test")


def test_a_failed_rebuild_is_tried_again_only_after_another_change(zygote: Zygote) -> None:
    zygote.build()
    real_build = zygote.build
    attempts = []

    def counted() -> None:
        attempts.append(1)
        real_build()

    zygote.build = counted  # type: ignore[method-assign]
    config = Path(zygote.config_path)
    good = config.read_text()
    config.write_text("[lists\n")
    for _ in range(3):  # three launchers
        zygote.refresh()
    assert len(attempts) == 1 and blocks(zygote, "bad.test")  # the last good policy serves
    assert zygote.stale and "cannot be loaded" in zygote.stale  # each child logs it
    config.write_text(good.replace('block = ["adult"]', 'block = []'))
    zygote.refresh()
    assert len(attempts) == 2 and not blocks(zygote, "bad.test") and zygote.stale is None


def test_an_unchanged_configuration_is_not_rebuilt(zygote: Zygote) -> None:
    zygote.build()
    policy = zygote.policy
    zygote.refresh()
    assert zygote.policy is policy


def test_lists_that_vanished_keep_the_running_policy(zygote: Zygote) -> None:
    import shutil

    zygote.build()
    shutil.rmtree(Path(zygote.config_path).parent / "BL")
    zygote.refresh()
    assert blocks(zygote, "bad.test")


def test_a_new_zygote_waits_for_the_lock_of_one_that_is_exiting(tmp_path: Path) -> None:
    import fcntl
    import os
    import threading

    from icapfilter.helperzygote import take_lock

    sock = str(tmp_path / "z.sock")
    exiting = os.open(sock + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(exiting, fcntl.LOCK_EX)
    threading.Timer(0.3, os.close, [exiting]).start()  # it exits: the lock goes
    lock = take_lock(sock, wait=10)
    assert lock is not None
    os.close(lock)


def test_a_new_zygote_gives_way_to_one_that_serves_or_builds(tmp_path: Path) -> None:
    import fcntl
    import os
    import time

    from icapfilter.helperzygote import take_lock

    sock = tmp_path / "z.sock"
    running = os.open(f"{sock}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(running, fcntl.LOCK_EX)
    try:
        started = time.monotonic()
        assert take_lock(str(sock), wait=0.3) is None  # building: no socket yet
        assert time.monotonic() - started < 5
        sock.touch()
        assert take_lock(str(sock), wait=10) is None  # serving
        assert time.monotonic() - started < 5
    finally:
        os.close(running)


def test_phrase_lists_a_child_may_need_are_built_once_in_the_zygote(
        zygote: Zygote, monkeypatch: pytest.MonkeyPatch) -> None:
    from icapfilter.helperpolicy import HelperPolicy

    real = icapfilter.helperpolicy.helper_policy
    full_builds = []

    def learned_mode(config, build):  # type: ignore[no-untyped-def]
        lean = real(config, build)
        return HelperPolicy(lean, lambda: full_builds.append(lean) or lean, marks=False)

    monkeypatch.setattr(icapfilter.helperpolicy, "helper_policy", learned_mode)
    zygote.build()
    assert len(full_builds) == 1  # before any fork: the children inherit it

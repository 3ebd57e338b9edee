"""The access log file: reopened after rotation, and never the reason a worker ends."""

from __future__ import annotations

import logging

from icapfilter.accesslog import AccessLog
from icapfilter.outcome import Outcome
from icapfilter.verdict import Verdict


def _outcome(url: str) -> Outcome:
    return Outcome(service="reqmod", method="REQMOD", url=url, status=200,
                   verdict=Verdict.allow("not listed"))


def test_reopen_moves_to_the_new_file_after_a_rotation(tmp_path):
    path = tmp_path / "access.log"
    log = AccessLog(str(path))
    log(_outcome("http://one.test/"), ("127.0.0.1", 1), None)
    path.rename(tmp_path / "access.log.1")
    log.reopen()
    log(_outcome("http://two.test/"), ("127.0.0.1", 1), None)
    log.close()
    assert "one.test" in (tmp_path / "access.log.1").read_text()
    assert "two.test" in path.read_text() and "one.test" not in path.read_text()


def test_a_reopen_that_cannot_open_keeps_writing_the_old_file(tmp_path, caplog):
    folder = tmp_path / "logs"
    folder.mkdir()
    log = AccessLog(str(folder / "access.log"))
    folder.rename(tmp_path / "moved")  # the configured folder is gone
    with caplog.at_level(logging.ERROR):
        log.reopen()
    log(_outcome("http://after.test/"), ("127.0.0.1", 1), None)
    log.close()
    assert "after.test" in (tmp_path / "moved" / "access.log").read_text()
    assert "access log not reopened" in caplog.text


def test_lines_a_full_disk_refuses_are_counted_in_one_error_not_raised(caplog):
    log = AccessLog("/dev/full")  # every write: No space left on device
    with caplog.at_level(logging.ERROR):
        for _ in range(3):
            log(_outcome("http://lost.test/"), ("127.0.0.1", 1), None)
    log.close()
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "No space left on device" in errors[0]
    assert "1 line lost" in errors[0]

"""One ScanSettings value from the configuration to every scan."""

from __future__ import annotations

from dataclasses import fields

import pytest

from icapfilter.config import ConfigError, PhrasesConfig, parse_config
from icapfilter.scan_settings import DEFAULT_SCAN, ScanSettings


def test_a_configuration_that_sets_nothing_gives_the_default_settings():
    assert PhrasesConfig().scan_settings() == DEFAULT_SCAN


def test_every_option_of_the_configuration_reaches_the_settings():
    config = parse_config('[phrases]\nfilter_mode = "raw"\nweighted_mode = "normal"\n'
                          'e2guardian_exact = true\nmax_scan_bytes = 1000\n'
                          'max_decoded_bytes = 5000\nscan_types = ["text/*"]\n')
    settings = config.phrases.scan_settings()
    assert settings == ScanSettings("normal", "raw", True, 1000, 5000, ("text/*",))
    assert {f.name for f in fields(ScanSettings)} <= {f.name for f in fields(PhrasesConfig)}


@pytest.mark.parametrize("bad", [{"weighted_mode": "mode2"}, {"filter_mode": "fast"},
                                 {"max_scan_bytes": 0}])
def test_settings_that_no_scan_can_use_are_refused(bad):
    with pytest.raises(ValueError):
        ScanSettings(**bad)


def test_the_configuration_names_the_key_of_a_bad_mode():
    with pytest.raises(ConfigError, match=r"\[phrases\]: filter_mode must be one of"):
        parse_config('[phrases]\nfilter_mode = "fast"\n')


def test_scannable_follows_the_scan_types():
    assert DEFAULT_SCAN.scannable("text/html; charset=utf-8")
    assert not DEFAULT_SCAN.scannable("image/png") and not DEFAULT_SCAN.scannable(None)
    assert ScanSettings(scan_types=("image/*",)).scannable("image/png")

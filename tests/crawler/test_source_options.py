"""Options of the code spiders are checked when the config loads: a typo or a bad value is
an error naming the file, the line and the entry."""

from __future__ import annotations

import re

import pytest

from config.loader import ConfigError, load_config


def _set_eu_options(config_dir, options: str) -> None:
    path = config_dir / "sources.yaml"
    text = path.read_text(encoding="utf-8")
    text = re.sub(
        r"(  - key: eu_portal\n(?:    .*\n)*?)    options:\n(?:      .*\n|                   .*\n)+",
        lambda m: m.group(1) + "    options:\n" + options,
        text,
        count=1,
    )
    path.write_text(text, encoding="utf-8")


def test_shipped_options_are_valid():
    config = load_config()
    assert config.source("eu_portal").options["page_size"] == 100


@pytest.mark.parametrize(
    "options,message",
    [
        ("      page_sise: 50\n", "unknown option 'page_sise' for kind eu_portal"),
        ("      programmes: [HORIZON, ERUF]\n", "unknown EU portal programme 'ERUF'"),
        ("      statuses: [open, pending]\n", "unknown status 'pending'"),
        ("      fetch_details: sometimes\n", "option 'fetch_details' must be a bool"),
        ("      page_size: 0\n", "option 'page_size' must be at least 1"),
        ("      detail_url: https://example.org/details.json\n", "must contain {identifier}"),
    ],
)
def test_bad_option_is_refused_with_file_and_line(config_dir, options, message):
    _set_eu_options(config_dir, options)
    with pytest.raises(ConfigError) as info:
        load_config(config_dir)
    text = str(info.value)
    assert message in text
    assert re.search(r"sources\.yaml:\d+: sources\[0\]", text), text

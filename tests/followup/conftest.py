"""Fixtures of the follow-up tests: a config naming the förvaltningar, and a seeded year
(see followup_seed.py for what it holds)."""

from __future__ import annotations

from pathlib import Path

import pytest
from followup_seed import NEEDS_YAML, SeededYear, seed_year

from config.loader import Config, load_config


@pytest.fixture
def followup_config_dir(config_dir: Path) -> Path:
    (config_dir / "needs.yaml").write_text(NEEDS_YAML, encoding="utf-8")
    return config_dir


@pytest.fixture
def followup_config(followup_config_dir: Path) -> Config:
    return load_config(followup_config_dir)


@pytest.fixture
def seeded(session) -> SeededYear:
    return seed_year(session)

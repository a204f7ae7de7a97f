"""Helpers for the digest tests (imported by name; ``conftest`` is not a unique module name
across the test folders)."""

from __future__ import annotations

from pathlib import Path

import yaml

from notifications.example import example_needs, example_sources


def write_example_config(config_dir: Path) -> None:
    """Make a test config directory use the example förvaltningar, topics and sources."""
    for name, model in (("needs.yaml", example_needs()), ("sources.yaml", example_sources())):
        (config_dir / name).write_text(
            yaml.safe_dump(
                model.model_dump(mode="json", exclude_defaults=True),
                allow_unicode=True,
                sort_keys=False,
            ),
            encoding="utf-8",
        )

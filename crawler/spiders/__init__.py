"""Bevaka's spiders: one module per source kind.

:data:`SPIDERS_BY_KIND` maps a config ``kind`` (eu_portal, vinnova, tillvaxtverket, feed,
listing) to its spider class; it is built from every module in this package, so adding a
spider module is enough to register it.
"""

from __future__ import annotations

import importlib
import pkgutil

from crawler.spiders.base import BevakaSpider


def _discover() -> dict[str, type[BevakaSpider]]:
    found: dict[str, type[BevakaSpider]] = {}
    for module_info in pkgutil.iter_modules(__path__):
        if module_info.name.startswith("_") or module_info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BevakaSpider)
                and value is not BevakaSpider
                and value.__module__ == module.__name__
            ):
                for kind in value.kinds:
                    found[kind] = value
    return dict(sorted(found.items()))


SPIDERS_BY_KIND: dict[str, type[BevakaSpider]] = _discover()

__all__ = ["SPIDERS_BY_KIND", "BevakaSpider"]

"""The base of every Bevaka spider.

A spider is built for one source entry of config/sources.yaml. The runner passes the entry
(``source=SourceEntry``); from the command line ``scrapy crawl eu_portal`` or
``scrapy crawl feed -a source=esf`` looks the entry up in the config (``BEVAKA_CONFIG``).
Spiders yield :class:`crawler.items.CallItem`; the pipelines normalise, validate and store.
"""

from __future__ import annotations

from typing import Any, ClassVar

import scrapy

from config.schema import SourceEntry


class BevakaSpider(scrapy.Spider):
    #: the source kinds (config ``kind``) this spider serves
    kinds: ClassVar[tuple[str, ...]] = ()

    def __init__(self, source: SourceEntry | str | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if source is None:
            if self.name in self.kinds:
                source = self.name
            else:
                raise ValueError(f"spider {self.name!r} needs -a source=KEY (a {self.name} entry in sources.yaml)")
        if isinstance(source, str):
            from config.loader import load_config

            source = load_config().source(source)
        if source.kind not in self.kinds:
            raise ValueError(f"source {source.key!r} is of kind {source.kind!r}, not one of {self.kinds}")
        self.source: SourceEntry = source
        self.options: dict[str, Any] = dict(source.options)

    @property
    def source_key(self) -> str:
        return self.source.key

"""The in-process list store a configuration asks for: the mapped image, or the dict.

The dict (:class:`~.memory_store.MemoryStore`) remains for ``[lists] image =
false``, for a caller that hands in its own store (tests), and as the
fallback when no folder can hold an image: a filter that cannot cache its
lists must still start.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from icapfilter.urls.image_cache import CacheUnavailable
from icapfilter.urls.memory_store import MemoryStore
from icapfilter.urls.report import LoadReport
from icapfilter.urls.store import ListStore

log = logging.getLogger("icapfilter.lists")


def in_process_store(lists: Any, store: ListStore | None,
                     load: Callable[..., LoadReport]) -> tuple[ListStore, LoadReport]:
    """(store, load report) for ``[lists]``; raises LoadError like a load does.

    ``lists`` is the ListsConfig; ``load`` is loader.load_lists (passed in so
    this module does not decide how the dict is filled).
    """
    if store is None and lists.image:
        from icapfilter.urls.image_store import open_image_store

        try:
            image_store, report, _built = open_image_store(
                lists.paths, configured_dir=lists.cache_dir, strict=lists.strict)
            return image_store, report
        except (CacheUnavailable, OSError) as exc:
            log.warning("lists: no list image (%s); loading the lists into this process "
                        "instead, which takes more memory per worker", exc)
    target = store if store is not None else MemoryStore()
    return target, load(target, lists.paths, strict=lists.strict)

"""The most recently used clips' samples, within a memory budget; the rest are read again when needed."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np

from .memory import release_free_memory

DEFAULT_BUDGET_BYTES = 48 * 1024 * 1024
"""Decoded clips kept in memory: a short session's all fit; past that the least recently used are
read again from the cache when the mix needs them, so memory stays bounded however long the session."""


class RecentClips:
    """Samples by clip key, least recently used dropped first once over `budget_bytes`."""

    def __init__(self, budget_bytes: int = DEFAULT_BUDGET_BYTES) -> None:
        self._budget = budget_bytes
        self._clips: OrderedDict[str, np.ndarray] = OrderedDict()
        self._bytes = 0
        self._evicted = 0

    def get(self, key: str) -> np.ndarray | None:
        samples = self._clips.get(key)
        if samples is not None:
            self._clips.move_to_end(key)
        return samples

    def keep(self, key: str, samples: np.ndarray) -> None:
        if key in self._clips:
            return
        self._clips[key] = samples
        self._bytes += samples.nbytes
        while self._bytes > self._budget and len(self._clips) > 1:
            freed = self._clips.popitem(last=False)[1].nbytes
            self._bytes -= freed
            self._evicted += freed
        if self._evicted > self._budget // 4:  # hand evicted clips' memory back now and then,
            self._evicted = 0  # or the heap keeps growing with the number of clips seen
            release_free_memory()

"""The tuned (z, class, θ) of every opened photo, kept for the session.

Manipulations (jitter, transfer, morph) read from here and never rerun the optimisation.
Persistence to disk and memory budgets are another issue (the engine's ``save_session`` /
``load_session`` hold the same data).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class CacheEntry:
    result: object                    # ReconstructionResult
    box: tuple                        # photo region it explains (left, top, side)
    task: str
    composite: object = None          # full-resolution PIL image, when the composite exists
    hole: object = None               # model-resolution hole mask used (inpainting)
    alternatives: list = field(default_factory=list)   # (label, result) from diverse restorations
    full_hole: object = None          # photo-size bool mask the composite used (inpainting), for project files


class SessionCache:
    def __init__(self):
        self._entries: dict[int, CacheEntry] = {}

    def put(self, doc_id: int, entry: CacheEntry) -> None:
        self._entries[doc_id] = entry

    def get(self, doc_id: int) -> CacheEntry | None:
        return self._entries.get(doc_id)

    def result(self, doc_id: int):
        e = self._entries.get(doc_id)
        return e.result if e else None

    def has(self, doc_id: int) -> bool:
        return doc_id in self._entries

    def drop(self, doc_id: int) -> None:
        self._entries.pop(doc_id, None)

    def ids(self) -> list[int]:
        return list(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

"""The clusters' log versions this instance knows to be current, so a repeated read needs
no database at all.

A version (the head and every projection's checkpoint) is kept only when the projections
have caught up with the head; it is dropped the moment the cluster's log grows: at once for
an append made here, when the notification arrives for one made on another instance. If
notifications may have been missed (the listening connection dropped), every version is
dropped. A version read from the database while a notification for a later position came
in is not kept. At most `size` clusters are kept, each for at most `ttl` seconds.
"""

import time
from collections import OrderedDict

from thidua.store.notifier import ANY_TENANT

Version = tuple[int, ...]  # the head, then (version, generation, position) per projection


def reflected(version: Version, projections: int) -> int:
    """The position up to which the log and every read model have been read: what an
    answer at this version reflects (0 while a projection has read nothing)."""
    head, positions = version[0], version[3::3]
    return min(head, *positions) if len(positions) == projections else 0


class KnownVersions:
    def __init__(self, size: int = 10_000, ttl: float = 30.0, projections: int = 2) -> None:
        self._kept: OrderedDict[str, tuple[Version, float]] = OrderedDict()
        self._grown: OrderedDict[str, int] = OrderedDict()  # the last position heard of
        self._size, self._ttl, self._projections = size, ttl, projections

    def get(self, cluster: str) -> Version | None:
        found = self._kept.get(cluster)
        if found is None or time.monotonic() - found[1] > self._ttl:
            return None
        self._kept.move_to_end(cluster)
        return found[0]

    def keep(self, cluster: str, version: Version) -> None:
        """Keep a version just read, unless it is already behind or the projections lag."""
        head, positions = version[0], version[3::3]
        caught_up = len(positions) == self._projections and all(p == head for p in positions)
        if caught_up and self._grown.get(cluster, 0) <= head:
            self._kept[cluster] = (version, time.monotonic())
            self._kept.move_to_end(cluster)
            if len(self._kept) > self._size:
                self._kept.popitem(last=False)

    def grown(self, cluster: str, position: int) -> None:
        """The cluster's log has grown to `position` (ANY_TENANT: any log, unknown where)."""
        if cluster == ANY_TENANT:
            self._kept.clear()
            self._grown.clear()
            return
        self._kept.pop(cluster, None)
        self._grown[cluster] = max(position, self._grown.get(cluster, 0))
        self._grown.move_to_end(cluster)
        if len(self._grown) > self._size:
            self._grown.popitem(last=False)

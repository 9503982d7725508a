"""The one back-off policy every retry loop uses: reconnecting watches, re-queued status writes, lease
rounds, waiting for the database at start-up."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delay before attempt n: base·2^(n-1), at most `maximum`, ± `jitter` of itself.

    `delay(n)` when the caller counts failures itself; `next()` / `reset()` when it does not.
    """

    base: float = 0.5
    maximum: float = 30.0
    jitter: float = 0.2
    failures: int = field(default=0, compare=False)

    def delay(self, failures: int) -> float:
        raw = min(self.maximum, self.base * 2.0 ** max(0, failures - 1))
        return max(0.0, min(self.maximum, raw * (1 + random.uniform(-self.jitter, self.jitter))))

    def next(self) -> float:
        """The delay after one more consecutive failure."""
        self.failures += 1
        return self.delay(self.failures)

    def reset(self) -> None:
        """After a success: the next failure waits `base` again."""
        self.failures = 0

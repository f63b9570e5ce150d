"""Bus settings, read from the environment on every call (child processes and tests set their own).

| variable                           | default                  | meaning                                              |
|------------------------------------|--------------------------|------------------------------------------------------|
| ``LENDSIMPLE_BROKER_URL``          | amqp://guest:guest@...// | the broker (``common.conf.broker_url``)              |
| ``LENDSIMPLE_BUS_NAMESPACE``       | (empty)                  | prefix of every exchange and queue name (test runs)  |
| ``LENDSIMPLE_BUS_MAX_ATTEMPTS``    | 5                        | handler attempts before a message is dead-lettered   |
| ``LENDSIMPLE_BUS_RETRY_DELAYS_MS`` | 1000,10000,60000,300000  | back-off before attempt 2, 3, ...; the last repeats  |
| ``LENDSIMPLE_BUS_DELIVERY_LIMIT``  | 20                       | broker redeliveries (crashes) before the DLQ         |
| ``LENDSIMPLE_BUS_PREFETCH``        | 50                       | unacked messages a consumer holds                    |
| ``LENDSIMPLE_BUS_CONSUMER_BATCH``  | 50                       | waiting messages a consumer handles in one commit    |
| ``LENDSIMPLE_BUS_HEARTBEAT``       | 30                       | AMQP heartbeat, seconds                              |
| ``LENDSIMPLE_RELAY_BATCH_SIZE``    | 500                      | outbox rows claimed per transaction                  |
| ``LENDSIMPLE_RELAY_SWEEP_MS``      | 1000                     | sweep interval when no NOTIFY arrives                |
"""

from __future__ import annotations

from dataclasses import dataclass

from common.conf import broker_url, env, env_int


def _delays(raw: str) -> tuple[int, ...]:
    delays = tuple(int(part) for part in raw.replace(" ", "").split(",") if part)
    if not delays or any(d <= 0 for d in delays):
        raise ValueError(f"LENDSIMPLE_BUS_RETRY_DELAYS_MS must be positive milliseconds, got {raw!r}")
    return delays


@dataclass(frozen=True)
class BusSettings:
    broker_url: str
    namespace: str
    max_attempts: int
    retry_delays_ms: tuple[int, ...]
    delivery_limit: int
    prefetch: int
    consumer_batch: int
    heartbeat: int
    relay_batch_size: int
    relay_sweep_ms: int

    def retry_delay_ms(self, failures: int) -> int:
        """Delay before the next attempt after ``failures`` failed ones (1-based)."""
        return self.retry_delays_ms[min(failures, len(self.retry_delays_ms)) - 1]

    def name(self, base: str) -> str:
        return f"{self.namespace}.{base}" if self.namespace else base


def bus_settings() -> BusSettings:
    max_attempts = env_int("LENDSIMPLE_BUS_MAX_ATTEMPTS", 5)
    if max_attempts < 1:
        raise ValueError("LENDSIMPLE_BUS_MAX_ATTEMPTS must be at least 1")
    return BusSettings(
        broker_url=broker_url(),
        namespace=(env("LENDSIMPLE_BUS_NAMESPACE", "") or "").strip("."),
        max_attempts=max_attempts,
        retry_delays_ms=_delays(env("LENDSIMPLE_BUS_RETRY_DELAYS_MS", "1000,10000,60000,300000") or ""),
        delivery_limit=env_int("LENDSIMPLE_BUS_DELIVERY_LIMIT", 20),
        prefetch=env_int("LENDSIMPLE_BUS_PREFETCH", 50),
        consumer_batch=env_int("LENDSIMPLE_BUS_CONSUMER_BATCH", 50),
        heartbeat=env_int("LENDSIMPLE_BUS_HEARTBEAT", 30),
        relay_batch_size=env_int("LENDSIMPLE_RELAY_BATCH_SIZE", 500),
        relay_sweep_ms=env_int("LENDSIMPLE_RELAY_SWEEP_MS", 1000),
    )

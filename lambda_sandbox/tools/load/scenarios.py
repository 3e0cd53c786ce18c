"""The load profiles of the seed studies: bursty, medium, heavy and ramp."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SCENARIOS", "Scenario"]


@dataclass(frozen=True)
class Scenario:
    """A load profile of the seed studies; every duration and wait is multiplied by `scale`."""

    name: str
    users: int
    ramp_s: float  # time to spawn all users
    duration_s: float  # whole run, ramp included
    wait_min_s: float
    wait_max_s: float
    shape: str | None = None  # "ramp": a LoadTestShape decides users and run time
    steady_s: float = 0.0
    step_up_s: float = 0.0
    step_down_s: float = 0.0


SCENARIOS: dict[str, Scenario] = {
    "bursty": Scenario("bursty", 3, 3, 120, 5, 10),
    "medium": Scenario("medium", 50, 25, 120, 3, 5),
    "heavy": Scenario("heavy", 100, 50, 60, 1, 3),
    # +1 user every 40 s up to 10, 2 min steady, -1 user a minute: 400 + 120 + 600 s
    "ramp": Scenario(
        "ramp", 10, 400, 1120, 1, 3, shape="ramp", steady_s=120, step_up_s=40, step_down_s=60
    ),
}

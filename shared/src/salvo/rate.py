"""For scenarios: a rate shape, the open model's LoadTestShape: the fleet's arrivals per second over the run.

    from salvo.rate import RateShape

    class Steps(RateShape):
        def rate(self, run_time):
            if run_time < 10:
                return 100      # 100 arrivals a second, fleet-wide, for the first 10 s
            if run_time < 40:
                return 400
            return None         # no more arrivals

Used when the run asks for it (the controller's SALVO_FLEET_RATE=shape, or an executor's
SALVO_RATE=shape): every executor calls `rate` for each whole second since the run's shared
start_at (0, 1, 2, ...), sums the fleet's counts exactly and runs its share, split as a
profile's is. So `rate` must answer from `run_time` alone (no clock, no unseeded randomness):
every executor has to get the same answers. See docs/open-model.md.
"""

from __future__ import annotations

from salvo.common.arrivals import RateShape, rate_shapes

__all__ = ["RateShape", "rate_shapes"]

"""Single-row latency as a constraint on the served blend: each member's and the whole
predictor's one-row prediction time, measured in this process on this machine at fit time,
and the blend chosen again from the members that fit when the whole is too slow.

A blend costs the sum of its members (a bag the sum of its fold models), so a slow member
(a forest of hundreds of trees, k fold models of one) can take a served model from under a
millisecond to over a hundred; the members already loaded are all the run can choose from
here, so nothing is refit."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from accelml.core.data import Features
from accelml.core.learner import Fitted, Learner, get_learner
from accelml.core.predictor import Member, Predictor
from accelml.core.stacking import Stacker
from accelml.core.trial import TrialResult

#: Calls timed for each member, at most (fewer when a member is slow; see MEMBER_TIMING_S).
MEMBER_CALLS = 15
#: Seconds the timing of one member may take.
MEMBER_TIMING_S = 0.2
#: Calls of the whole predictor timed for its percentiles ...
PREDICTOR_CALLS = 200
#: ... in at most this many seconds (fewer calls when it is slow) ...
PREDICTOR_TIMING_S = 1.0
#: ... or this many, when none took a third of the limit.
CLEAR_CALLS = 30
#: The share of the limit a served model's median may fill (and its members' medians, when
#: the blend is chosen again), leaving room for the slow calls: a served table model's 99th
#: percentile was 1.3 to 2.3 times its median (1,000 one-row calls, 60 s runs of 15 tables).
HEADROOM = 0.5


@dataclass(frozen=True)
class LatencyGoal:
    """The slowest one-row prediction a served model may have, and one raw input (a
    one-row table) to time it on."""

    max_ms: float
    sample: Any


def _timed(call: Callable[[], Any], calls: int, limit_s: float,
           clear_below_ms: float | None = None) -> list[float]:
    """Milliseconds of each of up to ``calls`` calls after one warm-up call (which also
    counts toward ``limit_s``); with ``clear_below_ms``, done after :data:`CLEAR_CALLS`
    calls none of which took that long (a model far inside its limit needs no more)."""
    started = time.perf_counter()
    call()
    times: list[float] = []
    while len(times) < calls and (time.perf_counter() - started < limit_s or not times):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
        if (clear_below_ms is not None and len(times) >= CLEAR_CALLS
                and max(times) < clear_below_ms):
            break
    return times


def fitted_latency_ms(learner: Learner, fitted: Fitted, row: Features) -> float:
    """The median milliseconds of one fitted model's prediction for one encoded row."""
    return statistics.median(_timed(lambda: learner.predict(fitted, row),
                                    MEMBER_CALLS, MEMBER_TIMING_S))


def member_latency_ms(member: Member, row: Features) -> float:
    """The median milliseconds of one member's prediction for one encoded row."""
    return fitted_latency_ms(get_learner(member.learner), member.fitted, row)


def served_estimate_ms(result: TrialResult) -> float:
    """What a trial would add to a served blend's one-row time, from its search (a search
    trial timed with ``time_one_row``): its model's time, times its fold models when it kept
    them as a bag; 0 when it was not timed."""
    per_model = float(result.info.get("one_row_ms", 0.0))
    bag = result.bag_dir
    folds = sum(1 for _ in bag.iterdir()) if bag is not None and bag.is_dir() else 1
    return per_model * folds


def too_slow_to_serve(result: TrialResult, goal: LatencyGoal) -> bool:
    """Whether a trial alone would fill more of the limit than a blend's members may
    (:data:`HEADROOM`): the latency step would leave it out of any blend, so it is not worth
    fitting again on all rows."""
    return served_estimate_ms(result) > HEADROOM * goal.max_ms


def servable_first(ranked: Sequence[TrialResult], goal: LatencyGoal) -> list[TrialResult]:
    """``ranked`` with the trials the goal can serve first, in their order, and those too
    slow alone (:func:`too_slow_to_serve`) last, as the fallback: the best trial the goal can
    serve is the one fitted on all rows. Refitting a slow best trial left the latency step
    only its blend's fastest member to serve (a network 15th of 22 on a wine table, where a
    boosted model 4th of 22 would have fitted)."""
    slow = [too_slow_to_serve(result, goal) for result in ranked]
    return ([r for r, s in zip(ranked, slow, strict=True) if not s]
            + [r for r, s in zip(ranked, slow, strict=True) if s])


def group_latency_ms(members: Sequence[Member], row: Features) -> dict[int | None, float]:
    """Milliseconds per blend input (a trial: one model, or a bag's fold models summed)."""
    totals: dict[int | None, float] = {}
    for member in members:
        totals[member.group] = totals.get(member.group, 0.0) + member_latency_ms(member, row)
    return totals


def predictor_latency_ms(predictor: Predictor, sample: Any, calls: int = PREDICTOR_CALLS,
                         limit_ms: float | None = None) -> dict[str, float]:
    """Median, 90th and 99th percentile milliseconds of the whole one-row prediction
    (reading the raw row, every member, the blend), as a user's call sees it; fewer calls
    when none of the first comes near a third of ``limit_ms``."""
    call = (predictor.predict_proba if predictor.task.kind.is_classification
            else predictor.predict)
    times = _timed(lambda: call(sample), calls, limit_s=PREDICTOR_TIMING_S,
                   clear_below_ms=None if limit_ms is None else limit_ms / 3)
    return {"p50_ms": round(float(np.percentile(times, 50)), 3),
            "p90_ms": round(float(np.percentile(times, 90)), 3),
            "p99_ms": round(float(np.percentile(times, 99)), 3), "calls": len(times)}


def meets(measured: Mapping[str, float], max_ms: float) -> bool:
    """Whether a predictor's timing keeps its slow calls within ``max_ms``: its median within
    :data:`HEADROOM` of it, which holds the 99th percentile of a thousand calls under the limit
    on an otherwise idle machine, and its 90th percentile within it. The 99th of the few
    hundred calls a fit can spare swings with any other work on the machine; the median does
    not."""
    return measured["p50_ms"] <= HEADROOM * max_ms and measured["p90_ms"] <= max_ms


def regrouped(members: Sequence[Member], weights: Mapping[int, float]) -> list[Member]:
    """The members of the groups ``weights`` keeps, each group's weight shared among its
    fold models as before."""
    counts: dict[int | None, int] = {}
    for member in members:
        counts[member.group] = counts.get(member.group, 0) + 1
    return [Member(m.learner, m.config, m.fitted, weights[m.group] / counts[m.group], m.group)
            for m in members if m.group is not None and m.group in weights]


@dataclass
class Served:
    """What the latency step settles on: the blend (trials and weights), its loaded members,
    the stacker over them (None: a weighted average) and the manifest's record of it."""

    blend: list[tuple[TrialResult, float]]
    members: list[Member]
    stacker: Stacker | None
    stacking: dict[str, Any] | None
    record: dict[str, Any]


def served_members_ms(record: dict[str, Any], served: Collection[int]) -> dict[int, float]:
    """Each served trial's measured one-row latency, from :func:`keep_within`'s record: the
    leaderboard's column. Members the step dropped are left out (their weight is 0; the
    manifest's ``members_ms`` keeps what they cost)."""
    return {int(g): ms for g, ms in record["members_ms"].items()
            if g != "None" and int(g) in served}


def keep_within(goal: LatencyGoal, served: Served, row: Features,
                build: Callable[[list[Member], Stacker | None], Predictor],
                reselect: Callable[[Sequence[float], float], list[tuple[TrialResult, float]]],
                restack: Callable[[list[tuple[TrialResult, float]]],
                                  tuple[dict[str, Any] | None, Stacker | None]],
                enforce: bool = True) -> Served:
    """``served`` as it is when its one-row timing :func:`meets` ``goal``; else the blend chosen
    again among its trials whose summed member medians leave room for the rest of the call
    (reading the row, blending) and a busy moment (:data:`HEADROOM`), or else the fastest
    trial alone, whichever first meets the goal. When neither does, ``served`` stays (losing
    accuracy would not buy the limit) and the record says the goal was not met. Without
    ``enforce`` it only measures (a deterministic run's models may not depend on the clock).
    ``build`` makes a predictor of members and a stacker; ``reselect(costs, capacity)``
    chooses the blend within a cost (:func:`accelml.core.ensemble.select_within`);
    ``restack(blend)`` fits the stacking level again (its manifest record and stacker)."""
    costs = group_latency_ms(served.members, row)
    measured = predictor_latency_ms(build(served.members, served.stacker), goal.sample,
                                    limit_ms=goal.max_ms)
    overhead = max(0.0, measured["p50_ms"] - sum(costs.values()))
    record: dict[str, Any] = {
        "limit_ms": goal.max_ms,
        "members_ms": {str(g): round(ms, 3) for g, ms in costs.items()},
        "rest_of_call_ms": round(overhead, 3), "measured_before_ms": measured,
        "enforced": enforce}
    unchanged = Served(served.blend, served.members, served.stacker, served.stacking,
                       {**record, "served_ms": measured,
                        "met": meets(measured, goal.max_ms), "dropped": []})
    if unchanged.record["met"] or not enforce:
        return unchanged
    trial_costs = [costs.get(result.spec.trial_id, np.inf) for result, _ in served.blend]
    capacity = HEADROOM * goal.max_ms - overhead
    tries = []
    if capacity >= min(trial_costs):
        tries.append(reselect(trial_costs, capacity))
    tries.append([(served.blend[int(np.argmin(trial_costs))][0], 1.0)])
    for blend in tries:
        if not blend:
            continue
        chosen = _serve(blend, served, goal, build, restack)
        if meets(chosen.record, goal.max_ms):
            kept = {result.spec.trial_id for result, _ in blend}
            dropped = [result.spec.trial_id for result, _ in served.blend
                       if result.spec.trial_id not in kept]
            return Served(chosen.blend, chosen.members, chosen.stacker, chosen.stacking,
                          {**record, "served_ms": chosen.record, "met": True,
                           "dropped": dropped})
    return unchanged


def _serve(blend: list[tuple[TrialResult, float]], served: Served, goal: LatencyGoal,
           build: Callable[[list[Member], Stacker | None], Predictor],
           restack: Callable[[list[tuple[TrialResult, float]]],
                             tuple[dict[str, Any] | None, Stacker | None]]) -> Served:
    """``blend`` served from ``served``'s loaded members, stacked again when it has several,
    with its measured one-row latency as the record."""
    weights = {result.spec.trial_id: weight for result, weight in blend}
    members = regrouped(served.members, weights)
    stacking, stacker = restack(blend) if len(blend) > 1 else (
        ({"served": False, "inputs": 1, "skipped": "one member left within the latency limit"}
         if served.stacking else None), None)
    measured = predictor_latency_ms(build(members, stacker), goal.sample, limit_ms=goal.max_ms)
    return Served(blend, members, stacker, stacking, measured)

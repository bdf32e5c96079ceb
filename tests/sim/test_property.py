"""Property: any small adversarial schedule drawn by hypothesis keeps every invariant."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cybermesh.sim import Scenario, run
from cybermesh.sim.scenario import BEHAVIOURS, Crash, Partition


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    n = draw(st.sampled_from([4, 7]))
    f = (n - 1) // 3
    ids = [f"v{i}" for i in range(n)]
    gst = draw(st.integers(200, 1500))
    faulty = draw(st.lists(st.sampled_from(ids), max_size=f, unique=True))
    twins = tuple(sorted(v for v in faulty if draw(st.booleans())))
    byz = tuple(sorted((v, tuple(sorted(draw(st.sets(st.sampled_from(BEHAVIOURS), min_size=1,
                                                          max_size=3)))))
                       for v in faulty if v not in twins))
    honest = [v for v in ids if v not in faulty]
    crashes = []
    for v in draw(st.lists(st.sampled_from(honest), max_size=2, unique=True)):
        at = draw(st.integers(0, gst - 1))
        crashes.append(Crash(v, at, draw(st.integers(at + 1, gst))))
    cut = draw(st.integers(1, n - 1))
    at = draw(st.integers(0, gst - 1))
    partition = Partition(at, draw(st.integers(at + 1, gst)),
                          (tuple(ids[:cut]), tuple(ids[cut:]) + tuple(f"{t}#1" for t in twins)))
    return Scenario(
        name="hypothesis", n=n, seed=draw(st.integers(0, 2**32)), gst_ms=gst,
        duration_ms=gst + (n + 4) * 800, delay_max_ms=draw(st.sampled_from([5, 30, 90])),
        drop_pm=draw(st.integers(0, 400)), dup_pm=draw(st.integers(0, 300)),
        replay_pm=draw(st.integers(0, 200)), partitions=(partition,), crashes=tuple(crashes),
        byzantine=byz, twins=twins, wire=draw(st.integers(0, 1)),
    )


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_invariants_hold_on_any_small_adversarial_schedule(sc: Scenario) -> None:
    result = run(sc)
    assert result.ok, (result.violations, sc.to_json())

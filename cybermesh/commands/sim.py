"""`cybermesh sim`: run seeded adversarial consensus schedules on the simulator.

    cybermesh sim --schedules 100000 --workers 2          # the long campaign (n = 4 and 7)
    cybermesh sim --scenario tests/sim/scenarios/*.json   # replay scenario files exactly
    cybermesh sim --schedules 300 --mutation no-tc-round-check --fork-attack   # must fail

Prints one JSON summary; exit code 1 if any invariant was violated (0 with --mutation only if
a violation was found, i.e. the simulator caught the broken rule).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import time
from pathlib import Path
from typing import Any

from cybermesh.sim.campaign import fork_attack, save_failure, schedules
from cybermesh.sim.mutations import MUTATIONS
from cybermesh.sim.runner import run
from cybermesh.sim.scenario import Scenario


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("sim", help="run seeded adversarial consensus schedules (simulator)")
    p.add_argument("--schedules", type=int, default=2000, help="number of random schedules")
    p.add_argument("--start-seed", type=int, default=0)
    p.add_argument("--sizes", default="4,7", help="validator counts, comma separated")
    p.add_argument("--scenario", nargs="*", type=Path, default=[],
                   help="scenario JSON files to replay instead of random schedules")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--mutation", choices=sorted(MUTATIONS), default=None,
                   help="run with a deliberately broken safety rule (expects violations)")
    p.add_argument("--fork-attack", action="store_true",
                   help="replace faulty validators by fork attackers")
    p.add_argument("--save-failures", type=Path, default=None,
                   help="directory for failing schedules (regression scenario files)")
    p.set_defaults(func=main)


def _one(job: tuple[dict[str, Any], str | None]) -> dict[str, Any]:
    obj, mutation = job
    sc = Scenario.from_json(obj)
    result = run(sc, MUTATIONS[mutation]) if mutation else run(sc)
    out = result.summary()
    out["scenario"] = obj
    return out


def _cpu() -> float:
    """CPU seconds of this process and its finished workers."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main(args: argparse.Namespace) -> int:
    start, wall = _cpu(), time.perf_counter()
    if args.scenario:
        scs = [Scenario.load(p) for p in args.scenario]
    else:
        sizes = tuple(int(x) for x in args.sizes.split(","))
        scs = list(schedules(range(args.start_seed, args.start_seed + args.schedules), sizes))
    if args.fork_attack:
        scs = [fork_attack(sc) for sc in scs]
    jobs = [(sc.to_json(), args.mutation) for sc in scs]
    if args.workers > 1:
        with multiprocessing.Pool(args.workers) as pool:
            results = list(pool.imap(_one, jobs, chunksize=64))
    else:
        results = [_one(j) for j in jobs]
    failed = [r for r in results if not r["ok"]]
    for r in failed:
        print(json.dumps({k: r[k] for k in ("name", "seed", "n", "violations")}), file=sys.stderr)
        if args.save_failures is not None:
            from cybermesh.sim.runner import Result
            res = Result(Scenario.from_json(r["scenario"]), violations=r["violations"])
            save_failure(res, args.save_failures, args.mutation or "")
    summary = {
        "schedules": len(results), "violations": len(failed),
        "failing_seeds": [r["seed"] for r in failed][:50],
        "mutation": args.mutation, "cpu_s": round(_cpu() - start, 1),
        "wall_s": round(time.perf_counter() - wall, 1),
        "max_rounds_to_live": max((r["rounds_to_live"] for r in results), default=-1),
    }
    print(json.dumps(summary))
    if args.mutation:
        return 0 if failed else 1
    return 1 if failed else 0

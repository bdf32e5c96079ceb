"""Wire/crypto throughput on one core: sign, verify, encode, strict decode, signing_bytes.

    python bench/crypto.py [--seconds 0.5] [--repeat 3]

Per ai.* message type (the `anomaly-basic`, `evidence-basic`, `policy-quarantine` messages of
the signing vectors), single process, prints one JSON object: operations per second (best of
--repeat runs of about --seconds each) and the machine. `open_record` is the full validator
wire check (strict decode + limits + payload hash + verify); `verify_share_of_open` shows how
much of it is the Ed25519 verification.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import google.protobuf
import nacl

from cybermesh.wire.fields import from_fields
from cybermesh.wire.record import open_record
from cybermesh.wire.signing import key_from_seed, sign, signing_bytes, verify
from cybermesh.wire.strict import decode_strict, encode
from cybermesh.wire.topics import MESSAGE_TYPES

VECTORS = Path(__file__).resolve().parents[1] / "tests" / "vectors" / "signing.json"
CASES = {"anomaly": "anomaly-basic", "evidence": "evidence-basic", "policy": "policy-quarantine"}


def rate(fn: Callable[[], object], seconds: float, repeat: int) -> float:
    """Best-of-`repeat` operations per second of `fn`."""
    n = 1
    while True:  # calibrate a batch that takes ~seconds/10
        t = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - t > seconds / 10:
            break
        n *= 2
    best = 0.0
    for _ in range(repeat):
        done = 0
        t0 = time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < seconds:
            for _ in range(n):
                fn()
            done += n
        best = max(best, done / elapsed)
    return round(best, 1)


def bench_case(v: dict[str, Any], seconds: float, repeat: int) -> dict[str, Any]:
    topic = v["topic"]
    cls = MESSAGE_TYPES[topic]
    key = key_from_seed(bytes.fromhex(v["seed_hex"]))
    unsigned = from_fields(cls, v["fields"])
    raw = bytes.fromhex(v["serialized_hex"])
    signed = decode_strict(cls, raw)

    def do_sign() -> None:
        sign(topic, unsigned, key)

    ops = {
        "sign": do_sign,
        "verify": lambda: verify(topic, signed),
        "encode": lambda: encode(signed),
        "decode_strict": lambda: decode_strict(cls, raw),
        "signing_bytes": lambda: signing_bytes(topic, signed),
        "open_record": lambda: open_record(topic, raw),
    }
    out: dict[str, Any] = {"topic": topic, "bytes": len(raw)}
    out.update({f"{name}_per_s": rate(fn, seconds, repeat) for name, fn in ops.items()})
    out["signing_bytes_share_of_verify"] = round(
        out["verify_per_s"] / out["signing_bytes_per_s"], 4
    )
    out["verify_share_of_open"] = round(out["open_record_per_s"] / out["verify_per_s"], 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    vectors = {v["name"]: v for v in json.loads(VECTORS.read_text(encoding="utf-8"))["valid"]}
    result = {
        "benchmark": "bench/crypto.py",
        "single_process": True,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "nproc": os.cpu_count(),
        "protobuf": google.protobuf.__version__,
        "pynacl": nacl.__version__,
        "seconds": args.seconds,
        "repeat": args.repeat,
        "results": {
            name: bench_case(vectors[vec], args.seconds, args.repeat) for name, vec in CASES.items()
        },
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

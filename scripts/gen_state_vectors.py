#!/usr/bin/env python3
"""Write the state golden vectors to tests/vectors/state/chain.json.

Usage: python scripts/gen_state_vectors.py [--check]
(--check: exit 1 if the checked-in vectors differ from what the code produces now).
A semantic change to blocks, execution or the Merkle tree changes this file: review the diff.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cybermesh.state.sample import golden_chain  # noqa: E402

TARGET = ROOT / "tests" / "vectors" / "state" / "chain.json"


def main() -> int:
    text = json.dumps(golden_chain(), indent=1, sort_keys=True) + "\n"
    if sys.argv[1:] == ["--check"]:
        if not TARGET.exists() or TARGET.read_text() != text:
            print("gen_state_vectors: tests/vectors/state/chain.json is stale", file=sys.stderr)
            return 1
        print("gen_state_vectors: vectors are current")
        return 0
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text(text)
    print(f"gen_state_vectors: wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Start-up catch-up from the block log: a validator that was down longer than its peers keep
committed blocks in memory (consensus.keep_committed) cannot be served by consensus sync, so
before it joins consensus it replays `ledger.blocks.v1` above its own height (adapter).

Rules:
1. Records are verified exactly as `cybermesh replay` does (LedgerReader: strict decode, key,
   QC and commit-QC signatures against genesis, parent links); only verified blocks are applied.
2. Each released block goes through `CommitPipeline.commit_one` (the commit path: execution
   with its checks, the durable ledger, state, mempool removal, listeners), so a block applied
   here is indistinguishable from one committed by consensus.
3. The log is read up to the end offsets seen when catch-up starts; blocks committed meanwhile
   come through consensus sync, which now has a short gap to fill. It is first read from near
   the first record above this validator's height (`read_ledger(from_height=...)`: a binary
   search on the records' height keys, `slack` records earlier); if that pass applies nothing
   while the reader holds blocks it cannot connect (the search started past a block it needs),
   the log is read again from its beginning.
4. Catch-up never stops the worker: a missing topic, an unreachable broker or an invalid
   record ends it with a log line (and the node falls back on consensus sync); what was
   applied stays applied. A divergence (DivergenceError) is not caught: that one must stop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka.errors import KafkaError

from cybermesh.consensus.crypto import CachingVerifier
from cybermesh.consensus.validators import ValidatorSet
from cybermesh.genesis import Genesis
from cybermesh.ledger.kafka import LedgerTopicMissing, read_ledger
from cybermesh.ledger.reader import LedgerError, LedgerReader, tip_after
from cybermesh.node.commit import CommitPipeline

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CatchUp:
    start: int
    height: int
    records: int
    stopped: str | None
    """Why catch-up ended before the end of the log (None: it read to the end)."""

    @property
    def applied(self) -> int:
        return self.height - self.start


async def catch_up(
    pipeline: CommitPipeline, genesis: Genesis, bootstrap: str, topic: str,
    options: Mapping[str, Any] | None = None, slack: int = 10_000,
) -> CatchUp:
    """Rules 1-4. `options`: the aiokafka security options (cybermesh.kafka.client);
    `slack`: records read before the first one at this validator's next height (rule 3)."""
    machine = pipeline.machine
    start = machine.height
    records = variants = 0
    stopped: str | None = None
    try:
        for from_height in (start + 1, 0):
            reader = LedgerReader(ValidatorSet.from_genesis(genesis), start=tip_after(machine.parent),
                                  verify=CachingVerifier())
            async for _left, batch in read_ledger(bootstrap, topic, options=options,
                                                  from_height=from_height, slack=slack):
                for key, value in batch:
                    for vb in reader.feed(key, value):
                        pipeline.commit_one(vb.committed)
                records += len(batch)
                await asyncio.sleep(0)  # agents and the web server keep running
            variants += reader.proof_variants
            if machine.height > start or not reader.pending or from_height == 0:
                break
            log.warning("catch-up: the log read from height %d held %d blocks that do not connect "
                        "to height %d; reading it from the beginning", from_height, reader.pending, start)
    except LedgerTopicMissing:
        stopped = f"topic {topic} does not exist yet"
    except LedgerError as exc:
        stopped = f"invalid ledger record at height {exc.height}: {exc.reason}"
        log.error("catch-up: %s; falling back on consensus sync", stopped)
    except (KafkaError, OSError) as exc:
        stopped = f"broker {bootstrap}: {type(exc).__name__}: {exc}"
        log.warning("catch-up: %s; falling back on consensus sync", stopped)
    result = CatchUp(start, machine.height, records, stopped)
    log.info("catch-up from %s: height %d -> %d (%d blocks applied, %d records read, %d copies "
             "with another commit proof)%s", topic, start, result.height, result.applied, records,
             variants, f"; stopped: {stopped}" if stopped else "")
    return result

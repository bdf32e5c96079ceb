"""The [p2p] settings section, its TransportConfig, and the `peer-id` command."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import nacl.signing
import pytest

from cybermesh.cli import main
from cybermesh.config import ConfigError, load_settings
from cybermesh.p2p.peer_id import PeerId
from cybermesh.p2p.transport import CONSENSUS, SYNC, TransportConfig


def test_p2p_settings_become_a_transport_config() -> None:
    s = load_settings(
        p2p={"listen": "/ip4/127.0.0.1/tcp/0", "max_frame_consensus": 2048, "backoff_cap_ms": 500}
    )
    cfg = TransportConfig.from_settings(s.p2p)
    specs = {p.id: p for p in cfg.protocols}
    assert specs[CONSENSUS].max_frame == 2048 and not specs[CONSENSUS].request_response
    assert specs[SYNC].request_response
    assert cfg.backoff_cap == 0.5


@pytest.mark.parametrize("listen", ["/ip4/127.0.0.1/udp/1", "/dns4/example.com/tcp/1", "nonsense"])
def test_bad_listen_address_names_the_field(listen: str) -> None:
    with pytest.raises(ConfigError, match=r"p2p\.listen"):
        load_settings(p2p={"listen": listen})


def test_peer_id_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys = [nacl.signing.SigningKey(hashlib.sha256(b"%d" % i).digest()) for i in range(2)]
    pub = bytes(keys[0].verify_key)
    assert main(["peer-id", pub.hex()]) == 0
    assert capsys.readouterr().out.strip() == str(PeerId.from_ed25519(pub))
    genesis = {
        "chain_id": "t",
        "genesis_time": 0,
        "validators": [
            {
                "id": f"v{i}",
                "consensus_pubkey": bytes(k.verify_key).hex(),
                "node_pubkey": bytes(k.verify_key).hex(),
                "address": f"/ip4/127.0.0.1/tcp/{41100 + i}",
            }
            for i, k in enumerate(keys)
        ],
        "producers": [],
    }
    path = tmp_path / "genesis.json"
    path.write_text(json.dumps(genesis))
    assert main(["peer-id", "--genesis", str(path)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    pid1 = PeerId.from_ed25519(bytes(keys[1].verify_key))
    assert lines[1] == f"v1\t{pid1}\t/ip4/127.0.0.1/tcp/41101/p2p/{pid1}"
    assert main(["peer-id", "zz"]) == 2

// Block certificates checked in the browser: the block hash recomputed from the header fields
// (docs/BLOCKS.md rule H.1/H.2, Python twin cybermesh/block/hashing.py) and the Ed25519 vote
// signatures of a QC against the validators' consensus keys (cybermesh/consensus/crypto.py:
// a vote signs VOTE_DOMAIN || deterministic protobuf encoding of VoteData).
//
// NOTE: the keys come from the same validator's /api/v1/validators; they are worth what the
// operator's copy of the genesis says they are (compare them once).

import { bytesToHex, hexToBytes } from "./merkle.js";
import { sha256 } from "./sha256.js";

const utf8 = (s) => new TextEncoder().encode(s);
const HEADER_DOMAIN = utf8("cybermesh/v1/block-header\0");
const VOTE_DOMAIN = utf8("cybermesh/v1/consensus/vote\0");
const SCHEMA_VERSION = 1;

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) { out.set(p, pos); pos += p.length; }
  return out;
}

function be(bytes, write) {
  const out = new Uint8Array(bytes);
  write(new DataView(out.buffer));
  return out;
}
const u32 = (n) => be(4, (v) => v.setUint32(0, n));
const u64 = (n) => be(8, (v) => v.setBigUint64(0, BigInt(n)));
const i64 = (n) => be(8, (v) => v.setBigInt64(0, BigInt(n)));
const str = (s) => { const b = utf8(s); return concat([u32(b.length), b]); };
function hash32(hex, what) {
  const b = hexToBytes(hex);
  if (b.length !== 32) throw new Error(`${what} is not 32 bytes`);
  return b;
}

/** The canonical header encoding (rule H.1) from a Block answer of /api/v1/blocks. */
export function headerBytes(b) {
  return concat([
    HEADER_DOMAIN, u32(SCHEMA_VERSION), str(b.chain_id), u64(b.height), u64(b.round),
    hash32(b.parent_hash, "parent_hash"), str(b.proposer), hash32(b.tx_root, "tx_root"),
    hash32(b.state_root_hint, "state_root_hint"), i64(b.timestamp), u32(b.tx_count), u64(b.state_root_height),
  ]);
}

export async function headerHash(b) {
  return bytesToHex(await sha256(headerBytes(b)));
}

// -- protobuf (proto3, deterministic: fields in number order, default values left out) ------
function varint(n) {
  let x = BigInt.asUintN(64, BigInt(n));
  const out = [];
  while (x >= 0x80n) { out.push(Number(x & 0x7fn) | 0x80); x >>= 7n; }
  out.push(Number(x));
  return Uint8Array.from(out);
}
const pbVarint = (field, n) => (BigInt(n) === 0n ? [] : [varint(field << 3), varint(n)]);
const pbBytes = (field, b) => (b.length === 0 ? [] : [varint((field << 3) | 2), varint(b.length), b]);

/** VOTE_DOMAIN || encode(VoteData{schema_version, chain_id, round, block_hash, height, parent_hash, parent_round}). */
export function voteBytes(chainId, qc) {
  return concat([VOTE_DOMAIN,
    ...pbVarint(1, SCHEMA_VERSION), ...pbBytes(2, utf8(chainId)), ...pbVarint(3, qc.round),
    ...pbBytes(4, hexToBytes(qc.block_hash)), ...pbVarint(5, qc.height),
    ...pbBytes(6, hexToBytes(qc.parent_hash)), ...pbVarint(7, qc.parent_round)]);
}

/** True when this browser's WebCrypto verifies Ed25519 (secure context, recent browser). */
export async function hasEd25519() {
  try {
    await globalThis.crypto.subtle.importKey("raw", new Uint8Array(32).fill(1), { name: "Ed25519" }, false, ["verify"]);
    return true;
  } catch {
    return false;
  }
}

async function ed25519Verify(pubkeyHex, signatureHex, message) {
  try {
    const key = await globalThis.crypto.subtle.importKey("raw", hexToBytes(pubkeyHex), { name: "Ed25519" }, false, ["verify"]);
    return await globalThis.crypto.subtle.verify({ name: "Ed25519" }, key, hexToBytes(signatureHex), message);
  } catch {
    return false;
  }
}

/**
 * Check a QC (docs/API.md shape) for block `hashHex` of chain `chainId`:
 * 1. it names that block (qc.block_hash == hashHex, when given);
 * 2. each signature verifies under its validator's consensus key (unknown or repeated signers
 *    count as bad);
 * 3. certified iff at least `quorum` distinct validators signed validly.
 * Returns {checked, good: [ids], bad: [ids], certified, reason}; checked = false when this
 * browser cannot verify Ed25519.
 */
export async function verifyQc(qc, chainId, validators, quorum, hashHex = null) {
  if (!(await hasEd25519())) return { checked: false, good: [], bad: [], certified: false, reason: "this browser cannot verify Ed25519 here (needs a secure context)" };
  if (hashHex !== null && qc.block_hash !== hashHex) return { checked: true, good: [], bad: [], certified: false, reason: "the QC names another block" };
  const keys = new Map(validators.map((v) => [v.id, v.consensus_pubkey]));
  const message = voteBytes(chainId, qc);
  const good = [];
  const bad = [];
  const seen = new Set();
  for (const s of qc.signatures) {
    const key = keys.get(s.validator_id);
    const ok = key !== undefined && !seen.has(s.validator_id) && (await ed25519Verify(key, s.signature, message));
    seen.add(s.validator_id);
    (ok ? good : bad).push(s.validator_id);
  }
  const certified = good.length >= quorum;
  const reason = `${good.length} valid signature${good.length === 1 ? "" : "s"}${bad.length ? `, ${bad.length} INVALID (${bad.join(", ")})` : ""}; quorum ${quorum}`;
  return { checked: true, good, bad, certified, reason };
}

// Sparse Merkle proof check in the browser, exactly per docs/STATE.md §7 (the Python twin is
// cybermesh/state/smt.py: SparseMerkleProof.decode and verify_proof).
//
// Tree: depth 256 over key_hash = SHA-256(key); an empty subtree is PLACEHOLDER (32 zero
// bytes); leaf = SHA-256(0x00 || key_hash || SHA-256(value)); internal = SHA-256(0x01 || left
// || right); bit d (MSB first) of key_hash picks the right (1) or left (0) child at depth d.
//
// Proof encoding: u16 n || bitmap (ceil(n/8) bytes; bit i, MSB first, set when sibling i is
// not PLACEHOLDER) || the non-placeholder siblings (32 bytes each) || 0x00 (path ends empty)
// or 0x01 || key_hash || value_hash (the leaf where the path ends).

import { sha256 } from "./sha256.js";

export const HASH_LEN = 32;
export const MAX_DEPTH = 256;
export const PLACEHOLDER = new Uint8Array(HASH_LEN);

export class ProofFormatError extends Error {}

/** Strict lower/upper-case hex -> Uint8Array (ProofFormatError otherwise). */
export function hexToBytes(hex) {
  if (typeof hex !== "string" || hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) {
    throw new ProofFormatError("not an even-length hex string");
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.substr(2 * i, 2), 16);
  return out;
}

export function bytesToHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) { out.set(p, pos); pos += p.length; }
  return out;
}

/** Encoded proof bytes -> {siblings: Uint8Array[], leaf: {keyHash, valueHash} | null}. */
export function decodeProof(raw) {
  if (raw.length < 3) throw new ProofFormatError("proof shorter than 3 bytes");
  const n = (raw[0] << 8) | raw[1];
  if (n > MAX_DEPTH) throw new ProofFormatError(`${n} siblings > ${MAX_DEPTH}`);
  const bitmapLen = (n + 7) >> 3;
  let pos = 2 + bitmapLen;
  if (raw.length < pos) throw new ProofFormatError("truncated proof");
  const bitmap = raw.subarray(2, pos);
  const siblings = [];
  for (let i = 0; i < n; i++) {
    if (bitmap[i >> 3] & (0x80 >> (i & 7))) {
      if (raw.length < pos + HASH_LEN) throw new ProofFormatError("truncated proof");
      siblings.push(raw.slice(pos, pos + HASH_LEN));
      pos += HASH_LEN;
    } else {
      siblings.push(PLACEHOLDER);
    }
  }
  const tail = raw.subarray(pos);
  if (tail.length === 1 && tail[0] === 0) return { siblings, leaf: null };
  if (tail.length === 0 || (tail[0] !== 0 && tail[0] !== 1)) throw new ProofFormatError("truncated proof");
  if (tail.length !== 1 + 2 * HASH_LEN) {
    throw new ProofFormatError(`leaf part is ${tail.length} bytes, expected 1 or ${1 + 2 * HASH_LEN}`);
  }
  return { siblings, leaf: { keyHash: tail.slice(1, 33), valueHash: tail.slice(33, 65) } };
}

const bit = (hash, d) => (hash[d >> 3] >> (7 - (d & 7))) & 1;

function sharesPrefix(a, b, bits) {
  for (let d = 0; d < bits; d++) if (bit(a, d) !== bit(b, d)) return false;
  return true;
}

export const leafHash = (keyHash, valueHash) => sha256(concat([0x00], keyHash, valueHash));
export const nodeHash = (left, right) => sha256(concat([0x01], left, right));

/**
 * Check that under `root`, `key` maps to `value` (a Uint8Array) or is absent (`value` null).
 * Returns {valid, reason, computedRoot (hex or null)}; the rules (docs/STATE.md §7):
 * 1. inclusion: the proof's leaf is (SHA-256(key), SHA-256(value));
 * 2. non-inclusion: the path ends empty, or at another key's leaf whose key_hash shares the
 *    first n bits with SHA-256(key);
 * 3. fold bottom-up with the siblings by the key's bits; valid iff the result equals `root`.
 */
export async function verifyProof(root, key, value, proof) {
  const fail = (reason, computed = null) => ({ valid: false, reason, computedRoot: computed });
  if (root.length !== HASH_LEN) return fail(`root is ${root.length} bytes, not ${HASH_LEN}`);
  if (proof.siblings.length > MAX_DEPTH) return fail("more than 256 siblings");
  const khash = await sha256(key);
  const depth = proof.siblings.length;
  let current;
  if (value !== null) {
    if (proof.leaf === null) return fail("inclusion claimed, but the proof's path ends empty");
    if (!equalBytes(proof.leaf.keyHash, khash)) return fail("the proof's leaf is another key");
    if (!equalBytes(proof.leaf.valueHash, await sha256(value))) return fail("the value's hash differs from the proof's leaf");
    current = await leafHash(proof.leaf.keyHash, proof.leaf.valueHash);
  } else if (proof.leaf === null) {
    current = PLACEHOLDER;
  } else {
    const other = proof.leaf.keyHash;
    if (other.length !== HASH_LEN || equalBytes(other, khash)) return fail("absence claimed, but the proof's leaf is this key");
    if (!sharesPrefix(other, khash, depth)) return fail("the proof's leaf is not on this key's path");
    current = await leafHash(other, proof.leaf.valueHash);
  }
  for (let d = depth - 1; d >= 0; d--) {
    const sib = proof.siblings[d];
    current = bit(khash, d) ? await nodeHash(sib, current) : await nodeHash(current, sib);
  }
  if (!equalBytes(current, root)) return fail("the folded root differs from the state root", bytesToHex(current));
  return { valid: true, reason: value === null ? "absent (non-inclusion proven)" : "present (inclusion proven)", computedRoot: bytesToHex(current) };
}

/** The structured proof of a StateProof answer (docs/API.md) -> {siblings, leaf}. */
export function proofFromJson(p) {
  if (!p || typeof p !== "object" || !Array.isArray(p.siblings)) throw new ProofFormatError("proof.siblings missing");
  const hash = (h, what) => {
    const b = hexToBytes(h);
    if (b.length !== HASH_LEN) throw new ProofFormatError(`${what} is not 32 bytes`);
    return b;
  };
  const siblings = p.siblings.map((s, i) => hash(s, `sibling ${i}`));
  if (siblings.length > MAX_DEPTH) throw new ProofFormatError(`${siblings.length} siblings > ${MAX_DEPTH}`);
  const leaf = p.leaf === null || p.leaf === undefined ? null
    : { keyHash: hash(p.leaf.key_hash, "leaf.key_hash"), valueHash: hash(p.leaf.value_hash, "leaf.value_hash") };
  return { siblings, leaf };
}

function sameProof(a, b) {
  if (a.siblings.length !== b.siblings.length) return false;
  if (!a.siblings.every((s, i) => equalBytes(s, b.siblings[i]))) return false;
  if ((a.leaf === null) !== (b.leaf === null)) return false;
  return a.leaf === null || (equalBytes(a.leaf.keyHash, b.leaf.keyHash) && equalBytes(a.leaf.valueHash, b.leaf.valueHash));
}

/**
 * Check a StateProof answer (docs/API.md: {height, root, key, present, value, proof}) and,
 * if `trustedRootHex` is given, that its root is that root. Returns {valid, reason, ...}:
 * 1. the answer is well formed: `present` agrees with `value`; `proof.encoded`, when given,
 *    is the same proof as `proof.siblings` / `proof.leaf`;
 * 2. verifyProof(root, key, value, proof) (docs/STATE.md §7) holds;
 * 3. root == trustedRootHex (when given).
 */
export async function verifyStateProof(answer, trustedRootHex = null) {
  try {
    if (!answer || typeof answer !== "object") throw new ProofFormatError("not a JSON object");
    const root = hexToBytes(answer.root);
    const key = hexToBytes(answer.key);
    const value = answer.value === null || answer.value === undefined ? null : hexToBytes(answer.value);
    if (typeof answer.present === "boolean" && answer.present !== (value !== null)) {
      return { valid: false, reason: "`present` disagrees with `value`" };
    }
    const proof = proofFromJson(answer.proof);
    if (typeof answer.proof.encoded === "string" && !sameProof(proof, decodeProof(hexToBytes(answer.proof.encoded)))) {
      return { valid: false, reason: "proof.encoded is not the same proof as proof.siblings / proof.leaf" };
    }
    const result = await verifyProof(root, key, value, proof);
    if (!result.valid) return result;
    if (trustedRootHex && trustedRootHex.toLowerCase() !== answer.root.toLowerCase()) {
      return { valid: false, reason: "the proof is sound, but its root is not the trusted root", computedRoot: result.computedRoot };
    }
    return result;
  } catch (e) {
    if (e instanceof ProofFormatError) return { valid: false, reason: `malformed: ${e.message}` };
    throw e;
  }
}

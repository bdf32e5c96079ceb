// State lookup: the Merkle proof checked in the browser (merkle.js), and its root against the
// quorum-signed header that carries it (certify.js).

import { ApiError, get } from "./api.js";
import { headerHash, verifyQc } from "./certify.js";
import { bytesToHex, verifyStateProof } from "./merkle.js";
import { el, fill, setText } from "./dom.js";
import { sha256Engine } from "./sha256.js";
import { $, field, ok, report, state } from "./ui.js";

export function keyHex() {
  const raw = $("proof-key").value.trim();
  if ($("proof-key-format").value === "hex") return raw.toLowerCase();
  return bytesToHex(new TextEncoder().encode(raw));
}

export async function trustedRoot(answer) {
  // The root at the proof's height as this validator's block log states it (a second,
  // independent source would be another validator: paste its proof below to compare).
  try {
    const b = await get(`/blocks/${answer.height}`);
    if (b.state_root) return b.state_root;
  } catch (err) {
    if (!(err instanceof ApiError) || err.status !== 404) throw err;
  }
  const r = await get("/state/root");
  return r.height === answer.height ? r.root : null;
}

/** A StateProof answer; an absent key is a 404 that carries its non-inclusion proof (docs/API.md). */
export async function stateKey(hex) {
  try {
    return await get(`/state/keys/${hex}`);
  } catch (err) {
    const body = err instanceof ApiError ? err.body : null;
    if (err.status === 404 && body && body.present === false && body.proof) {
      const { error, ...answer } = body;
      return answer;
    }
    throw err;
  }
}

export async function lookup(text) {
  if (text !== undefined) {
    $("proof-key").value = text;
    $("proof-key-format").value = "text";
  }
  const hex = keyHex();
  setVerdict("none", "");
  $("proof-certified").dataset.verdict = "none";
  $("proof-certified").textContent = "";
  fill("proof-answer");
  if (!hex || !/^[0-9a-f]*$/.test(hex) || hex.length % 2) {
    setText("proof-status", "enter a key (hex keys: an even number of hex digits)");
    return;
  }
  try {
    // The API proves at the latest height only; when no later header carries that height's
    // root (proposers' hints can skip a height), prove again at the newer height (4 tries).
    // Only the last try's "not certified (yet)" is final: the ones before say "pending".
    const tries = 4;
    for (let attempt = 1; attempt <= tries; attempt++) {
      const answer = await stateKey(hex);
      ok("proof");
      await showAnswer(answer);
      if ((await certifyRoot(answer, hex, attempt === tries)) !== "retry" || keyHex() !== hex) return;
    }
  } catch (err) {
    report("proof", err);
  }
}

export async function showAnswer(answer) {
  const root = await trustedRoot(answer);
  $("proof-trusted-root").value = root || "";
  $("proof-json").value = JSON.stringify(answer, null, 2);
  fill("proof-answer", el("dl", { class: "fields" },
    field("key", el("code", {}, answer.key)),
    field("present", answer.present ? "yes" : "no (absent)"),
    field("value", answer.value === null ? "–" : el("code", { class: "wrap" }, answer.value)),
    field("record", answer.record ? el("pre", {}, JSON.stringify(answer.record, null, 2)) : "–"),
    field("height", answer.height), field("root", el("code", {}, answer.root)),
    field("siblings", answer.proof.siblings.length)));
  await verifyShown();
}

/**
 * Is the proof's root the one a quorum signed? Deferred execution puts the root after block H
 * into the header of a later block (state_root_height = H, state_root_hint = root): find such
 * a block among the newest, recompute its hash and verify its QC here. Looks for up to ~6 s
 * (the block that carries H's root usually follows within a few blocks). `last`: whether a
 * failure is final ("unchecked") or the caller proves again ("pending").
 */
export async function certifyRoot(answer, hex, last = true) {
  const p = $("proof-certified");
  const say = (verdict, text) => { p.dataset.verdict = verdict; p.textContent = text; return verdict; };
  say("pending", `looking for the block that certifies the root at height ${answer.height}…`);
  for (let attempt = 0; attempt < 6; attempt++) {
    if (keyHex() !== hex) return "stale";
    const page = await get("/blocks", { limit: 20 });
    const carrier = page.items.find((b) => b.state_root_height === answer.height && b.height > answer.height);
    if (carrier) {
      const set = state.validatorSet || (state.validatorSet = await get("/validators"));
      const hashOk = (await headerHash(carrier)) === carrier.hash;
      const qc = carrier.qc ? await verifyQc(carrier.qc, carrier.chain_id, set.items, set.quorum, carrier.hash) : null;
      const rootOk = carrier.state_root_hint === answer.root;
      if (!hashOk || !rootOk || !qc || (qc.checked && !qc.certified)) {
        return say("invalid", `NOT CERTIFIED: block ${carrier.height} ${!rootOk ? "carries another root for this height" : !hashOk ? "does not hash to its fields" : "has no quorum of valid votes"}.`);
      }
      if (!qc.checked) return say("unchecked", `Block ${carrier.height} carries this root; its votes could not be checked here (${qc.reason}).`);
      return say("valid", `CERTIFIED: block ${carrier.height} (hash recomputed, ${qc.reason}) carries this root as its state root hint for height ${answer.height}.`);
    }
    if (page.items.length && page.items[0].state_root_height > answer.height) break; // skipped over H
    await new Promise((r) => setTimeout(r, 1000));
  }
  if (last) say("unchecked", `No committed block carries the root of height ${answer.height} (yet): the root is this validator's word only.`);
  else say("pending", `no committed block carries the root of height ${answer.height}; proving again at a newer height…`);
  return "retry";
}

export function setVerdict(verdict, text) {
  const p = $("proof-result");
  p.dataset.verdict = verdict;
  p.textContent = text;
}

export async function verifyShown() {
  let answer;
  try {
    answer = JSON.parse($("proof-json").value);
  } catch (e) {
    setVerdict("invalid", `INVALID: not JSON (${e.message})`);
    return;
  }
  const trusted = $("proof-trusted-root").value.trim() || null;
  const r = await verifyStateProof(answer, trusted);
  const how = `SHA-256 by ${sha256Engine() === "webcrypto" ? "crypto.subtle" : "the page's JavaScript"}`;
  const against = trusted ? "the trusted root" : "the root in the answer only (no trusted root)";
  if (r.valid) setVerdict("valid", `VALID: ${r.reason}; checked in this browser against ${against} (${how}).`);
  else setVerdict("invalid", `INVALID: ${r.reason}.`);
}


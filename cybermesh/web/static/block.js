// Block detail: header fields, certificate signers, and the hash and QC votes re-verified in
// the browser (certify.js).

import { ApiError, get } from "./api.js";
import { headerHash, verifyQc } from "./certify.js";
import { el, fill, fmtTime, setText, shortHex, table } from "./dom.js";
import { $, field, ok, report, state } from "./ui.js";

export function signerList(qc) {
  if (!qc) return el("span", { class: "muted" }, "none yet");
  const ids = state.validators.length ? state.validators : qc.signers;
  const marks = ids.map((id, i) => {
    const signed = qc.bitmap ? qc.bitmap[i] === "1" : qc.signers.includes(id);
    return el("li", { class: signed ? "ok" : "muted" }, `${id}: ${signed ? "signed" : "no vote"}`);
  });
  return el("div", {},
    el("p", {}, `round ${qc.round}, block ${qc.block_hash.slice(0, 12)}…, ${qc.signers.length} of ${ids.length} signed`),
    el("ul", { class: "signers" }, marks));
}

export async function openBlock(height) {
  state.openBlock = height;
  $("sec-block-detail").hidden = false;
  setText("block-detail-title", `#${height}`);
  try {
    const b = await get(`/blocks/${encodeURIComponent(height)}`);
    ok("block-detail");
    fill("block-detail",
      el("dl", { class: "fields" },
        field("height", b.height), field("hash", el("code", {}, b.hash)),
        field("parent", el("code", {}, b.parent_hash)), field("round", b.round),
        field("proposer", b.proposer), field("chain", b.chain_id),
        field("timestamp", `${fmtTime(b.timestamp)} (${b.timestamp})`), field("tx root", el("code", {}, b.tx_root)),
        field("state root hint", [el("code", {}, b.state_root_hint), ` (after height ${b.state_root_height})`]),
        field("state root after", b.state_root ? el("code", {}, b.state_root) : "pruned")),
      el("h3", {}, "Checked in this browser"),
      el("ul", { id: "block-checks", class: "checks" }, el("li", { class: "muted" }, "checking…")),
      el("p", { id: "block-verdict", class: "verdict", dataset: { verdict: "none" } }),
      el("h3", {}, "Certificate (QC of this block)"), signerList(b.qc),
      el("h3", {}, "Committed by (QC of its child, 2-chain rule)"), signerList(b.commit_qc),
      el("h3", {}, `Transactions (${b.tx_count})`),
      el("div", { id: "block-txs" }, txTable(b.txs.map((hash) => ({ hash })))));
    await checkBlock(b);
    await loadTxDetails(b);
  } catch (err) {
    fill("block-detail");
    report("block-detail", err);
  }
}

/**
 * The block's hash and certificates, recomputed and verified here (certify.js):
 * 1. hash == SHA-256 of the canonical header encoding of the shown fields;
 * 2. its QC names this hash and carries a quorum of valid Ed25519 votes;
 * 3. the commit QC (the child's) names this block as parent and carries a quorum too.
 */
export async function checkBlock(b) {
  const set = state.validatorSet || (state.validatorSet = await get("/validators"));
  const lines = [];
  let valid = true;
  let unchecked = false;
  const hash = await headerHash(b);
  const hashOk = hash === b.hash;
  valid &&= hashOk;
  lines.push([hashOk, hashOk ? "block hash = SHA-256 of the header fields above" : `block hash MISMATCH: the header fields hash to ${hash}`]);
  for (const [name, qc, hashHex] of [["QC", b.qc, b.hash], ["commit QC", b.commit_qc, null]]) {
    if (!qc) {
      lines.push([null, `${name}: none yet`]);
      if (name === "QC") valid = false;
      continue;
    }
    const r = await verifyQc(qc, b.chain_id, set.items, set.quorum, hashHex);
    if (!r.checked) unchecked = true;
    let ok = r.certified;
    let text = `${name}: ${r.checked ? (r.certified ? "certified, " : "NOT certified, ") : "not checked: "}${r.reason}`;
    if (name === "commit QC" && qc.parent_hash !== b.hash) {
      ok = false;
      text += "; it does NOT name this block as its parent";
    }
    valid &&= ok || !r.checked;
    lines.push([r.checked ? ok : null, text]);
  }
  if (state.openBlock !== b.height) return;
  fill("block-checks", lines.map(([ok, text]) => el("li", { class: ok === null ? "muted" : ok ? "ok" : "bad" }, text)));
  const v = $("block-verdict");
  v.dataset.verdict = !valid ? "invalid" : unchecked ? "unchecked" : "valid";
  v.textContent = !valid ? "INVALID: see above." : unchecked ? "Hash checked; signatures not checked in this browser." : "VALID: hash and certificates checked in this browser (keys from /api/v1/validators).";
}

export function txTable(txs) {
  return table([
    ["#", (t) => t.index ?? "", "num"],
    ["tx hash", (t) => shortHex(t.hash, 16)],
    ["kind", (t) => t.kind ?? "…"],
    ["producer", (t) => t.producer_id ?? ""],
    ["id", (t) => t.id ?? ""],
    ["status", (t) => t.status ?? ""],
  ], txs, { empty: "empty block" });
}

/** The first 20 transactions of the open block, one request at a time (gentle on rate limits). */
export async function loadTxDetails(b) {
  const txs = b.txs.map((hash) => ({ hash }));
  for (let i = 0; i < Math.min(20, txs.length); i++) {
    if (state.openBlock !== b.height) return;
    try {
      txs[i] = await get(`/txs/${txs[i].hash}`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 429) break;
    }
  }
  if (state.openBlock === b.height) fill("block-txs", txTable(txs));
}

export function closeBlock() {
  state.openBlock = null;
  $("sec-block-detail").hidden = true;
  if (location.hash.startsWith("#block=")) history.replaceState(null, "", location.pathname + location.search);
}


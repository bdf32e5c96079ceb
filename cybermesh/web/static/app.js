// The validator's web view: polls /api/v1 (docs/API.md) and renders tables; a block detail
// view; a state lookup whose Merkle proof is verified here, in the browser (merkle.js).
// Everything from the API is rendered as text (dom.js), never as HTML.

import { ApiError, clearToken, get, getToken, setToken, takeTokenFromFragment } from "./api.js";
import { el, fill, fmtAge, fmtTime, setText, shortHex, table } from "./dom.js";
import { headerHash, verifyQc } from "./certify.js";
import { bytesToHex, verifyStateProof } from "./merkle.js";
import { sha256Engine } from "./sha256.js";

const TICK_MS = 1500;
const SLOW_EVERY = 3; // validators, entities, evidence, DLQ: every 3rd tick
const $ = (id) => document.getElementById(id);

const state = {
  tick: 0,
  pausedUntil: 0, // 429: no request before this time (ms)
  signedOut: false, // 401: wait for a token
  forbidden: new Set(), // sections this token may not read (403), skipped until the token changes
  height: null,
  validators: [], // genesis order (bitmap order of QCs)
  validatorSet: null, // the /validators answer (consensus keys, quorum) for certificate checks
  openBlock: null,
};

// ---- status, banner, errors -------------------------------------------------------------

function banner(text, kind = "error") {
  const b = $("banner");
  b.hidden = !text;
  b.textContent = text || "";
  b.dataset.kind = kind;
}

function setLive(stateName, text) {
  const p = $("live");
  p.dataset.state = stateName;
  p.textContent = text;
}

/** Show an error where it happened; 401 and 429 also change the whole page's state. */
function report(section, err) {
  if (!(err instanceof ApiError)) {
    setText(`${section}-status`, `error: ${err.message}`);
    console.error(err);
    return;
  }
  const status = $(`${section}-status`);
  status.textContent = `${err.status || "no answer"}: ${err.message}`;
  status.dataset.status = String(err.status);
  if (err.status === 401) {
    state.signedOut = true;
    setLive("signed-out", "sign in");
    banner(`401 Unauthorized: ${err.message}. Paste a token above (cybermesh token issue --role viewer).`);
    $("token-input").focus();
  } else if (err.status === 403) {
    state.forbidden.add(section);
    clearSection(section);
  } else if (err.status === 429) {
    const wait = err.retryAfterS ?? 5;
    state.pausedUntil = Date.now() + wait * 1000;
    setLive("limited", "rate limited");
    banner(`429 Too Many Requests: ${err.message}; polling resumes in ${wait} s.`, "warn");
  } else if (err.status === 0) {
    setLive("down", "no answer");
  }
}

const SECTIONS = ["blocks", "validators", "mempool", "entities", "evidence", "dlq"];

/** Remove what a section shows (its data may not outlive the token that could read it). */
function clearSection(section) {
  for (const id of [section, `${section}-summary`]) if ($(id)) fill(id);
}

function ok(section) {
  const status = $(`${section}-status`);
  status.textContent = "";
  delete status.dataset.status;
}

async function load(section, fn) {
  if (state.forbidden.has(section)) return;
  try {
    await fn();
    ok(section);
  } catch (err) {
    report(section, err);
  }
}

// ---- sections -----------------------------------------------------------------------------

function blockLink(height) {
  return el("a", { href: `#block=${height}`, class: "block-link", dataset: { height: String(height) } }, String(height));
}

async function loadConsensus() {
  const c = await get("/consensus");
  setText("validator-id", c.validator_id);
  document.title = `CyberMesh ${c.validator_id}`;
  setText("stat-height", c.committed_height);
  setText("stat-round", c.round);
  setText("stat-leader", c.leader);
  setText("stat-highqc", c.high_qc ? `round ${c.high_qc.round}, ${c.high_qc.signers.length} signers` : null);
  setText("stat-lastcommit", c.last_commit ? `#${c.last_commit.height}, ${fmtAge(c.last_commit.timestamp)}` : null);
  setText("stat-viewchanges", c.view_changes);
  setText("stat-n", `n=${c.n}, f=${c.f}, quorum ${c.quorum}`);
  const changed = c.committed_height !== state.height;
  state.height = c.committed_height;
  return changed;
}

async function loadBlocks() {
  const page = await get("/blocks", { limit: 12 });
  fill("blocks", table([
    ["height", (b) => blockLink(b.height), "num"],
    ["hash", (b) => shortHex(b.hash)],
    ["round", (b) => b.round, "num"],
    ["proposer", (b) => b.proposer],
    ["txs", (b) => b.tx_count, "num"],
    ["time", (b) => fmtTime(b.timestamp)],
    ["certificate", (b) => (b.qc ? `${b.qc.signers.length} signers` : "–")],
    ["committed by", (b) => (b.commit_qc ? `QC round ${b.commit_qc.round}` : "–")],
  ], page.items, { empty: "no block committed yet", rowAttrs: (b) => ({ dataset: { height: String(b.height) } }) }));
}

async function loadMempool() {
  const m = await get("/mempool", { limit: 10 });
  const kinds = Object.entries(m.by_kind || {}).map(([k, n]) => `${k} ${n}`).join(", ") || "empty";
  fill("mempool-summary",
    el("span", {}, el("b", { id: "mempool-count" }, String(m.count)), ` txs, ${m.bytes} bytes (${kinds})`),
    m.caps ? el("span", { class: "muted" }, ` · caps ${m.caps.max_txs} txs, ${m.caps.max_bytes} bytes`) : null,
    m.ready ? null : el("span", { class: "warn" }, " · not ready"));
  fill("mempool", table([
    ["tx hash", (t) => shortHex(t.tx_hash, 16)],
    ["kind", (t) => t.kind],
    ["size", (t) => t.size, "num"],
    ["score", (t) => t.score ?? "–", "num"],
    ["admitted", (t) => fmtAge(t.admitted_ms)],
  ], m.top || [], { empty: "mempool is empty" }));
}

async function loadValidators() {
  const v = await get("/validators");
  state.validators = v.items.map((x) => x.id);
  state.validatorSet = v;
  fill("validators", table([
    ["id", (x) => (x.self ? el("b", {}, `${x.id} (this node)`) : x.id)],
    ["live", (x) => el("span", { class: x.live ? "ok" : "bad" }, x.live ? "live" : "silent")],
    ["connected", (x) => (x.self ? "–" : x.connected ? "yes" : "no")],
    ["last seen", (x) => (x.last_seen ? `${x.last_seen.kind} r${x.last_seen.round}, ${fmtAge(x.last_seen.at_ms)}` : "–")],
    ["last signed round", (x) => x.last_signed_round ?? "–", "num"],
    ["address", (x) => el("code", {}, x.address)],
    ["peer id", (x) => shortHex(x.peer_id, 16)],
  ], v.items, { empty: "no validators" }));
}

async function loadEntities() {
  const quarantined = $("entities-quarantined").checked ? "true" : undefined;
  const page = await get("/entities", { limit: 25, quarantined });
  fill("entities", table([
    ["entity", (e) => e.entity_id],
    ["reputation", (e) => e.reputation, "num"],
    ["quarantined", (e) => el("span", { class: e.quarantined ? "bad" : "muted" }, e.quarantined ? "quarantined" : "no")],
    ["changed at", (e) => blockLink(e.height), "num"],
    ["proof", (e) => el("button", { type: "button", class: "prove", onclick: () => lookup(`rep/${e.entity_id}`) }, "verify")],
  ], page.items, { empty: quarantined ? "no entity is quarantined" : "no entity yet" }));
}

async function loadEvidence() {
  const page = await get("/evidence", { limit: 12 });
  fill("evidence", table([
    ["evidence", (e) => e.evidence_id],
    ["status", (e) => el("span", { class: e.status === "accepted" ? "ok" : "bad" }, e.status)],
    ["action", (e) => e.action],
    ["refs", (e) => (e.refs || []).join(", ")],
    ["producer", (e) => e.producer_id],
    ["block", (e) => blockLink(e.height), "num"],
  ], page.items, { empty: "no evidence yet" }));
}

async function loadDlq() {
  const d = await get("/dlq");
  fill("dlq",
    el("p", {}, `${d.total} rejected since this worker started`),
    table([
      ["reason", (x) => x.reason],
      ["topic", (x) => x.topic],
      ["count", (x) => x.count, "num"],
    ], d.items, { empty: "nothing rejected" }));
}

// ---- block detail ----------------------------------------------------------------------------

function signerList(qc) {
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

function field(name, value) {
  return [el("dt", {}, name), el("dd", {}, value)];
}

async function openBlock(height) {
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
async function checkBlock(b) {
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

function txTable(txs) {
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
async function loadTxDetails(b) {
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

function closeBlock() {
  state.openBlock = null;
  $("sec-block-detail").hidden = true;
  if (location.hash.startsWith("#block=")) history.replaceState(null, "", location.pathname + location.search);
}

function route() {
  if (takeTokenFromFragment()) onToken(null);
  const m = /^#block=(\d+)$/.exec(location.hash);
  if (m) openBlock(Number(m[1]));
}

// ---- state lookup and proof ------------------------------------------------------------------

function keyHex() {
  const raw = $("proof-key").value.trim();
  if ($("proof-key-format").value === "hex") return raw.toLowerCase();
  return bytesToHex(new TextEncoder().encode(raw));
}

async function trustedRoot(answer) {
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
async function stateKey(hex) {
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

async function lookup(text) {
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
    // root (proposers' hints can skip a height), prove again at the newer height (3 tries).
    for (let attempt = 1; attempt <= 3; attempt++) {
      const answer = await stateKey(hex);
      ok("proof");
      await showAnswer(answer);
      if ((await certifyRoot(answer, hex)) !== "retry" || keyHex() !== hex) return;
    }
  } catch (err) {
    report("proof", err);
  }
}

async function showAnswer(answer) {
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
 * (the block that carries H's root usually follows within a few blocks).
 */
async function certifyRoot(answer, hex) {
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
  say("unchecked", `No committed block carries the root of height ${answer.height} (yet): the root is this validator's word only.`);
  return "retry";
}

function setVerdict(verdict, text) {
  const p = $("proof-result");
  p.dataset.verdict = verdict;
  p.textContent = text;
}

async function verifyShown() {
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

// ---- token, polling ----------------------------------------------------------------------------

function onToken(token) {
  if (token === null) {
    // the token was already stored (from a #token= fragment)
  } else if (token) setToken(token);
  else clearToken();
  $("token-input").value = "";
  state.signedOut = false;
  state.forbidden.clear();
  state.pausedUntil = 0;
  banner("");
  for (const s of document.querySelectorAll(".status")) s.textContent = "";
  for (const section of SECTIONS) clearSection(section);
  closeBlock();
  state.height = null;
  poll(true);
}

let running = false;
async function poll(force = false) {
  if (running || (!force && (state.signedOut || document.hidden))) return;
  if (Date.now() < state.pausedUntil) return;
  running = true;
  try {
    const slow = force || state.tick % SLOW_EVERY === 0;
    state.tick += 1;
    let changed = true;
    let consensusOk = false;
    await load("blocks", async () => { changed = await loadConsensus(); consensusOk = true; });
    if (state.signedOut) return;
    if (changed || force) await load("blocks", loadBlocks);
    await load("mempool", loadMempool);
    if (slow) {
      await load("validators", loadValidators);
      await load("entities", loadEntities);
      await load("evidence", loadEvidence);
      await load("dlq", loadDlq);
    }
    if (Date.now() >= state.pausedUntil && !state.signedOut) {
      if ($("banner").dataset.kind === "warn") banner("");
      if (consensusOk) setLive("live", `live · ${new Date().toLocaleTimeString()}`);
      else if ($("live").dataset.state !== "down") setLive("degraded", "not ready");
    }
  } finally {
    running = false;
  }
}

function main() {
  takeTokenFromFragment();
  $("login").addEventListener("submit", (e) => { e.preventDefault(); onToken($("token-input").value.trim()); });
  $("token-clear").addEventListener("click", () => onToken(""));
  $("entities-quarantined").addEventListener("change", () => load("entities", loadEntities));
  $("proof-form").addEventListener("submit", (e) => { e.preventDefault(); lookup(); });
  $("proof-verify").addEventListener("click", () => verifyShown());
  $("block-detail-close").addEventListener("click", closeBlock);
  window.addEventListener("hashchange", route);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) poll(); });
  if (!getToken()) banner("No token yet: the API may answer 401. Open the page as /ui/#token=... or paste one above.", "warn");
  poll(true).then(route);
  setInterval(poll, TICK_MS);
}

main();

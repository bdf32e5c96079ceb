// The validator's web view: polls /api/v1 (docs/API.md) and renders its tables; the block
// detail is block.js, the state lookup with its in-browser proof check proof.js, shared state
// and error handling ui.js. Everything from the API is rendered as text (dom.js), never as HTML.

import { clearToken, get, getToken, setToken, takeTokenFromFragment } from "./api.js";
import { closeBlock, openBlock } from "./block.js";
import { el, fill, fmtAge, fmtTime, setText, shortHex, table } from "./dom.js";
import { lookup, verifyShown } from "./proof.js";
import { $, SECTIONS, banner, blockLink, clearSection, load, setLive, state } from "./ui.js";

const TICK_MS = 1500;
const SLOW_EVERY = 3; // validators, entities, evidence, DLQ: every 3rd tick

// ---- sections -----------------------------------------------------------------------------

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

function route() {
  if (takeTokenFromFragment()) onToken(null);
  const m = /^#block=(\d+)$/.exec(location.hash);
  if (m) openBlock(Number(m[1]));
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

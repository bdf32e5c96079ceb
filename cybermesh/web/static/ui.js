// Shared page state, status lines and error handling of the web view (docs/WEB.md).

import { ApiError } from "./api.js";
import { el, fill, setText } from "./dom.js";

export const $ = (id) => document.getElementById(id);

export const state = {
  tick: 0,
  pausedUntil: 0, // 429: no request before this time (ms)
  signedOut: false, // 401: wait for a token
  forbidden: new Set(), // sections this token may not read (403), skipped until the token changes
  height: null,
  validators: [], // genesis order (bitmap order of QCs)
  validatorSet: null, // the /validators answer (consensus keys, quorum) for certificate checks
  openBlock: null,
};

export const SECTIONS = ["blocks", "validators", "mempool", "entities", "evidence", "dlq"];

export function banner(text, kind = "error") {
  const b = $("banner");
  b.hidden = !text;
  b.textContent = text || "";
  b.dataset.kind = kind;
}

export function setLive(stateName, text) {
  const p = $("live");
  p.dataset.state = stateName;
  p.textContent = text;
}

/** Show an error where it happened; 401 and 429 also change the whole page's state. */
export function report(section, err) {
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

/** Remove what a section shows (its data may not outlive the token that could read it). */
export function clearSection(section) {
  for (const id of [section, `${section}-summary`]) if ($(id)) fill(id);
}

export function ok(section) {
  const status = $(`${section}-status`);
  status.textContent = "";
  delete status.dataset.status;
}

export async function load(section, fn) {
  if (state.forbidden.has(section)) return;
  try {
    await fn();
    ok(section);
  } catch (err) {
    report(section, err);
  }
}

export function field(name, value) {
  return [el("dt", {}, name), el("dd", {}, value)];
}

export function blockLink(height) {
  return el("a", { href: `#block=${height}`, class: "block-link", dataset: { height: String(height) } }, String(height));
}


// Runs cybermesh/web/static/merkle.js over the cases on stdin (JSON) and prints the verdicts.
// Used by test_merkle_js.py (node; with --no-experimental-global-webcrypto the page's own
// JavaScript SHA-256 is used instead of crypto.subtle).
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [staticDir] = process.argv.slice(2);
const merkle = await import(pathToFileURL(`${staticDir}/merkle.js`).href);
const sha = await import(pathToFileURL(`${staticDir}/sha256.js`).href);
const input = JSON.parse(readFileSync(0, "utf8"));
const out = { engine: sha.sha256Engine(), verdicts: [], digests: [], answers: [] };
for (const c of input.cases) {
  try {
    const proof = merkle.decodeProof(merkle.hexToBytes(c.proof));
    const value = c.value === null ? null : merkle.hexToBytes(c.value);
    const r = await merkle.verifyProof(merkle.hexToBytes(c.root), merkle.hexToBytes(c.key), value, proof);
    out.verdicts.push(r.valid ? "valid" : "invalid");
  } catch (e) {
    if (!(e instanceof merkle.ProofFormatError)) throw e;
    out.verdicts.push("format_error");
  }
}
for (const m of input.messages) out.digests.push(merkle.bytesToHex(sha.sha256Sync(merkle.hexToBytes(m))));
out.answers = [];
for (const a of input.answers ?? []) out.answers.push((await merkle.verifyStateProof(a)).valid);
process.stdout.write(JSON.stringify(out));

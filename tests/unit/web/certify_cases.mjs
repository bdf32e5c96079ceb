// Runs cybermesh/web/static/certify.js over the cases on stdin (JSON); prints its results.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

const [staticDir] = process.argv.slice(2);
const c = await import(pathToFileURL(`${staticDir}/certify.js`).href);
const input = JSON.parse(readFileSync(0, "utf8"));
const out = { ed25519: await c.hasEd25519(), hashes: [], votes: [], qcs: [] };
for (const b of input.blocks) out.hashes.push(await c.headerHash(b));
for (const v of input.votes) out.votes.push(Buffer.from(c.voteBytes(v.chain_id, v.qc)).toString("hex"));
for (const q of input.qcs) out.qcs.push(await c.verifyQc(q.qc, q.chain_id, input.validators, q.quorum, q.hash));
process.stdout.write(JSON.stringify(out));

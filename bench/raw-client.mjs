#!/usr/bin/env node
// The raw client bench/remote.mjs compares sparctl with: what a minimal program does to push a
// file's records into a SPAR v2 mapper — read the CSV, build each request, 500 items per request,
// LEVEL in flight, undici's Pool, check each answer's status — and nothing else (no journal, no
// validation, no retries). Prints its own CPU milliseconds.
//   node bench/raw-client.mjs URL link|resolve FILE.csv LEVEL
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const { Pool } = await import(`${root}node_modules/undici/index.js`);
const [url, operation, file, level] = [process.argv[2], process.argv[3], process.argv[4], Number(process.argv[5])];
const lines = readFileSync(file, 'utf8').split('\n').slice(1).filter(Boolean);
const pool = new Pool(url, { connections: level });
const header = (id) => ({
  sender_app_mnemonic: 'raw',
  sender_app_url: '',
  request_id: `raw-${id}`,
  request_timestamp: new Date().toISOString(),
  instance_id: null,
});
function body(start) {
  const rows = lines.slice(start, start + 500).map((line) => line.split(','));
  const timestamp = new Date().toISOString();
  const payload =
    operation === 'link'
      ? {
          transaction_id: `t${start}`,
          link_request: rows.map(([id, name, , , , bankName, bankCode, branchName, branchCode, account], i) => ({
            reference_id: `r${start + i}`,
            timestamp,
            id,
            fa: {
              strategy_id: 2,
              fa_type: 'BANK',
              bank_name: bankName,
              bank_code: bankCode,
              branch_name: branchName,
              branch_code: branchCode,
              account_number: account,
            },
            name,
            locale: 'en',
          })),
        }
      : {
          transaction_id: `t${start}`,
          resolve_request: rows.map(([id], i) => ({ reference_id: `r${start + i}`, timestamp, id, scope: 'details' })),
        };
  return JSON.stringify({ request_header: header(start), request_body: { request_payload: payload } });
}
const cpu = process.cpuUsage();
let next = 0;
await Promise.all(
  Array.from({ length: level }, async () => {
    while (next < lines.length) {
      const start = next;
      next += 500;
      const response = await pool.request({
        method: 'POST',
        path: `/mapper/${operation}`,
        headers: { 'content-type': 'application/json' },
        body: body(start),
      });
      const answer = await response.body.json();
      if (answer.response_header?.response_status !== 'SUCCESS') throw new Error(JSON.stringify(answer).slice(0, 300));
    }
  }),
);
await pool.close();
const used = process.cpuUsage(cpu);
process.stdout.write(`${(used.user + used.system) / 1000}\n`);

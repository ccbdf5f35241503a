// Runs the graphql-http server audits (GraphQL-over-HTTP conformance) against a URL.
//
//   node audit/run.mjs URL [--token JWT]
//
// Prints one line per audit, then `graphql-http audits: N total, N ok, N warn, N error, N notice`.
// Exits 1 unless every audit is `ok`: SHOULDs (warn) and MAYs (notice) count as failures too.
import { auditServer } from 'graphql-http';

function usage(message) {
  console.error(`${message}\nusage: node audit/run.mjs URL [--token JWT]`);
  process.exit(2);
}

const args = process.argv.slice(2);
let url;
let token;
for (let i = 0; i < args.length; i++) {
  const arg = args[i];
  if (arg === '--token') {
    token = args[++i];
    if (!token) usage('--token needs a value');
  } else if (arg.startsWith('--token=')) {
    token = arg.slice('--token='.length);
  } else if (arg === '-h' || arg === '--help') {
    usage('Runs the graphql-http server audits.');
  } else if (url === undefined) {
    url = arg;
  } else {
    usage(`unexpected argument: ${arg}`);
  }
}
if (!url) usage('missing URL');

// Every audit request carries the bearer token, when one is given.
const fetchFn = token
  ? (input, init = {}) => {
      const headers = new Headers(init.headers);
      headers.set('authorization', `Bearer ${token}`);
      return fetch(input, { ...init, headers });
    }
  : fetch;

const results = await auditServer({ url, fetchFn });

const counts = { ok: 0, warn: 0, error: 0, notice: 0 };
for (const result of results) {
  counts[result.status] = (counts[result.status] ?? 0) + 1;
  if (result.status === 'ok') {
    console.log(`ok     ${result.id} ${result.name}`);
    continue;
  }
  const res = result.response;
  let body = '';
  try {
    body = await res.text();
  } catch (err) {
    body = `<unreadable body: ${err}>`;
  }
  const contentType = res.headers.get('content-type') ?? '-';
  console.log(`${result.status.padEnd(6)} ${result.id} ${result.name}`);
  console.log(`         reason: ${result.reason}`);
  console.log(`         response: ${res.status} ${contentType} ${body.slice(0, 500)}`);
}

console.log(
  `graphql-http audits: ${results.length} total, ${counts.ok} ok, ${counts.warn} warn, ` +
    `${counts.error} error, ${counts.notice} notice`,
);
process.exit(counts.ok === results.length ? 0 : 1);

// Runs graphql-http's GraphQL over HTTP audit against a running server.
// Usage: node audit.mjs http://127.0.0.1:PORT/graphql
// Prints one line per audit and a summary; exits 1 on any MUST failure,
// 2 when SHOULD warnings remain and STRICT=1, else 0.
import { auditServer } from "graphql-http";

const url = process.argv[2];
if (!url) {
  console.error("usage: node audit.mjs URL");
  process.exit(64);
}
const results = await auditServer({ url });
let ok = 0;
let mustFailures = 0;
let shouldWarnings = 0;
for (const result of results) {
  const mark = result.status === "ok" ? "ok  " : result.status === "warn" ? "WARN" : "FAIL";
  const reason = result.status === "ok" ? "" : ` -- ${result.reason}`;
  console.log(`${mark} ${result.id} ${result.name}${reason}`);
  if (result.status === "ok") ok += 1;
  else if (result.status === "warn") shouldWarnings += 1;
  else mustFailures += 1;
}
console.log(
  `graphql-http audit: ${results.length} audits, ${ok} ok, ` +
    `${mustFailures} MUST failures, ${shouldWarnings} SHOULD warnings`
);
if (mustFailures > 0) process.exit(1);
if (shouldWarnings > 0 && process.env.STRICT === "1") process.exit(2);

// The `live` scenario's clients: many graphql-transport-ws connections (the
// reference `graphql-ws` client, installed in tests/graphql_ws/), each
// subscribed to the fleet summary and some group summaries.
// Usage: node bench/live_load.mjs < plan.json
//   {"url": "ws://...", "seconds": 20, "connections": [{"token": "...", "org": 12,
//     "groups": ["Q3...", ...]}]}
// Prints "ready <ms>" once every subscription has its first summary, then one
// line per later push: "<connection index> <subscription id> <epoch ms>", and
// "done <errors>" at the end.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";

const require = createRequire(new URL("../tests/graphql_ws/package.json", import.meta.url));
const { createClient } = require("graphql-ws");
const WebSocket = require("ws");

const plan = JSON.parse(readFileSync(0, "utf8"));
const QUERY = `subscription Live($groupId: ID) { summary(groupId: $groupId) {
  productCount siteCount health { good warning critical unknown }
  connectivity { connected disconnected notConfigured }
  contracts { active endingWithin30Days endingWithin90Days expired }
  code { current updateAvailable unknown } serviceRequests { open critical high medium low }
  byFamily { family { id name } count } bySite(first: 10) { site { id name } count } } }`;

let expected = 0;
let initial = 0;
let errors = 0;
let ready = false;
const started = Date.now();
const out = [];
const clients = [];
let readyResolve;
const allReady = new Promise((resolve) => (readyResolve = resolve));

plan.connections.forEach((connection, index) => {
  const client = createClient({
    url: plan.url,
    webSocketImpl: WebSocket,
    lazy: false,
    retryAttempts: 0,
    connectionParams: { Authorization: `Bearer ${connection.token}` },
    onNonLazyError: () => {
      errors += 1;
    },
  });
  clients.push(client);
  const views = [null, ...connection.groups];
  views.forEach((groupId, sub) => {
    expected += 1;
    let first = true;
    client.subscribe(
      { query: QUERY, variables: { groupId } },
      {
        next: (payload) => {
          if (payload.errors) errors += 1;
          if (first) {
            first = false;
            initial += 1;
            if (initial === expected) readyResolve();
          } else if (ready) {
            out.push(`${index} ${sub} ${Date.now()}`);
          }
        },
        error: () => {
          errors += 1;
        },
        complete: () => {},
      },
    );
  });
});

await Promise.race([allReady, new Promise((r) => setTimeout(r, 120000))]);
ready = true;
process.stdout.write(`ready ${Date.now() - started} ${initial}/${expected}\n`);
// The window, plus a grace period for the pushes of the last changes.
await new Promise((r) => setTimeout(r, (plan.seconds + 5) * 1000));
for (const line of out) process.stdout.write(line + "\n");
process.stdout.write(`done ${errors}\n`);
await Promise.all(clients.map((c) => c.dispose()));
process.exit(0);

// The reference graphql-transport-ws client (graphql-ws) driven line by line.
// Usage: node client.mjs '{"url": "ws://127.0.0.1:PORT/graphql", "token": "..."}'
// Reads JSON commands on stdin, one a line:
//   {"op": "subscribe", "id": "fleet", "query": "subscription { ... }", "variables": {}}
//   {"op": "unsubscribe", "id": "fleet"}
//   {"op": "close"}
// Writes JSON events on stdout, one a line:
//   {"event": "connected"} | {"event": "next", "id", "payload"} | {"event": "error", "id", "errors"}
//   {"event": "complete", "id"} | {"event": "closed", "code", "reason"}
import { createInterface } from "node:readline";
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const config = JSON.parse(process.argv[2]);
const emit = (event) => process.stdout.write(JSON.stringify({ ...event, t: Date.now() }) + "\n");

const client = createClient({
  url: config.url,
  webSocketImpl: WebSocket,
  lazy: false,
  retryAttempts: 0,
  connectionParams: config.token ? { Authorization: `Bearer ${config.token}` } : {},
  on: {
    connected: () => emit({ event: "connected" }),
    closed: (closeEvent) => {
      emit({ event: "closed", code: closeEvent.code, reason: closeEvent.reason });
      process.exit(0);
    },
  },
  onNonLazyError: () => {},
});

const active = new Map();
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const command = JSON.parse(line);
  if (command.op === "subscribe") {
    const { id, query, variables } = command;
    active.set(
      id,
      client.subscribe(
        { query, variables },
        {
          next: (payload) => emit({ event: "next", id, payload }),
          error: (errors) =>
            emit({ event: "error", id, errors: Array.isArray(errors) ? errors : String(errors?.reason ?? errors) }),
          complete: () => emit({ event: "complete", id }),
        },
      ),
    );
  } else if (command.op === "unsubscribe") {
    active.get(command.id)?.();
    active.delete(command.id);
  } else if (command.op === "close") {
    await client.dispose();
    break;
  }
}
await client.dispose();
process.exit(0);

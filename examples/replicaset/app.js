// An app that always writes to the current Redis primary. It does not know
// any address: berth renders the primary's host:port into primary.addr
// (an on_change template over the catalog, primary.tmpl) whenever the
// catalog's "primary" tag moves, and the app reconnects when the file
// changes.
//   PUT /kv/KEY (body: the value)   SET on the primary
//   GET /kv/KEY                     GET from the primary
//   GET /healthz                    which primary it uses
"use strict";
const fs = require("fs");
const http = require("http");
const path = require("path");
const { createClient } = require("redis");

const instance = process.env.BERTH_INSTANCE || "app.0";
const file = path.resolve(process.env.PRIMARY_FILE || "primary.addr");
let primary = null; // "host:port"
let client = null;

function log(...a) {
  console.log(new Date().toISOString(), instance, ...a);
}

function follow() {
  let addr = "";
  try {
    addr = fs.readFileSync(file, "utf8").trim();
  } catch (e) { /* not rendered yet */ }
  if (!addr || addr === primary) return;
  const old = client;
  primary = addr;
  log(`primary is now ${addr}`);
  client = createClient({
    url: `redis://${addr}`,
    disableOfflineQueue: true, // fail at once while disconnected: no request waits forever
    socket: { connectTimeout: 1000, reconnectStrategy: (n) => Math.min(100 * (n + 1), 1000) },
  });
  client.on("error", (e) => log(`redis ${addr}: ${e.message}`));
  client.connect().catch(() => {});
  if (old) old.destroy();
}

follow();
fs.watchFile(file, { interval: 100 }, follow);

function reply(res, status, obj) {
  res.writeHead(status, { "Content-Type": "application/json", "X-Served-By": instance });
  res.end(JSON.stringify(obj) + "\n");
}

http.createServer((req, res) => {
  const m = /^\/kv\/([\w.-]{1,200})$/.exec(req.url);
  if (req.url === "/healthz") return reply(res, 200, { instance, primary });
  if (!m) return reply(res, 404, { error: "try PUT or GET /kv/KEY" });
  if (!client || !client.isReady) return reply(res, 503, { error: `not connected to the primary (${primary})`, primary });
  const c = client, key = m[1];
  if (req.method === "GET") {
    c.get(key).then((v) => reply(res, v === null ? 404 : 200, { key, value: v, primary }),
      (e) => reply(res, 503, { error: e.message, primary }));
  } else if (req.method === "PUT") {
    let body = "";
    req.on("data", (d) => { body += d; });
    req.on("end", () => c.set(key, body).then(() => reply(res, 200, { key, ok: true, primary }),
      (e) => reply(res, 503, { error: e.message, primary })));
  } else {
    reply(res, 405, { error: "GET or PUT" });
  }
}).listen(Number(process.env.PORT || 3000), process.env.BERTH_ADDR || "127.0.0.1", () => log("listening"));

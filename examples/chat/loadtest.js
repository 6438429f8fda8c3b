#!/usr/bin/env node
// A load test of the chat through berth lb, as browsers use it: N
// socket.io clients (long polling first, then the upgrade to WebSocket,
// which only works when the lb keeps each session on one instance) join
// rooms and exchange messages, in three phases:
//
//   1. connect and join, then one message from every client;
//   2. every client sends a message every --every ms (each with an ack, and
//      sent again after a reconnect if it was not acked) while something
//      happens to the chat tier (with --control: until "replaced" is read
//      on stdin; the test kills a chat instance meanwhile);
//   3. --late more clients connect, then one message from every client and
//      one posted to each room through the REST tier (--api).
//
// A message that the server accepted must reach every client that was in
// its room (joined, connected) from before the message was first sent until
// the end of its phase. Only clients that were disconnected meanwhile are
// excused, and only for the messages sent before they joined again.
// Prints JSON lines: {"event": ...} along the way, then {"event": "report"}.
//
//   node loadtest.js --url http://127.0.0.1:8080 --api http://127.0.0.1:8081
"use strict";
const { io } = require("socket.io-client");
const readline = require("readline");

const opt = { url: "http://127.0.0.1:8080", api: "", clients: 200, rooms: 20, late: 30, every: 1000, control: false,
  max_seconds: 90 };
for (let i = 2; i < process.argv.length; i++) {
  const k = process.argv[i].replace(/^--/, "").replace(/-/g, "_");
  if (!(k in opt)) { console.error(`unknown option ${process.argv[i]}`); process.exit(2); }
  opt[k] = typeof opt[k] === "boolean" ? true : typeof opt[k] === "number" ? Number(process.argv[++i]) : process.argv[++i];
}

let seq = 0; // a clock of events: everything runs on this one thread
const tick = () => ++seq;
const out = (o) => process.stdout.write(JSON.stringify(o) + "\n");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const deadline = Date.now() + opt.max_seconds * 1000;
// Every wait is bounded: --max-seconds for the whole run.
async function until(what, cond, ms = 30000) {
  const end = Math.min(Date.now() + ms, deadline);
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

const clients = [];
const messages = new Map(); // id -> {room, firstSent, attempts, acked, phase}
const stats = { connect_errors: [], disconnects: {}, ack_failures: 0, retries: 0, duplicates: 0 };

function newClient(i) {
  const c = { i, room: `room-${i % opt.rooms}`, joined: false, instance: null, transport: null, intervals: [],
    received: new Map(), n: 0 };
  const s = io(opt.url, {
    transports: ["polling", "websocket"], // the browser's default order
    withCredentials: true, // keep the lb's cookie (a cookie jar per connection)
    reconnectionDelay: 300, reconnectionDelayMax: 2000, timeout: 10000, forceNew: true,
  });
  c.socket = s;
  s.on("connect", () => {
    s.emit("join", { room: c.room, name: `user${i}` }, (r) => {
      if (!r || r.error) return stats.connect_errors.push(`client ${i}: join: ${r && r.error}`);
      c.joined = true;
      c.instance = r.instance;
      c.intervals.push({ from: tick(), to: null, instance: r.instance });
    });
    const whoami = () => s.emit("whoami", (w) => {
      c.transport = w.transport;
      c.wsInstance = w.instance;
    });
    if (s.io.engine.transport.name === "websocket") whoami();
    else s.io.engine.once("upgrade", whoami);
  });
  s.on("connect_error", (e) => stats.connect_errors.push(`client ${i}: ${e.message}`));
  s.on("disconnect", (why) => {
    const t = tick();
    const last = c.intervals[c.intervals.length - 1];
    if (last && last.to === null) last.to = t;
    const where = c.instance || "?";
    stats.disconnects[where] = (stats.disconnects[where] || 0) + 1;
    c.joined = false;
    c.transport = null;
    c.lastDisconnect = why;
  });
  s.on("msg", (m) => {
    const n = c.received.get(m.id) || 0;
    if (n) stats.duplicates++;
    c.received.set(m.id, n + 1);
  });
  return c;
}

const ready = (c) => c.joined && c.transport === "websocket";

// One message from client c, acked by the server; sent again (same id) when
// the ack does not come, once the client has joined again.
async function send(c, phase) {
  const id = `${c.i}-${++c.n}`;
  const m = { room: c.room, firstSent: null, attempts: 0, acked: false, phase };
  messages.set(id, m);
  while (m.attempts < 10 && Date.now() < deadline) {
    await until("client to join", () => c.joined, 20000).catch(() => {});
    if (!c.joined) break;
    if (m.firstSent === null) m.firstSent = tick();
    m.attempts++;
    if (m.attempts > 1) stats.retries++;
    try {
      const r = await c.socket.timeout(3000).emitWithAck("msg", { id, text: `hello from ${c.i}` });
      if (r && r.ok) { m.acked = true; return; }
    } catch (e) { /* no ack in time: the instance may be gone */ }
    stats.ack_failures++;
  }
}

// Deliveries owed for the messages of <phase>, per the rule at the top.
function owed(phase, endSeq) {
  const byRoom = new Map();
  for (const c of clients) {
    if (!byRoom.has(c.room)) byRoom.set(c.room, []);
    byRoom.get(c.room).push(c);
  }
  let expected = 0, missing = 0;
  const samples = [];
  for (const [id, m] of messages) {
    if (m.phase !== phase || !m.acked) continue;
    for (const c of byRoom.get(m.room)) {
      const stayed = c.intervals.some((iv) => iv.from < m.firstSent && (iv.to === null || iv.to > endSeq));
      if (!stayed) continue;
      expected++;
      if (!c.received.has(id)) {
        missing++;
        if (samples.length < 10) samples.push({ id, to: c.i, on: c.instance });
      }
    }
  }
  return { expected, missing, samples };
}

async function settle(phase) {
  const end = tick();
  await until(`phase ${phase} deliveries`, () => owed(phase, end).missing === 0, 15000).catch(() => {});
  const o = owed(phase, end);
  const ms = [...messages.values()].filter((m) => m.phase === phase);
  return { messages: ms.length, acked: ms.filter((m) => m.acked).length, deliveries_expected: o.expected,
    deliveries_missing: o.missing, missing_samples: o.samples };
}

function byInstance(list, key = "instance") {
  const r = {};
  for (const c of list) r[c[key]] = (r[c[key]] || 0) + 1;
  return r;
}

async function post(room, i) {
  const res = await fetch(`${opt.api}/api/rooms/${room}/messages`, { method: "POST",
    headers: { "content-type": "application/json" }, body: JSON.stringify({ id: `api-${room}`, text: "from the REST tier" }) });
  if (res.status !== 201) throw new Error(`POST ${room}: HTTP ${res.status}`);
  return res.headers.get("x-instance");
}

async function main() {
  const lines = [];
  if (opt.control) readline.createInterface({ input: process.stdin }).on("line", (l) => lines.push(l.trim()));
  const report = { event: "report", clients: opt.clients, rooms: opt.rooms, phases: {} };

  // 1. Connect, join, upgrade; one message each.
  for (let i = 0; i < opt.clients; i++) {
    clients.push(newClient(i));
    if (i % 20 === 19) await sleep(50); // not all 200 handshakes in one instant
  }
  await until("every client joined over WebSocket", () => clients.every(ready), 60000);
  report.initial_by_instance = byInstance(clients);
  report.upgraded_on_same_instance = clients.filter((c) => c.wsInstance === c.instance).length;
  out({ event: "joined", by_instance: report.initial_by_instance });
  await Promise.all(clients.map((c) => send(c, 1)));
  report.phases["1"] = await settle(1);
  out({ event: "phase", phase: 1, ...report.phases["1"] });

  // 2. Traffic while the test kills and replaces a chat instance.
  let sending = true;
  const loops = clients.map(async (c, k) => {
    await sleep((k * opt.every) / clients.length); // spread over one period
    while (sending && Date.now() < deadline) {
      await send(c, 2);
      await sleep(opt.every);
    }
  });
  out({ event: "sending" });
  if (opt.control) await until("\"replaced\" on stdin", () => lines.includes("replaced"), opt.max_seconds * 1000);
  else await sleep(5 * opt.every);
  // Everyone back in its room over WebSocket, and two more rounds after it.
  await until("every client back over WebSocket", () => clients.every(ready), 30000);
  await sleep(2 * opt.every);
  sending = false;
  await Promise.all(loops);
  report.phases["2"] = await settle(2);
  report.after_by_instance = byInstance(clients);
  out({ event: "phase", phase: 2, ...report.phases["2"] });

  // 3. Newcomers spread over the instances (the replaced one too); one
  // message each, and one per room through the REST tier.
  const late = [];
  for (let i = 0; i < opt.late; i++) late.push(newClient(opt.clients + i));
  clients.push(...late);
  await until("the late clients joined over WebSocket", () => late.every(ready), 30000);
  report.late_by_instance = byInstance(late);
  await Promise.all(clients.map((c) => send(c, 3)));
  if (opt.api) {
    const via = {};
    for (let r = 0; r < opt.rooms; r++) {
      const before = tick();
      const inst = await post(`room-${r}`, r);
      via[inst] = (via[inst] || 0) + 1;
      messages.set(`api-room-${r}`, { room: `room-${r}`, firstSent: before, attempts: 1, acked: true, phase: 3 });
    }
    report.api_by_instance = via;
  }
  report.phases["3"] = await settle(3);
  out({ event: "phase", phase: 3, ...report.phases["3"] });

  report.connect_errors = stats.connect_errors.length;
  report.connect_error_samples = stats.connect_errors.slice(0, 10);
  report.disconnects_by_instance = stats.disconnects;
  report.ack_failures = stats.ack_failures;
  report.retries = stats.retries;
  report.duplicates = stats.duplicates;
  report.unacked = [...messages.values()].filter((m) => !m.acked).length;
  report.not_ready_at_end = clients.filter((c) => !ready(c)).length;
  report.messages = messages.size;
  out(report);
  for (const c of clients) c.socket.close();
}

main().then(() => process.exit(0), (e) => {
  out({ event: "error", error: e.message, not_ready: clients.filter((c) => !ready(c)).map((c) => c.i).slice(0, 20),
    connect_errors: stats.connect_errors.slice(0, 10) });
  process.exit(1);
});

// The chat example's two tiers, one file:
//   node server.js chat   the socket.io chat (page, /socket.io), behind the lb's chat port
//   node server.js api    the REST tier (/api/...), behind the lb's api port
// Both join the same socket.io Redis adapter, so a message sent through any
// chat instance, or posted to any api instance, reaches the room's members
// on every chat instance. Redis also keeps each room's last messages.
// berth gives each instance its port as PORT and its name as BERTH_INSTANCE;
// REDIS_URL comes from the catalog (${endpoint:redis}, compose.yaml).
"use strict";
const http = require("http");
const path = require("path");
const express = require("express");
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

const role = process.argv[2] || "chat";
const port = Number(process.env.PORT || 3000);
const instance = process.env.BERTH_INSTANCE || `${role}.local`;
const redisUrl = process.env.REDIS_URL || "redis://127.0.0.1:6379";
const HISTORY = 50; // messages kept per room

function log(...a) {
  console.log(new Date().toISOString(), instance, ...a);
}

function roomName(r) {
  return typeof r === "string" && /^[\w-]{1,64}$/.test(r) ? r : null;
}

async function main() {
  const pub = createClient({ url: redisUrl });
  const sub = pub.duplicate();
  const store = pub.duplicate();
  for (const c of [pub, sub, store]) c.on("error", (e) => log("redis:", e.message));
  await Promise.all([pub.connect(), sub.connect(), store.connect()]);

  const app = express();
  const server = http.createServer(app);
  // Long polling first, then the upgrade to WebSocket: the polling requests
  // of one session must all reach this instance (the lb's cookie does it).
  const io = new Server(role === "chat" ? server : undefined, {
    adapter: createAdapter(pub, sub),
    pingInterval: 10000,
    pingTimeout: 5000,
  });

  async function remember(room, msg) {
    await store.multi().lPush(`chat:${room}`, JSON.stringify(msg)).lTrim(`chat:${room}`, 0, HISTORY - 1).exec();
  }

  app.get("/healthz", (req, res) => res.json({ ok: true, instance }));
  // What this instance sees of the request: the lb strips its own cookie
  // (indirect), so `cookie` never holds it.
  app.get(["/whoami", "/api/whoami"], (req, res) =>
    res.json({ instance, cookie: req.headers.cookie || null, forwarded_for: req.headers["x-forwarded-for"] || null }));

  if (role === "chat") {
    app.use(express.static(path.join(__dirname, "public")));
    io.on("connection", (socket) => {
      socket.data.name = "anonymous";
      socket.on("whoami", (ack) => typeof ack === "function" && ack({ instance, transport: socket.conn.transport.name }));
      socket.on("join", async (req, ack) => {
        const room = roomName(req && req.room);
        if (!room || typeof ack !== "function") return typeof ack === "function" && ack({ error: "bad room" });
        for (const r of socket.rooms) if (r !== socket.id) socket.leave(r);
        socket.data.name = String((req && req.name) || "anonymous").slice(0, 64);
        socket.data.room = room;
        socket.join(room);
        const history = (await store.lRange(`chat:${room}`, 0, 19)).map((m) => JSON.parse(m)).reverse();
        ack({ instance, room, history });
      });
      socket.on("msg", async (req, ack) => {
        const room = socket.data.room;
        if (!room || !req || typeof req.text !== "string") return typeof ack === "function" && ack({ error: "join a room first" });
        const msg = { id: String(req.id || ""), room, from: socket.data.name, text: req.text.slice(0, 2000), via: instance, at: Date.now() };
        io.to(room).emit("msg", msg);
        await remember(room, msg);
        if (typeof ack === "function") ack({ ok: true, instance });
      });
    });
  } else {
    app.use(express.json({ limit: "16kb" }));
    app.use("/api", (req, res, next) => {
      res.set("X-Instance", instance);
      next();
    });
    app.get("/api/rooms/:room/messages", async (req, res) => {
      const room = roomName(req.params.room);
      if (!room) return res.status(400).json({ error: "bad room" });
      const msgs = (await store.lRange(`chat:${room}`, 0, HISTORY - 1)).map((m) => JSON.parse(m)).reverse();
      res.json({ instance, room, messages: msgs });
    });
    // Post into a room from outside the chat: every member, on every chat
    // instance, gets it through the Redis adapter.
    app.post("/api/rooms/:room/messages", async (req, res) => {
      const room = roomName(req.params.room);
      const b = req.body || {};
      if (!room || typeof b.text !== "string") return res.status(400).json({ error: "need a room and {text}" });
      const msg = { id: String(b.id || ""), room, from: String(b.from || "api").slice(0, 64), text: b.text.slice(0, 2000), via: instance, at: Date.now() };
      io.to(room).emit("msg", msg);
      await remember(room, msg);
      res.status(201).json({ ok: true, instance, message: msg });
    });
  }

  server.listen(port, () => log(`${role} listening on :${port}, redis ${redisUrl}`));
  const stop = () => {
    log("stopping");
    io.close();
    server.close(() => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((e) => {
  log("fatal:", e.message);
  process.exit(1);
});

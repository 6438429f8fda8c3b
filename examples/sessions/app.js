// An Express app whose sessions live in Redis (express-session on
// connect-redis): any instance serves any session, and a session outlives
// every instance. Each instance appends an access log line per request to
// logs/<instance>.access.log (berth ships it: x-berth.logs in compose.yaml).
//   GET  /            counts the session's visits
//   POST /login?user=NAME, GET /me, POST /logout
"use strict";
const fs = require("fs");
const path = require("path");
const express = require("express");
const session = require("express-session");
const { RedisStore } = require("connect-redis");
const { createClient } = require("redis");

const instance = process.env.BERTH_INSTANCE || "app.0";
fs.mkdirSync(path.join(__dirname, "logs"), { recursive: true });
const access = fs.createWriteStream(path.join(__dirname, "logs", `${instance}.access.log`), { flags: "a" });

const redis = createClient({ url: process.env.REDIS_URL || "redis://127.0.0.1:6379" });
redis.on("error", (e) => console.error(`${instance} redis: ${e.message}`));

const app = express();
app.set("trust proxy", true); // X-Forwarded-For from berth lb
app.use((req, res, next) => {
  const t0 = process.hrtime.bigint();
  res.set("X-Served-By", instance);
  res.on("finish", () => {
    // The combined log format, plus the instance and the time taken.
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    access.write(`${req.ip} - ${(req.session && req.session.user) || "-"} [${new Date().toISOString()}] ` +
      `"${req.method} ${req.originalUrl} HTTP/${req.httpVersion}" ${res.statusCode} ${res.get("content-length") || 0} ` +
      `"${req.get("referer") || "-"}" "${req.get("user-agent") || "-"}" ${instance} ${ms.toFixed(1)}ms\n`);
  });
  next();
});
app.get("/healthz", (req, res) => res.json({ ok: true, instance, redis: redis.isReady }));
app.use(session({
  store: new RedisStore({ client: redis, prefix: "sess:" }),
  secret: process.env.SESSION_SECRET || "berth example secret",
  resave: false,
  saveUninitialized: false,
  cookie: { httpOnly: true, sameSite: "lax", maxAge: 24 * 3600 * 1000 },
}));
app.get("/", (req, res) => {
  req.session.views = (req.session.views || 0) + 1;
  res.json({ instance, views: req.session.views, user: req.session.user || null });
});
app.post("/login", (req, res) => {
  const user = String(req.query.user || "").slice(0, 64);
  if (!user) return res.status(400).json({ error: "POST /login?user=NAME" });
  req.session.regenerate((err) => {
    if (err) return res.status(500).json({ error: err.message });
    req.session.user = user;
    req.session.since = new Date().toISOString();
    req.session.loginVia = instance;
    res.json({ instance, user });
  });
});
app.get("/me", (req, res) => {
  if (!req.session.user) return res.status(401).json({ instance, error: "not logged in" });
  res.json({ instance, user: req.session.user, since: req.session.since, login_via: req.session.loginVia,
    views: req.session.views || 0 });
});
app.post("/logout", (req, res) => req.session.destroy(() => res.json({ instance, ok: true })));

redis.connect().then(() => {
  const server = app.listen(Number(process.env.PORT || 3000), process.env.BERTH_ADDR || "127.0.0.1",
    () => console.log(`${instance} listening on :${server.address().port}`));
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
}, (e) => {
  console.error(`${instance}: cannot reach Redis: ${e.message}`);
  process.exit(1);
});

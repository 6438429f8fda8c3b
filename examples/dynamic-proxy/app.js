// The app behind the proxy: a plain Node.js HTTP server (no dependencies)
// on the port berth gives it ($PORT), answering with its instance name.
"use strict";
const http = require("http");

const instance = process.env.BERTH_INSTANCE || "app.0";
const server = http.createServer((req, res) => {
  res.setHeader("X-Served-By", instance);
  res.setHeader("Content-Type", "application/json");
  if (req.url === "/healthz") return res.end('{"ok":true}\n');
  // A little work per request, so least_conn has something to balance.
  setTimeout(() => res.end(JSON.stringify({ instance, path: req.url }) + "\n"), 5);
});
server.keepAliveTimeout = 5000;
server.listen(Number(process.env.PORT || 3000), process.env.BERTH_ADDR || "127.0.0.1", () =>
  console.log(`${instance} listening on :${server.address().port}`));
process.on("SIGTERM", () => {
  console.log(`${instance} stopping`);
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 3000).unref();
});

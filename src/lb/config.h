/* berth lb configuration: the YAML file (DESIGN.md section 5) loaded into an
 * immutable snapshot. A reload builds a whole new snapshot, then swaps it. */
#ifndef BERTH_LB_CONFIG_H
#define BERTH_LB_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

enum lb_mode {
	LB_MODE_HTTP = 0, /* HTTP/1.1 proxy (the default) */
	LB_MODE_TCP,      /* byte pipe */
};

enum lb_algo {
	LB_ALGO_ROUNDROBIN = 0, /* smooth weighted round-robin (the default) */
	LB_ALGO_LEASTCONN,
	LB_ALGO_SOURCE,         /* consistent hash of the client address */
	LB_ALGO_RANDOM,         /* power of two choices */
	LB_ALGO_HASH_URI,       /* consistent hash of the path + query */
	LB_ALGO_HASH_HEADER,    /* ... of a request header's value (hash_key) */
	LB_ALGO_HASH_COOKIE,    /* ... of a request cookie's value (hash_key) */
};

enum lb_sticky_mode {
	LB_STICKY_NONE = 0,
	LB_STICKY_INSERT, /* the proxy sets its own cookie naming the server */
	LB_STICKY_APP,    /* learn the server from a cookie the app sets */
};

enum lb_check_type {
	LB_CHECK_NONE = 0,
	LB_CHECK_TCP,  /* connect succeeds */
	LB_CHECK_HTTP, /* GET <path> answers the expected status */
};

/* All in milliseconds; 0 in a frontend/backend means "not set here". */
struct lb_timeouts {
	uint64_t connect;      /* server connect; default 5s */
	uint64_t client;       /* client inactivity; default 30s */
	uint64_t server;       /* server inactivity; default 30s */
	uint64_t http_request; /* whole request head; default 10s */
	uint64_t keep_alive;   /* idle client between requests; default 5s */
	uint64_t tunnel;       /* idle WebSocket/TCP tunnel; default 1h */
	uint64_t queue;        /* wait for a server slot; default 5s */
};

struct lb_addr {
	char *text;                 /* as written ("127.0.0.1:8080", "[::1]:80") */
	struct sockaddr_storage sa; /* resolved, numeric only */
	socklen_t salen;
};

struct lb_server_cfg {
	char *name;          /* unique within its backend */
	struct lb_addr addr;
	int weight;          /* 0..256, default 1; 0 takes no new traffic */
	int maxconn;         /* 0 = unlimited */
	bool backup;         /* used only when no active server is up */
	char *cookie;        /* value of the insert-stickiness cookie; default: name */
};

struct lb_check_cfg {
	enum lb_check_type type;
	char *path;          /* LB_CHECK_HTTP: request path, default "/" */
	char *host;          /* Host header for the check, default the server address */
	int expect_status;   /* 0 = any 2xx or 3xx */
	uint64_t interval;   /* ms, default 2000 */
	uint64_t timeout;    /* ms, default min(interval, connect timeout) */
	int rise;            /* consecutive successes to go up, default 2 */
	int fall;            /* consecutive failures to go down, default 3 */
};

struct lb_sticky_cfg {
	enum lb_sticky_mode mode;
	char *cookie;        /* INSERT: cookie name */
	bool indirect;       /* INSERT: strip our cookie before the server sees it */
	bool nocache;        /* INSERT: add "Cache-Control: private" when setting it */
	bool postonly;       /* INSERT: set the cookie only on responses to POST */
	char *domain;        /* INSERT: Domain= attribute, optional */
	char *app_cookie;    /* APP: the app's cookie name, e.g. connect.sid */
	uint64_t app_ttl;    /* APP: forget a learned value after this idle ms, default 1h */
};

/* Servers from the agent's catalog instead of a list (DESIGN.md 5): the
 * healthy endpoints of one service, followed by blocking queries. */
struct lb_catalog_src {
	char *service;       /* the service whose instances are the servers */
	char *stack;         /* NULL: the lb's own stack (catalog.stack) */
	char *tag;           /* only endpoints with this tag; NULL: all */
	int port;            /* the container port to send to (its published port); 0: the first */
	int weight;          /* every server's weight, default 1 */
	int maxconn;         /* every server's maxconn, 0 = unlimited */
};

struct lb_backend_cfg {
	char *name;
	enum lb_algo algo;
	char *hash_key;      /* header or cookie name for HASH_HEADER / HASH_COOKIE */
	struct lb_sticky_cfg sticky;
	struct lb_timeouts to;
	struct lb_check_cfg check;
	int retries;         /* extra attempts after a failed connect, default 2 */
	bool redispatch;     /* retry on another server, default true */
	int queue_max;       /* requests allowed to wait for a slot, default 1024 */
	struct lb_server_cfg *servers;
	int nservers;
	struct lb_catalog_src *catalog; /* non-NULL: servers come from the catalog (servers empty) */
};

struct lb_rule_cfg {
	char *host;          /* exact host (port ignored) or "*.example.com"; NULL = any */
	char *path;          /* path prefix; NULL = any */
	char *backend;       /* backend name */
	int backend_idx;     /* index into lb_config.bes, resolved at load */
};

struct lb_tls_cfg {
	char **certs;        /* PEM files, each holding a certificate chain and its key */
	int ncerts;          /* 0 = no TLS on this frontend */
};

struct lb_frontend_cfg {
	char *name;
	struct lb_addr *binds;
	int nbinds;
	enum lb_mode mode;
	struct lb_timeouts to;
	struct lb_rule_cfg *rules; /* first match wins */
	int nrules;
	char *default_backend;     /* may be NULL if every request matches a rule */
	int default_idx;           /* -1 when no default backend */
	struct lb_tls_cfg tls;
	int maxconn;               /* concurrent client connections, 0 = unlimited */
};

struct lb_stats_cfg {
	bool enabled;
	struct lb_addr bind;
	char *user;          /* basic auth; NULL = open */
	char *pass;
};

/* Where catalog-fed backends read the catalog: the agent's API. */
struct lb_catalog_cfg {
	char *socket;        /* unix socket of the agent (DATA_DIR/berth.sock) */
	char *addr;          /* or HOST:PORT over TCP ... */
	char *token_file;    /* ... with this bearer token */
	char *stack;         /* default stack of servers: {service: ...} */
};

struct lb_config {
	char *path;          /* file it was loaded from */
	struct lb_catalog_cfg catalog;
	int threads;         /* worker threads; default: number of cores */
	uint64_t grace;      /* ms SIGTERM waits for in-flight requests; default 10s */
	struct lb_stats_cfg stats;
	struct lb_frontend_cfg *fes;
	int nfes;
	struct lb_backend_cfg *bes;
	int nbes;
};

/* Loads and validates <path>. On success returns 0 and a new snapshot in
 * *out (free with lb_config_free). On failure returns -1 and *err holds one
 * message "FILE:LINE:COL: what was wrong, what was expected" (heap; the
 * caller frees it); nothing is half-built. */
int lb_config_load(const char *path, struct lb_config **out, char **err);
void lb_config_free(struct lb_config *c);

/* Index of the backend named <name>, or -1. */
int lb_config_backend_index(const struct lb_config *c, const char *name);

#endif

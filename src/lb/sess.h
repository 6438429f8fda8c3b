/* Private to src/lb/: a client session (HTTP or TCP mode). */
#ifndef BERTH_LB_SESS_H
#define BERTH_LB_SESS_H

#include <netinet/in.h>

#include "lb/lb-int.h"

enum lb_sess_state {
	LB_S_HEAD = 0, /* reading a request head (or idle between requests) */
	LB_S_QUEUED,   /* waiting for a server slot */
	LB_S_CONNECT,  /* connecting to a server */
	LB_S_REQ,      /* request going out, response coming back */
	LB_S_TUNNEL,   /* WebSocket after 101, or TCP mode: bytes both ways */
	LB_S_DONE,     /* answered with an error; closing */
};

struct lb_sess {
	struct lb_sess *next, *prev;  /* worker's session list */
	struct lb_worker *w;
	struct lb_world *world;       /* ref held: the config this session lives by */
	int fe_idx;
	const struct lb_frontend_cfg *fc;
	struct lb_frontend *fe;
	uv_tcp_t cli;
	uv_timer_t timer;             /* one timer, meaning set by the state */
	uint64_t deadline;            /* loop ms when the current timeout expires */
	uint64_t armed;               /* loop ms the uv timer fires at (0: not armed) */
	int handles;                  /* open handles; freed when the last closes */
	enum lb_sess_state state;
	bool tcp_mode;

	struct buf in;                /* client bytes not yet used (plaintext) */
	struct buf req;               /* request head (+ body if small) as sent: replayable */
	struct buf resp;              /* rewritten response head */
	struct buf tlsout;            /* TLS bytes to send */
	struct lb_tls_conn *tls;      /* NULL on clear connections */

	/* current request */
	enum http1_method method;
	enum http1_body rbody;
	uint64_t rleft;               /* LENGTH: body bytes still to forward */
	struct http1_chunked rchunk;
	uint64_t hash;                /* balancing key */
	int nreqs;                    /* requests seen on this connection */
	int attempts;                 /* retries used for this request */
	bool head_started;            /* http-request timer is running for a head */
	bool req_done;                /* whole request forwarded or buffered in req */
	bool req_replayable;          /* req holds the whole request */
	bool sent_nothing;            /* the last failure happened before sending */
	bool client_keepalive;
	bool client_http10;
	bool upgrade;                 /* the request asked for an Upgrade */

	/* server side */
	struct lb_backend *be;        /* borrowed from world */
	const struct lb_backend_cfg *bc;
	struct lb_server *srv;        /* slot + ref held while assigned */
	struct lb_server *pinned;     /* stickiness target, ref held */
	const struct lb_server *avoid; /* failed server, for redispatch (not dereferenced) */
	struct lb_srvconn *sc;
	struct lb_waiter waiter;
	bool zombie;                  /* closed while a queue hand-off is in flight */

	/* response */
	int status;
	enum http1_body sbody;
	uint64_t sleft;
	struct http1_chunked schunk;
	bool resp_head_done;
	bool resp_started;            /* bytes went to the client for this request */
	bool srv_keepalive;

	/* stickiness */
	bool set_cookie;              /* insert mode: the response may carry our cookie */
	bool had_cookie;              /* the client sent a cookie naming a known server */
	char learn_value[256];        /* app mode: the app cookie the client sent */
	size_t learn_value_len;

	/* flow */
	bool cli_reading;             /* uv_read_start in effect on the client */
	bool cli_paused, srv_paused;
	bool cli_eof, srv_eof;
	bool closing, close_after_write, tls_failed;
	uint64_t last_activity;       /* loop ms, for the tunnel timeout */
	uint64_t tunnel_timeout;
	char client_ip[48];
	int local_port;
};

struct lb_sess *lb__sess_accept(struct lb_worker *w, struct lb_listener *l);
void lb__sess_close(struct lb_sess *s);
void lb__sess_timer(struct lb_sess *s, uint64_t ms);
void lb__sess_cli_resume(struct lb_sess *s);
int lb__sess_cli_send(struct lb_sess *s, const uv_buf_t *bufs, unsigned n);
void lb__free_shutdown(uv_shutdown_t *req, int status);

#endif

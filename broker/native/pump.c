// The data phase in C, for Linux: after login the broker hands the two plain sockets of a
// connection to this pump, which moves bytes between them on a thread of its own (epoll,
// read, write; one such thread per CPU, up to four, each with its share of the
// connections) until both sides are done. It exists because a Node.js pipe spends most
// of its user-space time per message in Node's socket layer (libuv -> C++ -> JS and
// back, per read and per write); here a message costs one read and one write call.
//
// HTTP pairs (addHttp) are the http connector's reverse-proxy connections: this thread
// also rewrites their plain request heads and follows the answers' framing; see "the
// HTTP lane" below.
//
// Contract with broker/net/native-pump.ts (the only caller):
//  - add(clientFd, targetFd, filterKind, jsIdle, toTarget, toClient) -> id. The fds stay
//    the JS sockets': JS has stopped reading them and closes them only after 'done', so
//    no fd number can be reused under this thread. Ending a connection here is a
//    shutdown(). add() also takes the fds out of libuv's epoll set: after readStop libuv
//    leaves them registered until an event finds no watcher, a wasted wakeup of the
//    main thread per socket.
//  - Events go to the callback given to init(): (id, 'done', fromClient, toClient),
//    (id, 'filter', bytes): a client->target read the C precheck could not pass; that
//    direction stops reading until inject(id, bytes, jsIdle) gives the bytes to send.
//  - close(id): shut both sides down now (the broker aborted the connection).
//  - addHttp(...) -> id, httpHead(id, head), httpReason(status, text): the HTTP lane;
//    its events are 'records' (audit records, batched), 'back' (the connection is JS's
//    again: the fds are out of this thread's epoll set and untouched) and 'head'.
// The filter prechecks are conservative: they pass a read only when the JS filter would
// forward it unchanged and stay at a message boundary (jsIdle); anything else goes to JS.
#define _GNU_SOURCE // sched_getaffinity, CPU_COUNT
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>

#include "http-wire.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { F_NONE = 0, F_REDIS = 1, F_MYSQL = 2 };
enum { EV_DONE = 1, EV_FILTER = 2, EV_RECORDS = 3, EV_BACK = 4, EV_HEAD = 5 };
enum { CMD_ADD = 1, CMD_CLOSE = 2, CMD_INJECT = 3, CMD_HEAD = 4 };

#define READ_BYTES (256 * 1024)
#define LINGER_MS 5000

typedef struct buf {
  char *data;
  size_t len, off;
} buf_t;

typedef struct dir {
  int from, to;
  buf_t pending; // bytes `to` has not taken yet (a copy of what a write left)
  int eof;       // `from` is done (EOF or error)
  int shut;      // `to` was shut down for writing
  int withJs;    // a read of this direction is with the JS filter
  uint64_t bytes;
} dir_t;

struct pair;
typedef struct side {
  struct pair *p;
  int idx;     // 0 client, 1 target
  uint32_t ev; // events registered with epoll
} side_t;

struct http;

typedef struct pair {
  uint32_t id;
  int fd[2];
  dir_t d[2]; // d[0] client -> target, d[1] target -> client
  side_t side[2];
  int filter, jsIdle;
  int64_t lingerUntil; // ms; 0: not lingering
  int dead;
  struct http *h; // an HTTP pair (the HTTP lane below); NULL: bytes only
  struct pair *next, *prev;
} pair_t;

typedef struct cmd {
  int type;
  uint32_t id;
  pair_t *pair;
  char *data;
  size_t len;
  int jsIdle;
  struct cmd *next;
} cmd_t;

typedef struct event {
  int type;
  uint32_t id;
  uint64_t a, b;
  char *data;
  size_t len;
} event_t;

// One worker per CPU (at most MAX_WORKERS), as haproxy runs one thread per CPU: a pair
// lives on worker id % nWorkers from add() to done. What a worker's thread alone touches
// is thread-local below; what JS posts to it is here.
#define MAX_WORKERS 4
typedef struct worker {
  int epfd, wakefd;
  pthread_t thread;
  pthread_mutex_t lock;
  cmd_t *cmdHead, *cmdTail;
  char *readBuf;
} worker_t;
static worker_t workers[MAX_WORKERS];
static int nWorkers;
static napi_threadsafe_function tsfn;
static uint32_t nextId;
static __thread worker_t *self;  // this thread's worker
static __thread pair_t *pairs;   // its pairs
static __thread int lingering;   // how many of them linger
static __thread char *readBuf;   // READ_BYTES shared by its pairs: only a write's leftover is copied

static int64_t nowMs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void flushRecords(void);

// Events of one worker reach JS in order; a connection's audit records before its end.
static void emit(int type, uint32_t id, uint64_t a, uint64_t b, char *data, size_t len) {
  if (type != EV_RECORDS) flushRecords();
  event_t *e = malloc(sizeof *e);
  if (!e) return;
  *e = (event_t){type, id, a, b, data, len};
  if (napi_call_threadsafe_function(tsfn, e, napi_tsfn_blocking) != napi_ok) {
    free(e->data);
    free(e);
  }
}

// --- filter prechecks --------------------------------------------------------------

// A `*N\r\n` / `$N\r\n` header at i with plain digits (no sign, no leading zero): its
// value, with *end at the byte after the LF; -1 when not whole or not in this form.
static long header(const unsigned char *b, size_t i, size_t n, size_t *end) {
  size_t j = i + 1;
  long v = 0;
  while (j < n && b[j] >= '0' && b[j] <= '9' && j - i <= 9) v = v * 10 + (b[j++] - '0');
  size_t digits = j - i - 1;
  if (digits < 1 || digits > 9 || (digits > 1 && b[i + 1] == '0')) return -1;
  if (j + 1 >= n || b[j] != '\r' || b[j + 1] != '\n') return -1;
  *end = j + 2;
  return v;
}

static int lower(unsigned char c) { return c | 0x20; }

// Whether the read is whole multibulk commands, none AUTH or HELLO (the JS scanner's plainCommandsEnd == n).
static int redisPlain(const unsigned char *b, size_t n) {
  size_t i = 0;
  while (i < n) {
    size_t at;
    if (b[i] != '*') return 0;
    long count = header(b, i, n, &at);
    if (count <= 0) return 0;
    i = at;
    for (long k = 0; k < count; k++) {
      if (i >= n || b[i] != '$') return 0;
      long len = header(b, i, n, &at);
      if (len < 0 || len > 512L * 1024 * 1024) return 0;
      if (at + (size_t)len + 2 > n) return 0;
      if (k == 0 && len == 4 && lower(b[at]) == 'a' && lower(b[at + 1]) == 'u' && lower(b[at + 2]) == 't' && lower(b[at + 3]) == 'h') return 0;
      if (k == 0 && len == 5 && lower(b[at]) == 'h' && lower(b[at + 1]) == 'e' && lower(b[at + 2]) == 'l' && lower(b[at + 3]) == 'l' &&
          lower(b[at + 4]) == 'o')
        return 0;
      if (b[at + len] != '\r' || b[at + len + 1] != '\n') return 0;
      i = at + (size_t)len + 2;
    }
  }
  return 1;
}

// Whether the read is whole command packets (sequence 0, 0 < length < 0xffffff), none
// COM_CHANGE_USER (0x11): what the JS command filter forwards as it is.
static int mysqlPlain(const unsigned char *b, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (n - i < 5) return 0;
    size_t len = b[i] | (b[i + 1] << 8) | ((size_t)b[i + 2] << 16);
    if (b[i + 3] != 0 || len == 0 || len >= 0xffffff || b[i + 4] == 0x11) return 0;
    if (n - i - 4 < len) return 0;
    i += 4 + len;
  }
  return 1;
}

// --- the pump ----------------------------------------------------------------------

// An fd is in the epoll set only while something is wanted of it: epoll reports a hung-up
// socket even with no events asked for, which would spin while its reads must wait.
static int mayRead(const pair_t *p, int idx);

static void watch(pair_t *p, int idx) {
  side_t *s = &p->side[idx];
  dir_t *out = &p->d[idx], *in = &p->d[1 - idx]; // out reads from this fd, in writes to it
  uint32_t ev = 0;
  // Reads wait while their own write holds bytes, or while JS has the last one.
  if (!out->eof && !out->withJs && out->pending.len == 0 && mayRead(p, idx)) ev |= EPOLLIN;
  if (in->pending.len) ev |= EPOLLOUT;
  if (ev == s->ev) return;
  struct epoll_event e = {.events = ev, .data.ptr = s};
  if (!ev) epoll_ctl(self->epfd, EPOLL_CTL_DEL, p->fd[idx], NULL);
  else epoll_ctl(self->epfd, s->ev ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, p->fd[idx], &e);
  s->ev = ev;
}

static __thread pair_t *dead;    // finished this turn: freed after the turn's events
static __thread int httpPairs;     // this worker's HTTP pairs (they need the 1 s tick)

// Out of this worker's list, onto the dead list.
static void unlink_(pair_t *p) {
  p->dead = 1;
  if (p->lingerUntil) lingering--;
  if (p->h) httpPairs--;
  if (p->prev) p->prev->next = p->next;
  else pairs = p->next;
  if (p->next) p->next->prev = p->prev;
  p->next = dead;
  dead = p;
}

static uint64_t httpToClient(const pair_t *p);

static void finish(pair_t *p) {
  if (p->dead) return;
  for (int i = 0; i < 2; i++) {
    if (p->side[i].ev) epoll_ctl(self->epfd, EPOLL_CTL_DEL, p->fd[i], NULL);
    shutdown(p->fd[i], SHUT_RDWR);
    free(p->d[i].pending.data);
    p->d[i].pending = (buf_t){0};
  }
  unlink_(p);
  // The bytes read from the client, and those written to it (an HTTP pair rewrites heads).
  emit(EV_DONE, p->id, p->d[0].bytes, p->h ? httpToClient(p) : p->d[1].bytes, NULL, 0);
}

// After `from` ended and its bytes are all written: `to` gets a FIN; the pair is done
// when both directions are, or LINGER_MS after the first (as the JS pipe does).
static int endDir(pair_t *p, int di) {
  dir_t *d = &p->d[di];
  if (!d->shut && d->pending.len == 0) {
    shutdown(d->to, SHUT_WR);
    d->shut = 1;
  }
  if (p->d[0].eof && p->d[1].eof && p->d[0].shut && p->d[1].shut) {
    finish(p);
    return 1;
  }
  if (!p->lingerUntil) {
    p->lingerUntil = nowMs() + LINGER_MS;
    lingering++;
  }
  return 0;
}

static int append(buf_t *b, const char *data, size_t len) {
  size_t keep = b->len - b->off;
  char *n = malloc(keep + len);
  if (!n) return -1;
  if (keep) memcpy(n, b->data + b->off, keep);
  memcpy(n + keep, data, len);
  free(b->data);
  b->data = n;
  b->len = keep + len;
  b->off = 0;
  return 0;
}

static void countToClient(pair_t *p, size_t len);

// Writes what it can now and keeps a copy of the rest; -1 when the connection failed.
static int send_(pair_t *p, int di, const char *data, size_t len) {
  dir_t *d = &p->d[di];
  if (di == 1) countToClient(p, len);
  if (d->pending.len) return append(&d->pending, data, len);
  while (len) {
    ssize_t w = send(d->to, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return append(&d->pending, data, len);
      return -1;
    }
    data += w;
    len -= (size_t)w;
  }
  return 0;
}

static int flush(pair_t *p, int di) {
  buf_t *b = &p->d[di].pending;
  while (b->off < b->len) {
    ssize_t w = send(p->d[di].to, b->data + b->off, b->len - b->off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
      return -1;
    }
    b->off += (size_t)w;
  }
  free(b->data);
  *b = (buf_t){0};
  return 0;
}

// --- the HTTP lane ------------------------------------------------------------------
//
// A reverse-proxy connection of the http connector (fast-lane.ts) after its first
// request: the client socket and a kept-alive plain-http upstream socket, one request at
// a time. Each plain request head (http-wire.c decides) is rewritten here (the client's
// credentials and hop-by-hop fields out, Host and the broker's credential in) and its
// body and answer pass through, framing followed only to find where each ends. Anything
// else goes back to JS at a request boundary with the bytes it has not used (BACK_*),
// and JS carries on as if it had read them: a head it must read itself, a credential
// past its validity, an upstream that closed or answered 401/403, a client idle for 5 s.
// An answer with a Location goes to JS for its head (EV_HEAD; JS maps the URL) and the
// body continues here. One audit record per request goes to JS in batches (EV_RECORDS).

enum { C_HEAD = 0, C_BODY, C_WAIT };         // the client side: reading a head, a body, or waiting for the answer
enum { U_IDLE = 0, U_HEAD, U_BODY, U_JS };   // the upstream side: nothing asked, reading a head, a body; JS has the head
// Why a connection goes back to JS; fast-lane.ts reads these numbers.
enum {
  BACK_REQUEST = 1,    // a request head C does not take (or an incomplete one): JS reads it
  BACK_CREDENTIALS,    // the credential's validity ended: JS resolves it again
  BACK_REJECTED,       // the upstream answered 401/403: JS drops the cached credential
  BACK_UPSTREAM_SPENT, // the upstream will close after this answer
  BACK_UPSTREAM_GONE,  // the idle upstream closed (or sent bytes nobody asked for)
  BACK_IDLE,           // the client was idle for CLIENT_IDLE_MS: JS closes it
  BACK_CLIENT_EOF,     // the client closed between requests
  BACK_RETRY,          // the kept-alive upstream closed before answering: JS sends the request again
  BACK_FAIL_CLOSED,    // the upstream closed before a whole answer head: JS answers 502
  BACK_FAIL_RESET,     // the same, with a reset
  BACK_FAIL_INVALID,   // the answer head was malformed: 502
  BACK_FAIL_TIMEOUT,   // no answer within ANSWER_TIMEOUT_MS: 504
};
enum { OUT_OK = 0, OUT_REJECTED = 1, OUT_PROTOCOL = 2 };

#define CLIENT_IDLE_MS 5000
#define ANSWER_TIMEOUT_MS 300000
#define RECORDS_DELAY_MS 20
#define RECORDS_MAX (64 * 1024)

typedef struct http {
  hw_conf_t conf;
  int64_t credUntil; // ms; 0: no end
  int cstate, ustate;
  buf_t cbuf; // client bytes past the request in flight
  uint64_t bodyLeft;
  char *retry; // the request as the client sent it (no body), while it may be sent again
  size_t retryLen, retryCap;
  int hasRetry;
  char method[8];
  char path[513]; // the target up to its query, for audit
  size_t pathLen;
  char *host; // the client's Host, for JS's Location mapping
  size_t hostLen, hostCap;
  int hasHost;
  int closeAfter, isHead, hadBody, outcome, wantBack;
  int64_t startedUs, lastActivity;
  uint64_t bytesIn, bytesOut;
  uint64_t toClient; // every byte given to the client (heads included), for the connection's record
  buf_t ubuf; // an answer head so far; in U_JS the body bytes after it
  hw_response_t resp;
  hw_chunks_t chunks;
  uint64_t left;
} http_t;

static __thread buf_t records;        // audit records not yet sent to JS
static __thread size_t recordsCap;    // records.data's size
static __thread int64_t recordsSince; // ms of the oldest

static int64_t nowUs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void countToClient(pair_t *p, size_t len) {
  if (p->h) p->h->toClient += len;
}

static uint64_t httpToClient(const pair_t *p) { return p->h->toClient; }

static void freeHttp(http_t *h) {
  if (!h) return;
  free(h->conf.prefix);
  if (h->conf.add) explicit_bzero(h->conf.add, h->conf.addLen); // the credential's header lines
  free(h->conf.add);
  free(h->conf.drop);
  free(h->cbuf.data);
  free(h->retry);
  free(h->host);
  free(h->ubuf.data);
  free(h);
}

static void consume(buf_t *b, size_t n) {
  b->off += n;
  if (b->off >= b->len) {
    free(b->data);
    *b = (buf_t){0};
  }
}

// A packed record (native-pump.ts decodes it): id u32, status u16, outcome u8, method
// length u8, duration ms u32, path length u32, bytes in f64, bytes out f64, method, path.
#define RECORD_HEAD 32
static size_t packRecord(const pair_t *p, int status, char *o) {
  const http_t *h = p->h;
  uint32_t id = p->id, dur = (uint32_t)((nowUs() - h->startedUs + 500) / 1000), pathLen = (uint32_t)h->pathLen;
  uint16_t st = (uint16_t)status;
  uint8_t outcome = (uint8_t)h->outcome, mlen = (uint8_t)strlen(h->method);
  double in = (double)h->bytesIn, out = (double)h->bytesOut;
  memcpy(o, &id, 4);
  memcpy(o + 4, &st, 2);
  o[6] = (char)outcome;
  o[7] = (char)mlen;
  memcpy(o + 8, &dur, 4);
  memcpy(o + 12, &pathLen, 4);
  memcpy(o + 16, &in, 8);
  memcpy(o + 24, &out, 8);
  memcpy(o + RECORD_HEAD, h->method, mlen);
  memcpy(o + RECORD_HEAD + mlen, h->path, h->pathLen);
  return RECORD_HEAD + mlen + h->pathLen;
}

static void flushRecords(void) {
  if (!records.len) return;
  buf_t r = records;
  records = (buf_t){0};
  recordsCap = 0;
  emit(EV_RECORDS, 0, 0, 0, r.data, r.len);
}

static void record(pair_t *p) {
  const size_t most = RECORD_HEAD + 8 + 513;
  if (records.len + most > recordsCap) {
    size_t cap = recordsCap ? recordsCap * 2 : 16 * 1024;
    char *grown = realloc(records.data, cap);
    if (!grown) return;
    records.data = grown;
    recordsCap = cap;
  }
  if (!records.len) recordsSince = nowMs();
  records.len += packRecord(p, p->h->resp.status, records.data + records.len);
  if (records.len >= RECORDS_MAX) flushRecords();
}

// While a request waits for its answer the client stays readable (what it sends next is
// kept, up to WAIT_BUFFERED): taking its fd out of the epoll set and back per request
// would cost two epoll_ctl calls per request.
#define WAIT_BUFFERED (64 * 1024)
static int mayRead(const pair_t *p, int idx) {
  const http_t *h = p->h;
  if (!h) return 1;
  if (h->wantBack) return 0;
  return idx == 0 ? h->cstate != C_WAIT || h->cbuf.len - h->cbuf.off < WAIT_BUFFERED : h->ustate != U_JS;
}

// Gives the connection back to JS now: out of this epoll set, the fds untouched.
static void giveBack(pair_t *p) {
  http_t *h = p->h;
  for (int i = 0; i < 2; i++)
    if (p->side[i].ev) epoll_ctl(self->epfd, EPOLL_CTL_DEL, p->fd[i], NULL);
  // The request in flight (for a failure's audit record), the bytes moved to and from the
  // client (two f64), then the client bytes JS reads next.
  size_t rest = h->cbuf.len - h->cbuf.off, again = h->wantBack == BACK_RETRY && h->hasRetry ? h->retryLen : 0;
  char *data = malloc(RECORD_HEAD + 8 + 513 + 16 + again + rest);
  size_t infoLen = 0, len = 0;
  if (data) {
    infoLen = packRecord(p, 0, data);
    double moved[2] = {(double)p->d[0].bytes, (double)h->toClient};
    memcpy(data + infoLen, moved, 16);
    len = infoLen + 16;
    if (again) memcpy(data + len, h->retry, again);
    len += again;
    if (rest) memcpy(data + len, h->cbuf.data + h->cbuf.off, rest);
    len += rest;
  }
  unlink_(p);
  emit(EV_BACK, p->id, (uint64_t)h->wantBack, infoLen, data, len);
}

// Back to JS once everything written so far has left (at once when it has).
static int handBack(pair_t *p, int reason) {
  p->h->wantBack = reason;
  if (p->d[0].pending.len || p->d[1].pending.len) return 0;
  giveBack(p);
  return 1;
}

static int nextRequest(pair_t *p);

// The upstream closed or failed while a request was in flight and before any of the answer
// reached the client.
static int upstreamLost(pair_t *p, int reset) {
  http_t *h = p->h;
  if (h->ustate == U_HEAD && !h->ubuf.len && !h->hadBody && h->hasRetry) return handBack(p, BACK_RETRY);
  return handBack(p, reset ? BACK_FAIL_RESET : BACK_FAIL_CLOSED);
}

// Both sides end once what is written has left (the client asked to close, or the answer
// ended with the upstream's close).
static int endBoth(pair_t *p) {
  p->d[0].eof = p->d[1].eof = 1;
  if (endDir(p, 1)) return 1;
  return endDir(p, 0);
}

// The answer is complete: its record, then the next request (or back to JS, or the end).
static int answered(pair_t *p) {
  http_t *h = p->h;
  record(p);
  h->ustate = U_IDLE;
  h->hasRetry = 0;
  if (h->closeAfter) return endBoth(p);
  if (!h->resp.keepAlive) return handBack(p, BACK_UPSTREAM_SPENT);
  if (h->outcome == OUT_REJECTED) return handBack(p, BACK_REJECTED);
  h->cstate = C_HEAD;
  return nextRequest(p);
}

// Answer body bytes (after `head`, owned, when it is not sent yet) to the client, up to
// where the framing says the answer ends.
static int answerBody(pair_t *p, const char *data, size_t n, char *head, size_t headLen) {
  http_t *h = p->h;
  size_t end = n;
  int done = 0;
  switch (h->resp.framing) {
    case FR_NONE:
      end = 0;
      done = 1;
      break;
    case FR_LENGTH:
      if (n >= h->left) {
        end = (size_t)h->left;
        done = 1;
      }
      h->left -= end;
      h->bytesOut += end;
      break;
    case FR_CHUNKED: {
      uint64_t before = h->chunks.dataBytes;
      long at = hwChunks(&h->chunks, (const unsigned char *)data, n);
      if (at == -2) {
        // Malformed framing mid-answer: nothing sensible can follow.
        free(head);
        h->outcome = OUT_PROTOCOL;
        record(p);
        finish(p);
        return 1;
      }
      h->bytesOut += h->chunks.dataBytes - before;
      if (at >= 0) {
        end = (size_t)at;
        done = 1;
      }
      break;
    }
    default: // FR_CLOSE: until the upstream closes
      h->bytesOut += n;
  }
  if (done && end < n) h->resp.keepAlive = 0; // bytes past the answer: the connection is not reusable
  int failed = 0;
  if (head) {
    // The head and a small body leave in one write.
    if (end && end <= 16 * 1024) {
      char *both = realloc(head, headLen + end);
      if (!both) failed = 1;
      else {
        memcpy(both + headLen, data, end);
        head = both;
        headLen += end;
        end = 0;
      }
    }
    failed = failed || send_(p, 1, head, headLen) < 0;
    free(head);
  }
  if (!failed && end) failed = send_(p, 1, data, end) < 0;
  if (failed) {
    finish(p);
    return 1;
  }
  if (done) return answered(p);
  return 0;
}

static int upstreamRead(pair_t *p, const char *data, size_t n) {
  http_t *h = p->h;
  if (h->ustate == U_IDLE) return handBack(p, BACK_UPSTREAM_GONE); // bytes nobody asked for
  if (h->ustate == U_BODY) return answerBody(p, data, n, NULL, 0);
  if (h->ubuf.len) {
    if (append(&h->ubuf, data, n) < 0) {
      finish(p);
      return 1;
    }
    data = h->ubuf.data;
    n = h->ubuf.len;
  }
  // Until the bytes are used, `data` may point into ubuf: keep it until then.
  buf_t held = h->ubuf;
  h->ubuf = (buf_t){0};
  int gone = 0;
  for (;;) {
    hw_response_t r;
    char *out = NULL;
    size_t outLen = 0;
    const char *why;
    int rc = hwResponse(data, n, h->isHead, h->closeAfter || h->cstate == C_BODY, &r, &out, &outLen, &why);
    if (rc == HW_INCOMPLETE) {
      if (n && append(&h->ubuf, data, n) < 0) gone = (finish(p), 1);
      break;
    }
    if (rc == HW_INVALID) {
      gone = handBack(p, BACK_FAIL_INVALID);
      break;
    }
    if (r.status < 200) {
      // An interim answer (103 Early Hints): passed on; the final one follows.
      int failed = send_(p, 1, out, outLen) < 0;
      free(out);
      if (failed) {
        gone = (finish(p), 1);
        break;
      }
      data += r.end;
      n -= r.end;
      if (!n) break;
      continue;
    }
    h->resp = r;
    h->left = r.length;
    h->chunks = (hw_chunks_t){0};
    if (r.status == 401 || r.status == 403) h->outcome = OUT_REJECTED;
    if (r.framing == FR_CLOSE || h->cstate == C_BODY) h->closeAfter = 1;
    if (r.location) {
      // JS maps the Location; the body bytes wait here for its head.
      size_t hostLen = h->hasHost ? h->hostLen : 0;
      char *msg = malloc(r.end + hostLen);
      if (!msg || (n > r.end && append(&h->ubuf, data + r.end, n - r.end) < 0)) {
        free(msg);
        gone = (finish(p), 1);
        break;
      }
      memcpy(msg, data, r.end);
      if (hostLen) memcpy(msg + r.end, h->host, hostLen);
      h->ustate = U_JS;
      p->d[1].withJs = 1;
      emit(EV_HEAD, p->id, (uint64_t)(h->closeAfter | (h->isHead << 1) | (h->hasHost << 2)), r.end, msg, r.end + hostLen);
      break;
    }
    h->ustate = U_BODY;
    gone = answerBody(p, data + r.end, n - r.end, out, outLen);
    break;
  }
  free(held.data);
  return gone;
}

// Copies b[0..n) into *dst, growing it only when it is too small (per-request copies
// reuse their buffer).
static int keep(char **dst, size_t *cap, const char *b, size_t n) {
  if (n > *cap) {
    char *grown = realloc(*dst, n);
    if (!grown) return -1;
    *dst = grown;
    *cap = n;
  }
  memcpy(*dst, b, n);
  return 0;
}

// Starts the request at b[0..avail) (cbuf's bytes, or a read's when cbuf is empty):
// rewritten and sent with the body bytes already here, what follows it kept in cbuf.
// 0 started, 1 the pair is gone, -BACK_* when JS must have it (nothing consumed).
static int beginRequest(pair_t *p, const char *b, size_t avail, int fromCbuf) {
  http_t *h = p->h;
  if (h->credUntil && nowMs() >= h->credUntil) return -BACK_CREDENTIALS;
  hw_request_t r;
  char *out;
  size_t outLen;
  int rc = hwRequest(b, avail, &h->conf, &r, &out, &outLen, avail);
  if (rc == HW_INVALID) {
    finish(p);
    return 1;
  }
  if (rc != HW_OK) return -BACK_REQUEST;
  strcpy(h->method, r.method);
  size_t pathLen = 0;
  while (pathLen < r.targetLen && r.target[pathLen] != '?') pathLen++;
  h->pathLen = pathLen > 512 ? 512 : pathLen;
  memcpy(h->path, r.target, h->pathLen);
  h->hasHost = r.host && keep(&h->host, &h->hostCap, r.host, r.hostLen) == 0;
  h->hostLen = r.hostLen;
  h->closeAfter = r.close;
  h->isHead = strcmp(r.method, "HEAD") == 0;
  h->hadBody = r.contentLength > 0;
  h->outcome = OUT_OK;
  h->startedUs = nowUs();
  size_t body = avail - r.end;
  if (body > r.contentLength) body = (size_t)r.contentLength;
  memcpy(out + outLen, b + r.end, body);
  outLen += body;
  // Without a body it may be sent again (an upstream that closed as it went out).
  h->hasRetry = !h->hadBody && keep(&h->retry, &h->retryCap, b, r.end) == 0;
  h->retryLen = r.end;
  int failed = 0;
  if (fromCbuf) consume(&h->cbuf, r.end + body);
  else if (avail > r.end + body) failed = append(&h->cbuf, b + r.end + body, avail - r.end - body) < 0;
  h->bodyLeft = r.contentLength - body;
  h->bytesIn = body;
  h->bytesOut = 0;
  h->cstate = h->bodyLeft ? C_BODY : C_WAIT;
  h->ustate = U_HEAD;
  if (failed) {
    free(out);
    finish(p);
    return 1;
  }
  failed = send_(p, 0, out, outLen) < 0;
  free(out);
  return failed ? upstreamLost(p, 1) : 0;
}

// The next request in cbuf, if any.
static int nextRequest(pair_t *p) {
  http_t *h = p->h;
  size_t avail = h->cbuf.len - h->cbuf.off;
  if (!avail || h->wantBack) return 0;
  int rc = beginRequest(p, h->cbuf.data + h->cbuf.off, avail, 1);
  return rc < 0 ? handBack(p, -rc) : rc;
}

static int clientRead(pair_t *p, const char *data, size_t n) {
  http_t *h = p->h;
  if (h->cstate == C_BODY) {
    size_t take = n < h->bodyLeft ? n : (size_t)h->bodyLeft;
    if (send_(p, 0, data, take) < 0) return upstreamLost(p, 1);
    h->bodyLeft -= take;
    h->bytesIn += take;
    data += take;
    n -= take;
    if (!h->bodyLeft) h->cstate = C_WAIT;
  }
  if (n && h->cstate == C_HEAD && h->cbuf.len == h->cbuf.off) {
    // The usual case: a whole request in one read, parsed where it was read.
    int rc = beginRequest(p, data, n, 0);
    if (rc >= 0) return rc;
  }
  if (n && append(&h->cbuf, data, n) < 0) {
    finish(p);
    return 1;
  }
  return h->cstate == C_HEAD ? nextRequest(p) : 0;
}

// A read of an HTTP pair's side that ended (n == 0) or failed (n < 0).
static int httpEnded(pair_t *p, int di, ssize_t n) {
  http_t *h = p->h;
  if (di == 0) {
    // Between requests the upstream connection is still good: JS keeps it.
    if (h->cstate == C_HEAD && n == 0) return handBack(p, BACK_CLIENT_EOF);
    if (h->cstate == C_WAIT && n == 0) {
      // A client that half-closed after its request still gets the answer, then the end.
      p->d[0].eof = 1;
      h->closeAfter = 1;
      return 0;
    }
    finish(p);
    return 1;
  }
  switch (h->ustate) {
    case U_IDLE:
      return handBack(p, BACK_UPSTREAM_GONE);
    case U_HEAD:
      return upstreamLost(p, n < 0);
    default:
      if (h->ustate == U_BODY && h->resp.framing == FR_CLOSE && n == 0) return answered(p);
      // Cut off mid-answer: the client must not take a short body for a whole one.
      h->outcome = OUT_PROTOCOL;
      record(p);
      finish(p);
      return 1;
  }
}

// Once a second: idle clients go back to JS (which closes them), an upstream that never
// answers is a timeout.
static void httpTick(int64_t now) {
  for (pair_t *p = pairs, *next; p; p = next) {
    next = p->next;
    http_t *h = p->h;
    if (!h || p->dead || h->wantBack) continue;
    int64_t quiet = now - h->lastActivity;
    if (h->cstate == C_HEAD && h->ustate == U_IDLE && quiet >= CLIENT_IDLE_MS) handBack(p, BACK_IDLE);
    else if (h->ustate == U_HEAD && !h->ubuf.len && h->cstate == C_WAIT && quiet >= ANSWER_TIMEOUT_MS) handBack(p, BACK_FAIL_TIMEOUT);
    if (!p->dead) {
      watch(p, 0);
      watch(p, 1);
    }
  }
}

// One read of an HTTP pair's side di; 1 when the pair is gone (ended or given back).
static int httpRead(pair_t *p, int di) {
  ssize_t n;
  do n = read(p->fd[di], readBuf, READ_BYTES);
  while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
  if (n <= 0) return httpEnded(p, di, n);
  p->d[di].bytes += (uint64_t)n;
  p->h->lastActivity = nowMs();
  return di == 0 ? clientRead(p, readBuf, (size_t)n) : upstreamRead(p, readBuf, (size_t)n);
}

// JS's head for an answer with a Location (CMD_HEAD), then the body bytes held meanwhile.
static int headFromJs(pair_t *p, char *head, size_t headLen) {
  http_t *h = p->h;
  if (h->ustate != U_JS) {
    free(head);
    return 0;
  }
  p->d[1].withJs = 0;
  h->ustate = U_BODY;
  buf_t held = h->ubuf;
  h->ubuf = (buf_t){0};
  int gone = answerBody(p, held.data ? held.data + held.off : "", held.len - held.off, head, headLen);
  free(held.data);
  return gone;
}

// One read of direction di; 1 when the pair is gone.
static int readDir(pair_t *p, int di) {
  dir_t *d = &p->d[di];
  ssize_t n;
  do n = read(d->from, readBuf, READ_BYTES);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    finish(p);
    return 1;
  }
  if (n == 0) {
    d->eof = 1;
    return endDir(p, di);
  }
  d->bytes += (uint64_t)n;
  if (di == 0 && p->filter != F_NONE) {
    int plain = p->jsIdle && (p->filter == F_REDIS ? redisPlain((unsigned char *)readBuf, (size_t)n) : mysqlPlain((unsigned char *)readBuf, (size_t)n));
    if (!plain) {
      char *copy = malloc((size_t)n);
      if (!copy) {
        finish(p);
        return 1;
      }
      memcpy(copy, readBuf, (size_t)n);
      d->withJs = 1;
      emit(EV_FILTER, p->id, 0, 0, copy, (size_t)n);
      return 0;
    }
  }
  if (send_(p, di, readBuf, (size_t)n) < 0) {
    finish(p);
    return 1;
  }
  return 0;
}

static pair_t *find(uint32_t id) {
  for (pair_t *p = pairs; p; p = p->next)
    if (p->id == id) return p;
  return NULL;
}

static void runCommand(cmd_t *c) {
  if (c->type == CMD_ADD) {
    pair_t *p = c->pair;
    p->next = pairs;
    if (pairs) pairs->prev = p;
    pairs = p;
    if (p->h) {
      httpPairs++;
      p->h->lastActivity = nowMs();
    }
    int failed = 0;
    for (int di = 0; di < 2; di++) failed |= flush(p, di) < 0;
    if (failed) finish(p);
    else if (!p->h || !nextRequest(p)) {
      watch(p, 0);
      watch(p, 1);
    }
    return;
  }
  pair_t *p = find(c->id);
  if (!p) return;
  if (c->type == CMD_CLOSE) {
    finish(p);
    return;
  }
  if (c->type == CMD_HEAD) {
    char *head = c->data;
    c->data = NULL;
    if (!p->h) free(head);
    else if (!headFromJs(p, head, c->len)) {
      watch(p, 0);
      watch(p, 1);
    }
    return;
  }
  // CMD_INJECT: the JS filter's answer for the read it was given.
  p->jsIdle = c->jsIdle;
  p->d[0].withJs = 0;
  if (c->len && send_(p, 0, c->data, c->len) < 0) {
    finish(p);
    return;
  }
  watch(p, 0);
  watch(p, 1);
}

static void *loop(void *arg) {
  self = arg;
  readBuf = self->readBuf;
  struct epoll_event evs[256];
  int64_t lastTick = 0;
  for (;;) {
    // No short timeout for the records: a timer armed per sleep costs one connection's
    // requests about 4 µs each (measured A/B under wrk -c1). They leave on the first turn
    // RECORDS_DELAY_MS after the oldest, or with the 1 s tick when traffic stops.
    int n = epoll_wait(self->epfd, evs, 256, lingering || httpPairs || records.len ? 1000 : -1);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; i++) {
      side_t *s = evs[i].data.ptr;
      if (!s) {
        uint64_t v;
        if (read(self->wakefd, &v, sizeof v) < 0) { /* already drained */ }
        pthread_mutex_lock(&self->lock);
        cmd_t *c = self->cmdHead;
        self->cmdHead = self->cmdTail = NULL;
        pthread_mutex_unlock(&self->lock);
        while (c) {
          cmd_t *next = c->next;
          runCommand(c);
          free(c->data);
          free(c);
          c = next;
        }
        continue;
      }
      pair_t *p = s->p;
      if (p->dead) continue;
      uint32_t e = evs[i].events;
      int idx = s->idx;
      if (e & EPOLLOUT) {
        dir_t *in = &p->d[1 - idx];
        if (flush(p, 1 - idx) < 0) {
          finish(p);
          continue;
        }
        if (in->eof && in->pending.len == 0 && endDir(p, 1 - idx)) continue;
        if (p->h && p->h->wantBack && !p->d[0].pending.len && !p->d[1].pending.len) {
          giveBack(p);
          continue;
        }
      }
      if (e & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        if (!p->d[idx].eof && !p->d[idx].withJs && p->d[idx].pending.len == 0 && mayRead(p, idx)) {
          if (p->h ? httpRead(p, idx) : readDir(p, idx)) continue;
        } else if (e & (EPOLLERR | EPOLLHUP)) {
          finish(p);
          continue;
        }
      }
      watch(p, 0);
      watch(p, 1);
    }
    if (lingering || httpPairs || records.len) {
      int64_t now = nowMs();
      if (lingering) {
        for (pair_t *p = pairs, *next; p; p = next) {
          next = p->next;
          if (p->lingerUntil && p->lingerUntil <= now) finish(p);
        }
      }
      if (httpPairs && now - lastTick >= 1000) {
        lastTick = now;
        httpTick(now);
      }
      if (records.len && now - recordsSince >= RECORDS_DELAY_MS) flushRecords();
    }
    while (dead) {
      pair_t *p = dead;
      dead = p->next;
      freeHttp(p->h);
      free(p);
    }
  }
  return NULL;
}

// To the worker of pair `id`.
static void post(uint32_t id, cmd_t *c) {
  worker_t *w = &workers[id % (uint32_t)nWorkers];
  pthread_mutex_lock(&w->lock);
  if (w->cmdTail) w->cmdTail->next = c;
  else w->cmdHead = c;
  w->cmdTail = c;
  pthread_mutex_unlock(&w->lock);
  uint64_t one = 1;
  if (write(w->wakefd, &one, sizeof one) < 0) { /* the counter is full: the thread is awake anyway */ }
}

// --- N-API -------------------------------------------------------------------------

static napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

static void callJs(napi_env env, napi_value cb, void *ctx, void *data) {
  (void)ctx;
  event_t *e = data;
  if (env && cb) {
    napi_value argv[4], global;
    napi_get_global(env, &global);
    napi_create_uint32(env, e->id, &argv[0]);
    if (e->type == EV_DONE) {
      napi_create_string_utf8(env, "done", NAPI_AUTO_LENGTH, &argv[1]);
      napi_create_double(env, (double)e->a, &argv[2]);
      napi_create_double(env, (double)e->b, &argv[3]);
      napi_call_function(env, global, cb, 4, argv, NULL);
    } else if (e->type == EV_FILTER) {
      void *bytes;
      napi_create_string_utf8(env, "filter", NAPI_AUTO_LENGTH, &argv[1]);
      napi_create_buffer_copy(env, e->len, e->data, &bytes, &argv[2]);
      napi_call_function(env, global, cb, 3, argv, NULL);
    } else {
      // The HTTP lane's: (id, 'records' | 'back' | 'head', bytes, a, b).
      static const char *const names[] = {[EV_RECORDS] = "records", [EV_BACK] = "back", [EV_HEAD] = "head"};
      napi_value args[5];
      void *bytes;
      args[0] = argv[0];
      napi_create_string_utf8(env, names[e->type], NAPI_AUTO_LENGTH, &args[1]);
      if (e->data) napi_create_buffer_copy(env, e->len, e->data, &bytes, &args[2]);
      else napi_get_undefined(env, &args[2]);
      napi_create_double(env, (double)e->a, &args[3]);
      napi_create_double(env, (double)e->b, &args[4]);
      napi_call_function(env, global, cb, 5, args, NULL);
    }
  }
  free(e->data);
  free(e);
}

static int getBytes(napi_env env, napi_value v, char **out, size_t *len) {
  bool is;
  *out = NULL;
  *len = 0;
  if (napi_is_buffer(env, v, &is) != napi_ok || !is) return 0;
  void *data;
  napi_get_buffer_info(env, v, &data, len);
  if (!*len) return 0;
  *out = malloc(*len);
  if (!*out) return -1;
  memcpy(*out, data, *len);
  return 0;
}

// init(callback): starts the threads. The callback holds the process open only while ref()ed.
static napi_value Init(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], name;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (nWorkers > 0) {
    napi_value started;
    napi_create_int32(env, nWorkers, &started);
    return started;
  }
  napi_create_string_utf8(env, "secretless-pump", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[0], NULL, name, 0, 1, NULL, NULL, NULL, callJs, &tsfn) != napi_ok) {
    napi_throw_error(env, NULL, "pump: no threadsafe function");
    return NULL;
  }
  napi_unref_threadsafe_function(env, tsfn);
  // The CPUs this process may run on (a container's cpuset), not all the machine has.
  cpu_set_t allowed;
  long cpus = sched_getaffinity(0, sizeof allowed, &allowed) == 0 ? CPU_COUNT(&allowed) : sysconf(_SC_NPROCESSORS_ONLN);
  const char *wanted = getenv("SECRETLESS_PUMP_THREADS"); // a number, for measurements
  if (wanted && atoi(wanted) > 0) cpus = atoi(wanted);
  int count = cpus < 1 ? 1 : cpus > MAX_WORKERS ? MAX_WORKERS : (int)cpus;
  for (int i = 0; i < count; i++) {
    worker_t *w = &workers[i];
    pthread_mutex_init(&w->lock, NULL);
    w->epfd = epoll_create1(EPOLL_CLOEXEC);
    w->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    w->readBuf = malloc(READ_BYTES);
    struct epoll_event e = {.events = EPOLLIN, .data.ptr = NULL};
    if (w->epfd < 0 || w->wakefd < 0 || !w->readBuf || epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->wakefd, &e) < 0 || pthread_create(&w->thread, NULL, loop, w) != 0) {
      if (i > 0) break; // fewer workers than wanted still work
      napi_throw_error(env, NULL, "pump: cannot start its thread");
      return NULL;
    }
    pthread_detach(w->thread);
    nWorkers = i + 1;
  }
  napi_value started;
  napi_create_int32(env, nWorkers, &started);
  return started;
}

static napi_value Add(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fds[2], filter;
  bool jsIdle;
  if (argc < 6 || napi_get_value_int32(env, argv[0], &fds[0]) != napi_ok || napi_get_value_int32(env, argv[1], &fds[1]) != napi_ok ||
      napi_get_value_int32(env, argv[2], &filter) != napi_ok || napi_get_value_bool(env, argv[3], &jsIdle) != napi_ok) {
    napi_throw_type_error(env, NULL, "pump.add(clientFd, targetFd, filter, jsIdle, toTarget, toClient)");
    return NULL;
  }
  pair_t *p = calloc(1, sizeof *p);
  cmd_t *c = calloc(1, sizeof *c);
  if (!p || !c) {
    free(p);
    free(c);
    napi_throw_error(env, NULL, "pump: out of memory");
    return NULL;
  }
  for (int i = 0; i < 2; i++) {
    p->fd[i] = fds[i];
    p->side[i] = (side_t){p, i, 0};
  }
  // libuv made them non-blocking; checked, as a blocking read here would stall every pair.
  int nonblocking = (fcntl(fds[0], F_GETFL) & O_NONBLOCK) && (fcntl(fds[1], F_GETFL) & O_NONBLOCK);
  if (!nonblocking || fds[0] < 0 || fds[1] < 0 || getBytes(env, argv[4], &p->d[0].pending.data, &p->d[0].pending.len) < 0 ||
      getBytes(env, argv[5], &p->d[1].pending.data, &p->d[1].pending.len) < 0) {
    free(p->d[0].pending.data);
    free(p->d[1].pending.data);
    free(p);
    free(c);
    napi_throw_error(env, NULL, "pump: cannot take the sockets");
    return NULL;
  }
  p->d[0] = (dir_t){.from = p->fd[0], .to = p->fd[1], .pending = p->d[0].pending};
  p->d[1] = (dir_t){.from = p->fd[1], .to = p->fd[0], .pending = p->d[1].pending};
  // JS called readStop: drop libuv's registration now rather than at its next wakeup.
  uv_loop_t *uvLoop;
  if (napi_get_uv_event_loop(env, &uvLoop) == napi_ok) {
    struct epoll_event dummy = {0};
    for (int i = 0; i < 2; i++) epoll_ctl(uv_backend_fd(uvLoop), EPOLL_CTL_DEL, fds[i], &dummy);
  }
  p->filter = filter;
  p->jsIdle = jsIdle;
  // Read before post(): from then on the pump thread owns p and may free it.
  uint32_t id = p->id = __atomic_add_fetch(&nextId, 1, __ATOMIC_RELAXED);
  c->type = CMD_ADD;
  c->pair = p;
  post(id, c);
  napi_create_uint32(env, id, &result);
  return result;
}

static napi_value Inject(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t id;
  bool jsIdle;
  cmd_t *c = calloc(1, sizeof *c);
  if (!c || argc < 3 || napi_get_value_uint32(env, argv[0], &id) != napi_ok || napi_get_value_bool(env, argv[2], &jsIdle) != napi_ok ||
      getBytes(env, argv[1], &c->data, &c->len) < 0) {
    free(c);
    napi_throw_type_error(env, NULL, "pump.inject(id, bytes, jsIdle)");
    return NULL;
  }
  c->type = CMD_INJECT;
  c->id = id;
  c->jsIdle = jsIdle;
  post(id, c);
  return undefined(env);
}

static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t id;
  cmd_t *c = calloc(1, sizeof *c);
  if (!c || napi_get_value_uint32(env, argv[0], &id) != napi_ok) {
    free(c);
    napi_throw_type_error(env, NULL, "pump.close(id)");
    return NULL;
  }
  c->type = CMD_CLOSE;
  c->id = id;
  post(id, c);
  return undefined(env);
}

static napi_value Ref(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  bool on;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_get_value_bool(env, argv[0], &on);
  if (on) napi_ref_threadsafe_function(env, tsfn);
  else napi_unref_threadsafe_function(env, tsfn);
  return undefined(env);
}

// addHttp(clientFd, upstreamFd, prefix, add, drop, credentialTtlMs, clientBytes) -> id:
// an HTTP pair (the HTTP lane above). prefix, add and drop as hw_conf_t, as Buffers;
// credentialTtlMs 0 when the credential does not expire.
static napi_value AddHttp(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fds[2];
  double ttl;
  if (argc < 7 || napi_get_value_int32(env, argv[0], &fds[0]) != napi_ok || napi_get_value_int32(env, argv[1], &fds[1]) != napi_ok ||
      napi_get_value_double(env, argv[5], &ttl) != napi_ok) {
    napi_throw_type_error(env, NULL, "pump.addHttp(clientFd, upstreamFd, prefix, add, drop, credentialTtlMs, clientBytes)");
    return NULL;
  }
  pair_t *p = calloc(1, sizeof *p);
  http_t *h = calloc(1, sizeof *h);
  cmd_t *c = calloc(1, sizeof *c);
  int ok = p && h && c && fds[0] >= 0 && fds[1] >= 0 && (fcntl(fds[0], F_GETFL) & O_NONBLOCK) && (fcntl(fds[1], F_GETFL) & O_NONBLOCK);
  ok = ok && getBytes(env, argv[2], &h->conf.prefix, &h->conf.prefixLen) == 0 && getBytes(env, argv[3], &h->conf.add, &h->conf.addLen) == 0 &&
       getBytes(env, argv[4], &h->conf.drop, &h->conf.dropLen) == 0 && getBytes(env, argv[6], &h->cbuf.data, &h->cbuf.len) == 0;
  if (!ok) {
    freeHttp(h);
    free(p);
    free(c);
    napi_throw_error(env, NULL, "pump: cannot take the sockets");
    return NULL;
  }
  h->credUntil = ttl > 0 ? nowMs() + (int64_t)ttl : 0;
  for (int i = 0; i < 2; i++) {
    p->fd[i] = fds[i];
    p->side[i] = (side_t){p, i, 0};
  }
  p->d[0] = (dir_t){.from = fds[0], .to = fds[1]};
  p->d[1] = (dir_t){.from = fds[1], .to = fds[0]};
  p->h = h;
  uv_loop_t *uvLoop;
  if (napi_get_uv_event_loop(env, &uvLoop) == napi_ok) {
    struct epoll_event dummy = {0};
    for (int i = 0; i < 2; i++) epoll_ctl(uv_backend_fd(uvLoop), EPOLL_CTL_DEL, fds[i], &dummy);
  }
  uint32_t id = p->id = __atomic_add_fetch(&nextId, 1, __ATOMIC_RELAXED);
  c->type = CMD_ADD;
  c->pair = p;
  post(id, c);
  napi_create_uint32(env, id, &result);
  return result;
}

// httpHead(id, head): JS's client head for an answer it was given with 'head'.
static napi_value HttpHead(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t id;
  cmd_t *c = calloc(1, sizeof *c);
  if (!c || argc < 2 || napi_get_value_uint32(env, argv[0], &id) != napi_ok || getBytes(env, argv[1], &c->data, &c->len) < 0 || !c->len) {
    if (c) free(c->data);
    free(c);
    napi_throw_type_error(env, NULL, "pump.httpHead(id, head)");
    return NULL;
  }
  c->type = CMD_HEAD;
  c->id = id;
  post(id, c);
  return undefined(env);
}

// httpReasons(status, text): a reason phrase for the HTTP lane's status lines (Node's STATUS_CODES).
static napi_value HttpReason(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t status;
  char text[128];
  size_t len;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &status) != napi_ok || napi_get_value_string_latin1(env, argv[1], text, sizeof text, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "pump.httpReason(status, text)");
    return NULL;
  }
  hwSetReason(status, text);
  return undefined(env);
}

static napi_value Register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"init", NULL, Init, NULL, NULL, NULL, napi_default, NULL},
      {"add", NULL, Add, NULL, NULL, NULL, napi_default, NULL},
      {"inject", NULL, Inject, NULL, NULL, NULL, napi_default, NULL},
      {"close", NULL, Close, NULL, NULL, NULL, napi_default, NULL},
      {"ref", NULL, Ref, NULL, NULL, NULL, napi_default, NULL},
      {"addHttp", NULL, AddHttp, NULL, NULL, NULL, napi_default, NULL},
      {"httpHead", NULL, HttpHead, NULL, NULL, NULL, napi_default, NULL},
      {"httpReason", NULL, HttpReason, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Register)

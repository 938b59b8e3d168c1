// The native pump's HTTP lane: runs on pump.c's threads, inside its event loop; the head
// codec is http-wire.c.
#define _GNU_SOURCE // explicit_bzero
#include "pump.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "http-wire.h"

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

void countToClient(pair_t *p, size_t len) {
  if (p->h) p->h->toClient += len;
}

uint64_t httpToClient(const pair_t *p) { return p->h->toClient; }

void freeHttp(struct http *h) {
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

void flushRecords(void) {
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
int mayRead(const pair_t *p, int idx) {
  const http_t *h = p->h;
  if (!h) return 1;
  if (h->wantBack) return 0;
  return idx == 0 ? h->cstate != C_WAIT || h->cbuf.len - h->cbuf.off < WAIT_BUFFERED : h->ustate != U_JS;
}

// Gives the connection back to JS now: out of this epoll set, the fds untouched.
void giveBack(pair_t *p) {
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
int nextRequest(pair_t *p) {
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
void httpTick(int64_t now) {
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
int httpRead(pair_t *p, int di) {
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
int headFromJs(pair_t *p, char *head, size_t headLen) {
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


// The pump's questions about HTTP pairs.
int httpBackDue(const pair_t *p) { return p->h->wantBack && !p->d[0].pending.len && !p->d[1].pending.len; }

void httpAdded(pair_t *p) {
  httpPairs++;
  p->h->lastActivity = nowMs();
}

int recordsPending(void) { return records.len != 0; }

void recordsTick(int64_t now) {
  if (records.len && now - recordsSince >= RECORDS_DELAY_MS) flushRecords();
}

// addHttp(clientFd, upstreamFd, prefix, add, drop, credentialTtlMs, clientBytes) -> id:
// an HTTP pair (the HTTP lane above). prefix, add and drop as hw_conf_t, as Buffers;
// credentialTtlMs 0 when the credential does not expire.
napi_value AddHttp(napi_env env, napi_callback_info info) {
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
napi_value HttpHead(napi_env env, napi_callback_info info) {
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
  return napiUndefined(env);
}

// httpReasons(status, text): a reason phrase for the HTTP lane's status lines (Node's STATUS_CODES).
napi_value HttpReason(napi_env env, napi_callback_info info) {
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
  return napiUndefined(env);
}


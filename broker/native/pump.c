// The data phase in C, for Linux: after login the broker hands the two plain sockets of a
// connection to this pump, which moves bytes between them on a thread of its own (epoll,
// read, write; one such thread per CPU, up to four, each with its share of the
// connections) until both sides are done. It exists because a Node.js pipe spends most
// of its user-space time per message in Node's socket layer (libuv -> C++ -> JS and
// back, per read and per write); here a message costs one read and one write call.
//
// HTTP pairs (addHttp) are the http connector's reverse-proxy connections: this thread
// also rewrites their plain request heads and follows the answers' framing; that part,
// the HTTP lane, is http-lane.c (what the two share: pump.h).
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
#include "pump.h"

#include <uv.h>

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

static worker_t workers[MAX_WORKERS];
static int nWorkers;
static napi_threadsafe_function tsfn;
uint32_t nextId;
__thread worker_t *self;
__thread pair_t *pairs;
__thread int lingering;
__thread char *readBuf;
int64_t nowMs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

// Events of one worker reach JS in order; a connection's audit records before its end.
void emit(int type, uint32_t id, uint64_t a, uint64_t b, char *data, size_t len) {
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
void watch(pair_t *p, int idx) {
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

__thread pair_t *dead;
__thread int httpPairs;

// Out of this worker's list, onto the dead list.
void unlink_(pair_t *p) {
  p->dead = 1;
  if (p->lingerUntil) lingering--;
  if (p->h) httpPairs--;
  if (p->prev) p->prev->next = p->next;
  else pairs = p->next;
  if (p->next) p->next->prev = p->prev;
  p->next = dead;
  dead = p;
}

void finish(pair_t *p) {
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
int endDir(pair_t *p, int di) {
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

int append(buf_t *b, const char *data, size_t len) {
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

// Writes what it can now and keeps a copy of the rest; -1 when the connection failed.
int send_(pair_t *p, int di, const char *data, size_t len) {
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
    if (p->h) httpAdded(p);
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
    int n = epoll_wait(self->epfd, evs, 256, lingering || httpPairs || recordsPending() ? 1000 : -1);
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
        if (p->h && httpBackDue(p)) {
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
    if (lingering || httpPairs || recordsPending()) {
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
      recordsTick(now);
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
void post(uint32_t id, cmd_t *c) {
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

napi_value napiUndefined(napi_env env) {
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

int getBytes(napi_env env, napi_value v, char **out, size_t *len) {
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
  return napiUndefined(env);
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
  return napiUndefined(env);
}

static napi_value Ref(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  bool on;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_get_value_bool(env, argv[0], &on);
  if (on) napi_ref_threadsafe_function(env, tsfn);
  else napi_unref_threadsafe_function(env, tsfn);
  return napiUndefined(env);
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

// What the native pump's two files share: pump.c (the byte pump, its threads, N-API)
// and http-lane.c (the HTTP lane). Built with -fvisibility=hidden: none of these names
// leaves the module (a same-named symbol in the host process could otherwise take them).
#ifndef SECRETLESS_PUMP_H
#define SECRETLESS_PUMP_H
#define NAPI_VERSION 8
#include <node_api.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

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
extern uint32_t nextId;
extern __thread worker_t *self;  // this thread's worker
extern __thread pair_t *pairs;   // its pairs
extern __thread int lingering;   // how many of them linger
extern __thread char *readBuf;   // READ_BYTES shared by its pairs: only a write's leftover is copied
extern __thread pair_t *dead;    // finished this turn: freed after the turn's events
extern __thread int httpPairs;   // this worker's HTTP pairs (they need the 1 s tick)

// pump.c, for the HTTP lane.
int64_t nowMs(void);
void emit(int type, uint32_t id, uint64_t a, uint64_t b, char *data, size_t len);
void watch(pair_t *p, int idx);
void unlink_(pair_t *p);
void finish(pair_t *p);
int endDir(pair_t *p, int di);
int append(buf_t *b, const char *data, size_t len);
int send_(pair_t *p, int di, const char *data, size_t len);
void post(uint32_t id, cmd_t *c);
int getBytes(napi_env env, napi_value v, char **out, size_t *len);
napi_value napiUndefined(napi_env env);

// http-lane.c, for the pump.
int mayRead(const pair_t *p, int idx);
int httpRead(pair_t *p, int di);
int httpBackDue(const pair_t *p);
void giveBack(pair_t *p);
void httpAdded(pair_t *p);
int nextRequest(pair_t *p);
int headFromJs(pair_t *p, char *head, size_t headLen);
void httpTick(int64_t now);
int recordsPending(void);
void recordsTick(int64_t now);
void flushRecords(void);
void freeHttp(struct http *h);
void countToClient(pair_t *p, size_t len);
uint64_t httpToClient(const pair_t *p);
napi_value AddHttp(napi_env env, napi_callback_info info);
napi_value HttpHead(napi_env env, napi_callback_info info);
napi_value HttpReason(napi_env env, napi_callback_info info);


#endif

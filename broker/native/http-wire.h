// HTTP/1.1 heads for the native pump's HTTP lane (pump.c), as pure functions over bytes:
// the C twin of broker/connectors/http/wire.ts and request-head.ts for the plain case
// only. A request head is accepted only when wire.ts would accept it AND its target
// reads the same to the WHATWG URL parser the JS lane builds the upstream URL with (no
// dot segments, nothing it would percent-encode); anything else is HW_OTHER and the
// connection goes back to JS at that request boundary, unread.
#ifndef SECRETLESS_HTTP_WIRE_H
#define SECRETLESS_HTTP_WIRE_H
#include <stddef.h>
#include <stdint.h>

enum { HW_OK = 0, HW_INCOMPLETE = 1, HW_OTHER = 2, HW_INVALID = 3 };
enum { FR_NONE = 0, FR_LENGTH = 1, FR_CHUNKED = 2, FR_CLOSE = 3 };

#define HW_MAX_REQUEST_HEAD (16 * 1024)
#define HW_MAX_RESPONSE_HEAD (64 * 1024)

/** What a pair's requests become upstream; built by JS (fast-lane.ts) for its service. */
typedef struct hw_conf {
  char *prefix; // the upstream's base path without its trailing slash ("" or "/api")
  size_t prefixLen;
  char *add; // `host: ...\r\n` and the credential's lines, each CRLF-terminated
  size_t addLen;
  char *drop; // lowercase field names never sent upstream, each followed by '\n'
  size_t dropLen;
} hw_conf_t;

typedef struct hw_request {
  char method[8];
  const char *target; // into the parsed bytes
  size_t targetLen;
  const char *host; // the client's Host value (NULL: none), into the parsed bytes
  size_t hostLen;
  uint64_t contentLength;
  int close; // Connection: close
  size_t end; // just past the blank line
} hw_request_t;

/** Parses a request head at b[0..n) and writes its upstream form to *out (malloc'd, with
 * `extra` spare bytes after it for body bytes sent in the same write). */
int hwRequest(const char *b, size_t n, const hw_conf_t *conf, hw_request_t *r, char **out, size_t *outLen, size_t extra);

typedef struct hw_response {
  int status;
  int framing;
  uint64_t length;
  int keepAlive;
  int location; // a Location or Content-Location field: JS maps it (reverse proxy rules)
  size_t end;
} hw_response_t;

/** Parses a response head; on HW_OK writes the client's form (hop-by-hop fields dropped,
 * `transfer-encoding: chunked` and `connection: close` as decided) unless r->location. */
int hwResponse(const char *b, size_t n, int isHead, int closeAfter, hw_response_t *r, char **out, size_t *outLen, const char **why);

/** A chunked body followed as it passes (RFC 9112 7.1), as wire.ts's ChunkedTracker. */
typedef struct hw_chunks {
  int state;
  uint64_t remaining;
  int digits;
  size_t lineBytes;
  uint64_t dataBytes;
} hw_chunks_t;

/** Consumes b[0..n): the offset just past the body's end, -1 when more is needed, -2 on malformed framing. */
long hwChunks(hw_chunks_t *t, const unsigned char *b, size_t n);

/** Reason phrases by status (Node's STATUS_CODES, given once by JS). */
void hwSetReason(int status, const char *text);

#endif

// See http-wire.h. Every rule here mirrors wire.ts / request-head.ts; where C would
// have to guess how the JS lane reads something, it says HW_OTHER and JS decides.
#define _GNU_SOURCE // memmem
#include "http-wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *reasons[500]; // by status - 100

void hwSetReason(int status, const char *text) {
  if (status < 100 || status > 599) return;
  char *copy = strdup(text);
  if (!copy) return;
  free((char *)reasons[status - 100]);
  reasons[status - 100] = copy;
}

static const char *reason(int status, const char *fallback) {
  const char *r = reasons[status - 100];
  return r ? r : fallback;
}

// RFC 9110 tchar.
static int tchar(unsigned char c) {
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 1;
  return c && strchr("!#$%&'*+.^_`|~-", c) != NULL;
}

// Control characters other than HTAB never appear in a value (a bare LF would split a line).
static int badValueChar(unsigned char c) { return (c < 0x20 && c != 0x09) || c == 0x7f; }

static int lowerc(unsigned char c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

// Whether b[0..n) is `lit` (lowercase) ignoring ASCII case.
static int iequal(const char *b, size_t n, const char *lit) {
  size_t m = strlen(lit);
  if (n != m) return 0;
  for (size_t i = 0; i < n; i++)
    if (lowerc((unsigned char)b[i]) != (unsigned char)lit[i]) return 0;
  return 1;
}

typedef struct field {
  const char *name, *value;
  size_t nameLen, valueLen;
} field_t;

// `name: value` at line[0..n) with the value's surrounding SP/HTAB trimmed; 0 when malformed.
static int splitField(const char *line, size_t n, field_t *f) {
  const char *colon = memchr(line, ':', n);
  if (!colon || colon == line) return 0;
  f->name = line;
  f->nameLen = (size_t)(colon - line);
  for (size_t i = 0; i < f->nameLen; i++)
    if (!tchar((unsigned char)line[i])) return 0;
  const char *v = colon + 1, *end = line + n;
  while (v < end && (*v == ' ' || *v == '\t')) v++;
  while (end > v && (end[-1] == ' ' || end[-1] == '\t')) end--;
  for (const char *c = v; c < end; c++)
    if (badValueChar((unsigned char)*c)) return 0;
  f->value = v;
  f->valueLen = (size_t)(end - v);
  return 1;
}

// `name: value\r\n` at o, the name in lowercase (as the JS lane writes them); its length.
static size_t putField(char *o, const field_t *f) {
  size_t w = 0;
  for (size_t i = 0; i < f->nameLen; i++) o[w++] = (char)lowerc((unsigned char)f->name[i]);
  o[w++] = ':';
  o[w++] = ' ';
  memcpy(o + w, f->value, f->valueLen);
  w += f->valueLen;
  o[w++] = '\r';
  o[w++] = '\n';
  return w;
}

// Comma-separated tokens of a Connection value, trimmed; calls back with each. 0 stops.
typedef int (*tokenFn)(void *ctx, const char *t, size_t n);
static int eachToken(const char *v, size_t n, tokenFn fn, void *ctx) {
  size_t i = 0;
  while (i <= n) {
    size_t j = i;
    while (j < n && v[j] != ',') j++;
    size_t a = i, b = j;
    // JS's trim(): any whitespace; only SP and HTAB can be in a valid value.
    while (a < b && (v[a] == ' ' || v[a] == '\t')) a++;
    while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t')) b--;
    if (!fn(ctx, v + a, b - a)) return 0;
    i = j + 1;
  }
  return 1;
}

#define MAX_NAMED 16
typedef struct named {
  const char *t[MAX_NAMED];
  size_t n[MAX_NAMED];
  int count;
  int close, upgrade, keepAlive, overflow;
} named_t;

static int collectToken(void *ctx, const char *t, size_t n) {
  named_t *s = ctx;
  if (iequal(t, n, "close")) s->close = 1;
  if (iequal(t, n, "upgrade")) s->upgrade = 1;
  if (iequal(t, n, "keep-alive")) s->keepAlive = 1;
  if (n == 0) return 1;
  if (s->count == MAX_NAMED) {
    s->overflow = 1;
    return 0;
  }
  s->t[s->count] = t;
  s->n[s->count++] = n;
  return 1;
}

static int isNamed(const named_t *s, const char *name, size_t n) {
  for (int i = 0; i < s->count; i++) {
    if (s->n[i] != n) continue;
    size_t k = 0;
    while (k < n && lowerc((unsigned char)s->t[i][k]) == lowerc((unsigned char)name[k])) k++;
    if (k == n) return 1;
  }
  return 0;
}

// Whether `name` is one of the '\n'-terminated lowercase names in list.
static int inList(const char *list, size_t listLen, const char *name, size_t n) {
  const char *p = list, *end = list + listLen;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) nl = end;
    size_t len = (size_t)(nl - p);
    if (len == n) {
      size_t k = 0;
      while (k < n && lowerc((unsigned char)name[k]) == (unsigned char)p[k]) k++;
      if (k == n) return 1;
    }
    p = nl + 1;
  }
  return 0;
}

static int digitsValue(const char *v, size_t n, uint64_t *out) {
  if (n < 1 || n > 15) return 0;
  uint64_t x = 0;
  for (size_t i = 0; i < n; i++) {
    if (v[i] < '0' || v[i] > '9') return 0;
    x = x * 10 + (uint64_t)(v[i] - '0');
  }
  *out = x;
  return 1;
}

// A target the JS lane's URL parser would take as it is: wire.ts's characters minus those
// WHATWG URL percent-encodes in a path or query ("'<>`{}), and no dot segment in the path
// (literal or %2e), which the parser would resolve.
static int plainTarget(const char *t, size_t n) {
  if (n == 0 || t[0] != '/') return 0;
  size_t pathEnd = n;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)t[i];
    if (c < 0x21 || c > 0x7e || c == '#' || c == '\\' || strchr("\"'<>`{}", c)) return 0;
    if (c == '?' && pathEnd == n) pathEnd = i;
  }
  if (pathEnd == n - 1) return 0; // an empty query: the URL parser drops the '?'

  size_t seg = 1;
  for (size_t i = 1; i <= pathEnd; i++) {
    if (i == pathEnd || t[i] == '/') {
      size_t len = i - seg;
      if ((len == 1 && t[seg] == '.') || (len == 2 && t[seg] == '.' && t[seg + 1] == '.')) return 0;
      seg = i + 1;
    } else if (t[i] == '%' && i + 2 < pathEnd && t[i + 1] == '2' && lowerc((unsigned char)t[i + 2]) == 'e') return 0;
  }
  return 1;
}

static const char *const METHODS[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};

// Next CRLF-terminated line in [*at, end): its length; the bytes after it in *at.
static size_t nextLine(const char *b, size_t *at, size_t end) {
  const char *p = b + *at;
  const char *cr = memmem(p, end - *at, "\r\n", 2);
  size_t len = cr ? (size_t)(cr - p) : end - *at;
  *at += len + 2;
  return len;
}

int hwRequest(const char *b, size_t n, const hw_conf_t *conf, hw_request_t *r, char **out, size_t *outLen, size_t extra) {
  const char *blank = memmem(b, n, "\r\n\r\n", 4);
  if (!blank) return n > HW_MAX_REQUEST_HEAD ? HW_OTHER : HW_INCOMPLETE;
  size_t headEnd = (size_t)(blank - b); // the last line's CRLF starts here
  if (headEnd > HW_MAX_REQUEST_HEAD) return HW_OTHER;
  memset(r, 0, sizeof *r);
  r->end = headEnd + 4;

  // Request line: METHOD SP target SP HTTP/1.1
  size_t at = 0;
  size_t lineLen = nextLine(b, &at, headEnd + 2);
  const char *sp1 = memchr(b, ' ', lineLen);
  if (!sp1) return HW_OTHER;
  size_t mlen = (size_t)(sp1 - b);
  int known = 0;
  for (size_t i = 0; i < sizeof METHODS / sizeof METHODS[0]; i++)
    if (strlen(METHODS[i]) == mlen && memcmp(METHODS[i], b, mlen) == 0) known = 1;
  if (!known) return HW_OTHER;
  memcpy(r->method, b, mlen);
  r->method[mlen] = 0;
  const char *target = sp1 + 1;
  const char *sp2 = memchr(target, ' ', lineLen - mlen - 1);
  if (!sp2) return HW_OTHER;
  r->target = target;
  r->targetLen = (size_t)(sp2 - target);
  if ((size_t)(b + lineLen - sp2) != 9 || memcmp(sp2, " HTTP/1.1", 9) != 0 || !plainTarget(target, r->targetLen)) return HW_OTHER;

  // Fields, first pass: validity, framing, the names Connection drops.
  named_t named = {0};
  int hostSeen = 0, lengthSeen = 0;
  size_t fieldsAt = at, lines = 0;
  while (at < headEnd + 2) {
    size_t start = at;
    size_t len = nextLine(b, &at, headEnd + 2);
    field_t f;
    if (!splitField(b + start, len, &f)) return HW_OTHER;
    lines++;
    if (iequal(f.name, f.nameLen, "content-length")) {
      if (lengthSeen++ || !digitsValue(f.value, f.valueLen, &r->contentLength)) return HW_OTHER;
    } else if (iequal(f.name, f.nameLen, "transfer-encoding") || iequal(f.name, f.nameLen, "upgrade") || iequal(f.name, f.nameLen, "expect")) {
      return HW_OTHER;
    } else if (iequal(f.name, f.nameLen, "host")) {
      if (hostSeen++) return HW_OTHER;
      r->host = f.value;
      r->hostLen = f.valueLen;
    } else if (iequal(f.name, f.nameLen, "connection")) {
      if (!eachToken(f.value, f.valueLen, collectToken, &named) || named.overflow || named.upgrade) return HW_OTHER;
    }
  }
  r->close = named.close;

  // Second pass: the upstream head.
  size_t cap = mlen + 1 + conf->prefixLen + r->targetLen + 11 + headEnd + lines * 2 + conf->addLen + 2 + extra;
  char *o = malloc(cap);
  if (!o) return HW_INVALID;
  size_t w = 0;
  memcpy(o + w, b, mlen + 1);
  w += mlen + 1;
  memcpy(o + w, conf->prefix, conf->prefixLen);
  w += conf->prefixLen;
  memcpy(o + w, target, r->targetLen);
  w += r->targetLen;
  memcpy(o + w, " HTTP/1.1\r\n", 11);
  w += 11;
  at = fieldsAt;
  while (at < headEnd + 2) {
    size_t start = at;
    size_t len = nextLine(b, &at, headEnd + 2);
    field_t f;
    splitField(b + start, len, &f);
    if (inList(conf->drop, conf->dropLen, f.name, f.nameLen) || isNamed(&named, f.name, f.nameLen)) continue;
    w += putField(o + w, &f);
  }
  memcpy(o + w, conf->add, conf->addLen);
  w += conf->addLen;
  o[w++] = '\r';
  o[w++] = '\n';
  *out = o;
  *outLen = w;
  return HW_OK;
}

// Hop-by-hop fields (RFC 9110 7.6.1): never passed to the client.
static int hopByHop(const char *name, size_t n) {
  static const char *const HOP[] = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "proxy-authenticate", "proxy-authorization"};
  for (size_t i = 0; i < sizeof HOP / sizeof HOP[0]; i++)
    if (iequal(name, n, HOP[i])) return 1;
  return 0;
}

int hwResponse(const char *b, size_t n, int isHead, int closeAfter, hw_response_t *r, char **out, size_t *outLen, const char **why) {
  const char *blank = memmem(b, n, "\r\n\r\n", 4);
  *why = NULL;
  if (!blank) {
    if (n > HW_MAX_RESPONSE_HEAD) return *why = "response head larger than 64 KiB", HW_INVALID;
    return HW_INCOMPLETE;
  }
  size_t headEnd = (size_t)(blank - b);
  memset(r, 0, sizeof *r);
  r->end = headEnd + 4;
  size_t at = 0;
  size_t lineLen = nextLine(b, &at, headEnd + 2);
  // HTTP/1.[01] SP 3DIGIT [SP reason]
  if (lineLen < 12 || memcmp(b, "HTTP/1.", 7) != 0 || (b[7] != '0' && b[7] != '1') || b[8] != ' ' || b[9] < '1' || b[9] > '5' || b[10] < '0' || b[10] > '9' ||
      b[11] < '0' || b[11] > '9' || (lineLen > 12 && b[12] != ' '))
    return *why = "malformed status line", HW_INVALID;
  for (size_t i = 13; i < lineLen; i++)
    if (badValueChar((unsigned char)b[i])) return *why = "malformed status line", HW_INVALID;
  int http11 = b[7] == '1';
  r->status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');

  size_t fieldsAt = at, lines = 0;
  int connections = 0, te = 0, teChunked = 0, cl = 0, locations = 0;
  const char *conn = NULL;
  size_t connLen = 0;
  uint64_t length = 0;
  while (at < headEnd + 2) {
    size_t start = at;
    size_t len = nextLine(b, &at, headEnd + 2);
    field_t f;
    if (!splitField(b + start, len, &f)) return *why = "malformed header field", HW_INVALID;
    lines++;
    if (iequal(f.name, f.nameLen, "connection")) {
      connections++;
      conn = f.value;
      connLen = f.valueLen;
    } else if (iequal(f.name, f.nameLen, "transfer-encoding")) {
      te++;
      teChunked = iequal(f.value, f.valueLen, "chunked");
    } else if (iequal(f.name, f.nameLen, "content-length")) {
      if (cl++ == 0 && !digitsValue(f.value, f.valueLen, &length)) cl = 99;
    } else if (iequal(f.name, f.nameLen, "location") || iequal(f.name, f.nameLen, "content-location")) {
      locations++;
    }
  }
  // As wire.ts: a repeated Connection field is read as none.
  named_t named = {0};
  if (connections == 1) eachToken(conn, connLen, collectToken, &named);
  r->keepAlive = http11 ? !named.close : named.keepAlive;
  if (isHead || r->status < 200 || r->status == 204 || r->status == 304) r->framing = FR_NONE;
  else if (te) {
    if (te > 1 || !teChunked) return *why = "unsupported transfer-encoding", HW_INVALID;
    if (cl) return *why = "both content-length and transfer-encoding", HW_INVALID;
    r->framing = FR_CHUNKED;
  } else if (cl) {
    if (cl != 1) return *why = "invalid content-length", HW_INVALID;
    r->framing = FR_LENGTH;
    r->length = length;
  } else {
    r->framing = FR_CLOSE;
    r->keepAlive = 0;
  }
  if (r->framing == FR_CLOSE) closeAfter = 1;
  if (r->status >= 200 && locations) {
    r->location = 1;
    return HW_OK;
  }

  const char *text = reason(r->status, r->status < 200 ? "Informational" : "Unknown");
  size_t cap = 32 + strlen(text) + headEnd + lines * 2 + 64;
  char *o = malloc(cap);
  if (!o) return *why = "out of memory", HW_INVALID;
  size_t w = (size_t)snprintf(o, cap, "HTTP/1.1 %d %s\r\n", r->status, text);
  at = fieldsAt;
  while (at < headEnd + 2) {
    size_t start = at;
    size_t len = nextLine(b, &at, headEnd + 2);
    field_t f;
    splitField(b + start, len, &f);
    if (hopByHop(f.name, f.nameLen) || isNamed(&named, f.name, f.nameLen)) continue;
    w += putField(o + w, &f);
  }
  if (r->status >= 200) {
    if (r->framing == FR_CHUNKED) {
      memcpy(o + w, "transfer-encoding: chunked\r\n", 28);
      w += 28;
    }
    if (closeAfter) {
      memcpy(o + w, "connection: close\r\n", 19);
      w += 19;
    }
  }
  o[w++] = '\r';
  o[w++] = '\n';
  *out = o;
  *outLen = w;
  return HW_OK;
}

enum { CK_SIZE, CK_EXT, CK_SIZE_LF, CK_DATA, CK_DATA_CR, CK_DATA_LF, CK_TRAILER, CK_TRAILER_LF, CK_DONE };

static int hexValue(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

long hwChunks(hw_chunks_t *t, const unsigned char *b, size_t n) {
  size_t i = 0;
  while (i < n) {
    unsigned char c = b[i];
    switch (t->state) {
      case CK_SIZE: {
        int v = hexValue(c);
        if (v >= 0) {
          if (++t->digits > 12) return -2;
          t->remaining = t->remaining * 16 + (uint64_t)v;
        } else if (t->digits > 0 && (c == ';' || c == ' ' || c == '\t')) t->state = CK_EXT;
        else if (t->digits > 0 && c == '\r') t->state = CK_SIZE_LF;
        else return -2;
        i++;
        break;
      }
      case CK_EXT:
        if (c == '\r') t->state = CK_SIZE_LF;
        else if (c == '\n' || ++t->lineBytes > 4096) return -2;
        i++;
        break;
      case CK_SIZE_LF:
        if (c != '\n') return -2;
        i++;
        t->lineBytes = 0;
        t->state = t->remaining == 0 ? CK_TRAILER : CK_DATA;
        break;
      case CK_DATA: {
        size_t take = n - i < t->remaining ? n - i : (size_t)t->remaining;
        i += take;
        t->remaining -= take;
        t->dataBytes += take;
        if (t->remaining == 0) t->state = CK_DATA_CR;
        break;
      }
      case CK_DATA_CR:
        if (c != '\r') return -2;
        i++;
        t->state = CK_DATA_LF;
        break;
      case CK_DATA_LF:
        if (c != '\n') return -2;
        i++;
        t->digits = 0;
        t->state = CK_SIZE;
        break;
      case CK_TRAILER:
        if (c == '\r') t->state = CK_TRAILER_LF;
        else if (c == '\n' || ++t->lineBytes > 16 * 1024) return -2;
        i++;
        break;
      case CK_TRAILER_LF:
        if (c != '\n') return -2;
        i++;
        if (t->lineBytes == 0) {
          t->state = CK_DONE;
          return (long)i;
        }
        t->lineBytes = 0;
        t->state = CK_TRAILER;
        break;
      case CK_DONE:
        return (long)i;
    }
  }
  return -1;
}

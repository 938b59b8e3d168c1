// The same-user check's socket lookup in-process, for Linux: one sock_diag request over
// netlink (what `ss` uses) finds a TCP socket by its 4-tuple and answers its owner's uid
// and inode. Without this module the broker asks a Python helper over a pipe per
// connection (broker/access/socket-owner-netlink.ts), two context switches per lookup.
//
// find(family, local16, localPort, remote16, remotePort) -> [uid, inode] | null (no such
// socket) | undefined (netlink failed: the caller falls back). Addresses are 16 bytes,
// an IPv4 one in the first 4. The kernel answers a non-dump request before send()
// returns, so the receive does not wait in practice; a 200 ms timeout bounds it anyway.
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static int nlfd = -1;
static uint32_t seq;

static int openNetlink(void) {
  if (nlfd >= 0) return nlfd;
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0) return -1;
  struct timeval tv = {.tv_sec = 0, .tv_usec = 200000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_nl local = {.nl_family = AF_NETLINK};
  if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) {
    close(fd);
    return -1;
  }
  nlfd = fd;
  return fd;
}

// 1: found (uid, inode set); 0: no such socket; -1: netlink failed.
static int lookup(int family, const uint8_t *src, int sport, const uint8_t *dst, int dport, uint32_t *uid, uint32_t *inode) {
  int fd = openNetlink();
  if (fd < 0) return -1;
  struct {
    struct nlmsghdr nlh;
    struct inet_diag_req_v2 r;
  } req;
  memset(&req, 0, sizeof req);
  req.nlh.nlmsg_len = sizeof req;
  req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
  req.nlh.nlmsg_flags = NLM_F_REQUEST;
  req.nlh.nlmsg_seq = ++seq;
  req.r.sdiag_family = (uint8_t)family;
  req.r.sdiag_protocol = IPPROTO_TCP;
  req.r.idiag_states = ~0u;
  req.r.id.idiag_sport = htons((uint16_t)sport);
  req.r.id.idiag_dport = htons((uint16_t)dport);
  memcpy(req.r.id.idiag_src, src, 16);
  memcpy(req.r.id.idiag_dst, dst, 16);
  req.r.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  req.r.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  if (send(fd, &req, sizeof req, 0) < 0) return -1;
  char buf[8192] __attribute__((aligned(4)));
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1; // includes the timeout
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != seq) continue; // an answer to an earlier, timed-out request
      if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY && h->nlmsg_len >= NLMSG_LENGTH(sizeof(struct inet_diag_msg))) {
        const struct inet_diag_msg *m = NLMSG_DATA(h);
        *uid = m->idiag_uid;
        *inode = m->idiag_inode;
        return 1;
      }
      if (h->nlmsg_type == NLMSG_ERROR || h->nlmsg_type == NLMSG_DONE) return 0;
    }
  }
}

static napi_value Find(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], result = NULL;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t family, sport, dport;
  void *src, *dst;
  size_t srcLen, dstLen;
  bool isBuf[2] = {false, false};
  if (argc == 5) {
    napi_is_buffer(env, argv[1], &isBuf[0]);
    napi_is_buffer(env, argv[3], &isBuf[1]);
  }
  if (!isBuf[0] || !isBuf[1] || napi_get_value_int32(env, argv[0], &family) != napi_ok || napi_get_value_int32(env, argv[2], &sport) != napi_ok ||
      napi_get_value_int32(env, argv[4], &dport) != napi_ok || napi_get_buffer_info(env, argv[1], &src, &srcLen) != napi_ok ||
      napi_get_buffer_info(env, argv[3], &dst, &dstLen) != napi_ok || srcLen != 16 || dstLen != 16 || (family != AF_INET && family != AF_INET6)) {
    napi_throw_type_error(env, NULL, "sockDiag.find(family, local16, localPort, remote16, remotePort)");
    return NULL;
  }
  uint32_t uid = 0, inode = 0;
  int found = lookup(family, src, sport, dst, dport, &uid, &inode);
  if (found < 0) {
    napi_get_undefined(env, &result);
    return result;
  }
  if (found == 0) {
    napi_get_null(env, &result);
    return result;
  }
  napi_value u, i;
  napi_create_array_with_length(env, 2, &result);
  napi_create_uint32(env, uid, &u);
  napi_create_uint32(env, inode, &i);
  napi_set_element(env, result, 0, u);
  napi_set_element(env, result, 1, i);
  return result;
}

static napi_value Register(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {{"find", NULL, Find, NULL, NULL, NULL, napi_default, NULL}};
  napi_define_properties(env, exports, 1, props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Register)

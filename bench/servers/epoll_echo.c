/* The limit reference: a single-threaded epoll WebSocket echo server that
 * does as little as an echo can, for every message size. It answers the
 * upgrade, then per readable socket:
 *   - one read into a 256 KiB buffer shared by every connection;
 *   - a streaming parse: a frame's header goes out as soon as it is
 *     complete, and its payload is unmasked a word at a time straight from
 *     the read buffer into the output of this read, in whatever pieces the
 *     reads bring (one pass over the bytes, nothing moved afterwards);
 *   - one send of that output. Only what the socket did not take is copied
 *     aside, into the connection, and reading pauses until it has gone.
 * No validation, no allocation per message, a frame echoed as the same
 * frame (a ping as a pong). It shows how close to this machine's limit the
 * real servers run; it is not a WebSocket implementation.
 *   epoll_echo PORT */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { read_size = 256 * 1024, max_request = 8192 };

/* Output of one read: its payload bytes, plus at most one completed header
 * more than the read's own header bytes (a header split between reads
 * goes out whole with the read that completes it). */
static unsigned char in_buf[read_size];
static unsigned char out_buf[read_size + 64];

typedef struct {
  int fd;
  int upgraded;
  int closing;           /* a close frame was echoed: end once it has gone */
  unsigned events;       /* the interest set now */
  char *request;         /* until the upgrade */
  size_t request_len;
  unsigned char head[14]; /* a frame header split between reads */
  size_t head_len;
  uint64_t left;          /* payload bytes of the current frame still to come */
  uint64_t offset;        /* into the current frame's payload, for the mask */
  unsigned char key[4];
  int masked;
  unsigned char *pending; /* output the socket did not take */
  size_t pending_len, pending_sent;
} conn_t;

static void drop(int ep, conn_t *c) {
  epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  free(c->request);
  free(c->pending);
  free(c);
}

static void unmask_into(unsigned char *to, unsigned char const *from, size_t n, unsigned char const key[4],
                        uint64_t offset) {
  unsigned char k[8];
  for (int i = 0; i < 8; ++i) k[i] = key[(offset + (uint64_t)i) & 3];
  uint64_t wide;
  memcpy(&wide, k, 8);
  for (; n >= 16; n -= 16, from += 16, to += 16) {
    uint64_t a, b;
    memcpy(&a, from, 8);
    memcpy(&b, from + 8, 8);
    a ^= wide;
    b ^= wide;
    memcpy(to, &a, 8);
    memcpy(to + 8, &b, 8);
  }
  for (size_t i = 0; i < n; ++i) to[i] = from[i] ^ k[i & 3];
}

/* The size of the header at `h` (n bytes so far), or 0 while incomplete. */
static size_t header_size(unsigned char const *h, size_t n) {
  if (n < 2) return 0;
  size_t size = 2 + ((h[1] & 0x7F) == 126 ? 2 : (h[1] & 0x7F) == 127 ? 8 : 0) + ((h[1] & 0x80) ? 4 : 0);
  return n >= size ? size : 0;
}

/* Starts the frame whose complete header is `h`: its echo's header goes out now. */
static unsigned char *begin_frame(conn_t *c, unsigned char const *h, unsigned char *o) {
  unsigned op = h[0] & 0x0F;
  uint64_t len = h[1] & 0x7F;
  size_t at = 2;
  if (len == 126) {
    len = ((uint64_t)h[2] << 8) | h[3];
    at = 4;
  } else if (len == 127) {
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | h[2 + i];
    at = 10;
  }
  c->masked = (h[1] & 0x80) != 0;
  if (c->masked) memcpy(c->key, h + at, 4);
  c->left = len;
  c->offset = 0;
  if (op == 0x8) c->closing = 1;
  *o++ = (unsigned char)((h[0] & 0xF0) | (op == 0x9 ? 0xA : op));
  if (len < 126) {
    *o++ = (unsigned char)len;
  } else if (len <= 0xFFFF) {
    *o++ = 126;
    *o++ = (unsigned char)(len >> 8);
    *o++ = (unsigned char)len;
  } else {
    *o++ = 127;
    for (int i = 0; i < 8; ++i) *o++ = (unsigned char)(len >> (56 - 8 * i));
  }
  return o;
}

/* Echoes what `in` brings into out_buf; returns the output's size. */
static size_t echo(conn_t *c, unsigned char const *in, size_t n) {
  unsigned char *o = out_buf;
  while (n > 0 && !(c->closing && c->left == 0)) { /* nothing after a close frame */
    if (c->left > 0) {
      size_t take = c->left < n ? (size_t)c->left : n;
      if (c->masked)
        unmask_into(o, in, take, c->key, c->offset);
      else
        memcpy(o, in, take);
      o += take, in += take, n -= take;
      c->left -= take;
      c->offset += take;
      continue;
    }
    size_t size;
    if (c->head_len == 0 && (size = header_size(in, n)) != 0) {
      o = begin_frame(c, in, o);
      in += size, n -= size;
      continue;
    }
    /* A header split between reads: gathered byte by byte (at most 14). */
    c->head[c->head_len++] = *in++;
    --n;
    if (header_size(c->head, c->head_len) != 0) {
      o = begin_frame(c, c->head, o);
      c->head_len = 0;
    }
  }
  return (size_t)(o - out_buf);
}

static int want(int ep, conn_t *c, unsigned events) {
  if (c->events == events) return 0;
  c->events = events;
  struct epoll_event ev = {.events = events, .data.ptr = c};
  return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}

/* Sends `out`; what the socket does not take waits in the connection.
 * Returns -1 when the connection is gone. */
static int send_out(conn_t *c, unsigned char const *out, size_t n) {
  size_t sent = 0;
  while (sent < n) {
    ssize_t w = send(c->fd, out + sent, n - sent, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EAGAIN) break;
      if (errno == EINTR) continue;
      return -1;
    }
    sent += (size_t)w;
  }
  if (sent < n) {
    unsigned char *kept = malloc(n - sent);
    if (!kept) return -1;
    memcpy(kept, out + sent, n - sent);
    free(c->pending);
    c->pending = kept;
    c->pending_len = n - sent;
    c->pending_sent = 0;
  }
  return 0;
}

static int send_pending(conn_t *c) {
  while (c->pending_sent < c->pending_len) {
    ssize_t w = send(c->fd, c->pending + c->pending_sent, c->pending_len - c->pending_sent, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN ? 0 : -1;
    }
    c->pending_sent += (size_t)w;
  }
  free(c->pending);
  c->pending = NULL;
  c->pending_len = c->pending_sent = 0;
  return 0;
}

/* Answers the upgrade request once it is whole; bytes behind it are echoed. */
static int upgrade(conn_t *c, unsigned char const *in, size_t n) {
  if (c->request_len + n > max_request) return -1;
  char *grown = realloc(c->request, c->request_len + n + 1);
  if (!grown) return -1;
  c->request = grown;
  memcpy(c->request + c->request_len, in, n);
  c->request_len += n;
  c->request[c->request_len] = 0;
  char *end = strstr(c->request, "\r\n\r\n");
  if (!end) return 0;
  char *key = strcasestr(c->request, "Sec-WebSocket-Key:");
  if (!key) return -1;
  key += 18;
  while (*key == ' ') ++key;
  size_t key_len = strcspn(key, "\r\n");
  unsigned char digest[SHA_DIGEST_LENGTH];
  char joined[128];
  int k = snprintf(joined, sizeof joined, "%.*s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", (int)key_len, key);
  SHA1((unsigned char *)joined, (size_t)k, digest);
  char accept[64];
  EVP_EncodeBlock((unsigned char *)accept, digest, SHA_DIGEST_LENGTH);
  char response[256];
  k = snprintf(response, sizeof response,
               "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
  c->upgraded = 1;
  size_t used = (size_t)(end + 4 - c->request), early = c->request_len - used;
  /* The early bytes come from the request buffer, so echo() may use out_buf. */
  unsigned char *both = malloc((size_t)k + early + 64);
  if (!both) return -1;
  memcpy(both, response, (size_t)k);
  size_t out = echo(c, (unsigned char *)c->request + used, early);
  memcpy(both + k, out_buf, out);
  free(c->request);
  c->request = NULL;
  int r = send_out(c, both, (size_t)k + out);
  free(both);
  return r < 0 ? -1 : 1;
}

/* One read, its echo, one send. Returns -1 when the connection is gone. */
static int on_readable(conn_t *c) {
  ssize_t r = recv(c->fd, in_buf, sizeof in_buf, 0);
  if (r < 0) return errno == EAGAIN || errno == EINTR ? 0 : -1;
  if (r == 0) return -1;
  if (!c->upgraded) return upgrade(c, in_buf, (size_t)r) < 0 ? -1 : 0;
  return send_out(c, out_buf, echo(c, in_buf, (size_t)r));
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: epoll_echo PORT\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1]))};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (bind(listener, (struct sockaddr *)&a, sizeof a) != 0 || listen(listener, 4096) != 0) {
    perror("listen");
    return 1;
  }
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
  struct epoll_event evs[512];
  for (;;) {
    int k = epoll_wait(ep, evs, 512, -1);
    for (int i = 0; i < k; ++i) {
      conn_t *c = evs[i].data.ptr;
      if (!c) {
        int fd;
        while ((fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          conn_t *n = calloc(1, sizeof *n);
          if (!n) {
            close(fd);
            continue;
          }
          n->fd = fd;
          n->events = EPOLLIN | EPOLLRDHUP;
          struct epoll_event cev = {.events = n->events, .data.ptr = n};
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
        }
        continue;
      }
      int gone = (evs[i].events & (EPOLLERR | EPOLLHUP)) != 0;
      if (!gone && (evs[i].events & EPOLLOUT)) gone = send_pending(c) < 0;
      if (!gone && !c->pending && (evs[i].events & (EPOLLIN | EPOLLRDHUP))) gone = on_readable(c) < 0;
      /* An echoed close frame ends the connection once it has been sent. */
      if (!gone && c->closing && c->left == 0 && !c->pending) gone = 1;
      if (gone) {
        drop(ep, c);
        continue;
      }
      /* Output that did not fit: no reading until it has gone. */
      want(ep, c, c->pending ? EPOLLOUT : EPOLLIN | EPOLLRDHUP);
    }
  }
}

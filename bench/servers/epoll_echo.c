/* The limit reference: a single-threaded epoll WebSocket echo server that
 * does as little as an echo can. It answers the upgrade, then parses just
 * enough of each frame to unmask it and send it back: no validation, no
 * allocation per message, every complete frame of a read answered in one
 * write. It shows how close to this machine's limit the real servers run;
 * it is not a WebSocket implementation.
 *   epoll_echo PORT */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
  int fd;
  int upgraded;
  int want_out; /* EPOLLOUT is in the interest set */
  unsigned char *in;
  size_t in_len, in_cap;
  unsigned char *out;
  size_t out_len, out_cap;
} conn_t;

static void reserve(unsigned char **buf, size_t *cap, size_t need) {
  if (need <= *cap) return;
  while (*cap < need) *cap = *cap ? *cap * 2 : 4096;
  *buf = realloc(*buf, *cap);
}

static void drop(conn_t *c) {
  close(c->fd);
  free(c->in);
  free(c->out);
  free(c);
}

/* Sends what is queued; returns -1 when the connection is gone. */
static int flush_out(conn_t *c) {
  size_t sent = 0;
  while (sent < c->out_len) {
    ssize_t w = send(c->fd, c->out + sent, c->out_len - sent, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EAGAIN) break;
      return -1;
    }
    sent += (size_t)w;
  }
  memmove(c->out, c->out + sent, c->out_len - sent);
  c->out_len -= sent;
  return 0;
}

static int upgrade(conn_t *c) {
  c->in[c->in_len < c->in_cap ? c->in_len : c->in_cap - 1] = 0;
  char *end = strstr((char *)c->in, "\r\n\r\n");
  if (!end) return 0;
  char *key = strcasestr((char *)c->in, "Sec-WebSocket-Key:");
  if (!key) return -1;
  key += 18;
  while (*key == ' ') ++key;
  size_t key_len = strcspn(key, "\r\n");
  unsigned char digest[SHA_DIGEST_LENGTH];
  char joined[128];
  int n = snprintf(joined, sizeof joined, "%.*s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", (int)key_len, key);
  SHA1((unsigned char *)joined, (size_t)n, digest);
  char accept[64];
  EVP_EncodeBlock((unsigned char *)accept, digest, SHA_DIGEST_LENGTH);
  char response[256];
  n = snprintf(response, sizeof response,
               "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
  reserve(&c->out, &c->out_cap, c->out_len + (size_t)n);
  memcpy(c->out + c->out_len, response, (size_t)n);
  c->out_len += (size_t)n;
  size_t used = (size_t)(end + 4 - (char *)c->in);
  memmove(c->in, c->in + used, c->in_len - used);
  c->in_len -= used;
  c->upgraded = 1;
  return 1;
}

/* Answers every complete frame in the input; a close frame ends the connection. */
static int echo_frames(conn_t *c) {
  size_t pos = 0;
  for (;;) {
    size_t avail = c->in_len - pos;
    if (avail < 2) break;
    unsigned char *p = c->in + pos;
    size_t len = p[1] & 0x7F, h = 2;
    if (len == 126) {
      if (avail < 4) break;
      len = ((size_t)p[2] << 8) | p[3];
      h = 4;
    } else if (len == 127) {
      if (avail < 10) break;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
      h = 10;
    }
    size_t mask_at = h;
    if (p[1] & 0x80) h += 4;
    if (avail < h + len) break;
    if ((p[0] & 0x0F) == 0x8) return -1;
    unsigned char *key = p + mask_at, *payload = p + h;
    if (p[1] & 0x80)
      for (size_t i = 0; i < len; ++i) payload[i] ^= key[i & 3];
    reserve(&c->out, &c->out_cap, c->out_len + len + 10);
    unsigned char *o = c->out + c->out_len;
    size_t oh = 2;
    o[0] = p[0];
    if (len < 126) {
      o[1] = (unsigned char)len;
    } else if (len <= 0xFFFF) {
      o[1] = 126;
      o[2] = (unsigned char)(len >> 8);
      o[3] = (unsigned char)len;
      oh = 4;
    } else {
      o[1] = 127;
      for (int i = 0; i < 8; ++i) o[2 + i] = (unsigned char)((unsigned long long)len >> (56 - 8 * i));
      oh = 10;
    }
    memcpy(o + oh, payload, len);
    c->out_len += oh + len;
    pos += h + len;
  }
  memmove(c->in, c->in + pos, c->in_len - pos);
  c->in_len -= pos;
  return 0;
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
          n->fd = fd;
          struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = n};
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &cev);
        }
        continue;
      }
      int gone = 0;
      for (;;) {
        reserve(&c->in, &c->in_cap, c->in_len + 65536);
        size_t const room = c->in_cap - c->in_len - 1;
        ssize_t r = recv(c->fd, c->in + c->in_len, room, 0);
        if (r < 0) {
          if (errno != EAGAIN) gone = 1;
          break;
        }
        if (r == 0) {
          gone = 1;
          break;
        }
        c->in_len += (size_t)r;
        if (!c->upgraded) {
          int u = upgrade(c);
          if (u < 0) gone = 1;
          if (u <= 0) break;
        }
        if (echo_frames(c) < 0) {
          gone = 1;
          break;
        }
        if ((size_t)r < room) break; /* drained */
      }
      if (!gone && flush_out(c) < 0) gone = 1;
      if (gone) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        drop(c);
      } else if ((c->out_len > 0) != c->want_out) {
        /* Output that did not fit waits for EPOLLOUT; a system call only when that changes. */
        c->want_out = c->out_len > 0;
        struct epoll_event mev = {.events = EPOLLIN | EPOLLRDHUP | (c->want_out ? EPOLLOUT : 0), .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &mev);
      }
    }
  }
}

/* A small epoll load generator for WebSocket echo servers.
 *   loadgen echo PORT PATH CONNECTIONS SIZE INFLIGHT SECONDS [compress] [tls]
 *     keeps INFLIGHT masked text messages of SIZE bytes in flight on each
 *     connection, checks every echo byte for byte, prints
 *     "RATE messages/s ... mb_per_s=X" (the first word is the rate).
 *   loadgen latency PORT PATH CONNECTIONS SIZE SECONDS [compress] [tls]
 *     one message in flight per connection; prints the round trip's
 *     "p50_us=.. p99_us=.. p999_us=.." from a histogram of every echo.
 *   loadgen hold PORT PATH CONNECTIONS SECONDS [compress] [tls]
 *     opens CONNECTIONS idle WebSockets and holds them for SECONDS.
 *   loadgen broadcast PUB_PORT SUB_PORT SUBSCRIBERS SIZE WINDOW SECONDS
 *     one connection to PUB_PORT/publish sends numbered text messages of
 *     SIZE bytes (at least 16); SUBSCRIBERS connections to SUB_PORT/subscribe
 *     must each get every one, in order. A message goes out only while
 *     fewer than WINDOW are not yet delivered to everyone. Prints
 *     "RATE deliveries/s ... p50_us=.." (publish to delivery, every delivery).
 *     It first publishes until every subscriber has heard something, so a
 *     server that subscribes after the handshake (or through Redis) is ready.
 *   loadgen redis REDIS_PORT SIZE SECONDS
 *     Redis pub/sub alone, the floor of the broadcast case through Redis:
 *     PUBLISH on one connection, the message on another, one at a time.
 * "compress" offers permessage-deflate without context takeover: messages
 * go out compressed, and compressed echoes are inflated before the check;
 * the output says whether the server agreed (compressed=0/1).
 * "tls" makes each connection a TLS one (wss://): the handshake, then the
 * upgrade and every frame through OpenSSL. It does not verify the server's
 * certificate: the server is on loopback and this measures it, nothing
 * here is secret.
 * Loopback only: it connects to 127.0.0.1. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <zlib.h>

typedef struct {
  int fd;
  SSL *ssl; /* NULL without "tls" */
  char *in; size_t in_len, in_cap;
  char *out; size_t out_len, out_cap;
  double sent_at; /* latency mode: when the message in flight left */
  /* A fragmented echo (servers may split large messages): the bytes of it
   * seen so far, checked as they come (plain) or gathered (compressed). */
  size_t msg_offset;
  int msg_compressed;
  char *gathered; size_t gathered_len, gathered_cap;
} conn_t;

static size_t msg_size;
static char *frame;  /* one masked frame, reused */
static size_t frame_len;
static char *expect; /* the unmasked payload */
static int offer_compression, compressed; /* offered; agreed by the server */
static SSL_CTX *tls; /* NULL without "tls" */
static z_stream inflater;
static char *inflated;

/* Latency histogram: 1 us buckets up to 10 ms, then 100 us buckets up to 1 s. */
#define FINE 10000
#define COARSE 10000
static long histogram[FINE + COARSE + 1];
static long samples;

static void record(double seconds) {
  long us = (long)(seconds * 1e6);
  long slot = us < FINE ? us : FINE + (us - FINE) / 100;
  if (slot > FINE + COARSE) slot = FINE + COARSE;
  ++histogram[slot];
  ++samples;
}

static double percentile(double p) {
  long want = (long)(p * samples), seen = 0;
  for (long i = 0; i <= FINE + COARSE; ++i) {
    seen += histogram[i];
    if (seen > want) return i < FINE ? (double)i : (double)(FINE + (i - FINE) * 100);
  }
  return -1;
}

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
static void die(const char *what) { perror(what); exit(1); }
static void die_tls(const char *what) {
  fprintf(stderr, "%s: TLS failed\n", what);
  ERR_print_errors_fp(stderr);
  exit(1);
}

static void setup_tls(int idle) {
  /* OpenSSL writes with write(2): a server that goes away would raise
   * SIGPIPE and end the run without a word. */
  signal(SIGPIPE, SIG_IGN);
  tls = SSL_CTX_new(TLS_client_method());
  if (!tls) die_tls("SSL_CTX_new");
  SSL_CTX_set_verify(tls, SSL_VERIFY_NONE, NULL); /* loopback benchmark: see the top */
  /* flush_out() retries a blocked write with its buffer moved (queue()
   * may grow it) and longer (more frames queued since), which OpenSSL
   * allows with these; the prefix it already took stays the same. */
  long mode = SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;
  /* Held connections are only the server's measure: ours need not keep
   * 10,000 pairs of record buffers. */
  if (idle) mode |= SSL_MODE_RELEASE_BUFFERS;
  SSL_CTX_set_mode(tls, mode);
  /* Several records per recv() when they are there. */
  SSL_CTX_set_read_ahead(tls, 1);
}

/* Text that compresses like real text does, not like one repeated byte. */
static void fill_text(char *p, size_t n) {
  static const char *words[] = {"tether ", "socket ", "frame ", "message ", "echo ", "server ", "client ", "data "};
  unsigned x = 12345;
  size_t i = 0;
  while (i < n) {
    x = x * 1103515245u + 12345u;
    const char *w = words[(x >> 16) & 7];
    while (*w && i < n) p[i++] = *w++;
  }
}

/* Writes a masked frame's header for `size` payload bytes (FIN set, RSV1
 * for a compressed message) and returns its length; the key follows. */
static const unsigned char mask_key[4] = {0x37, 0xfa, 0x21, 0x3d};
static size_t put_header(char *out, int opcode, int rsv1, size_t size) {
  size_t h = 2;
  out[0] = (char)(0x80 | (rsv1 ? 0x40 : 0) | opcode);
  if (size < 126) { out[1] = (char)(0x80 | size); }
  else if (size <= 0xFFFF) { out[1] = (char)(0x80 | 126); out[2] = size >> 8; out[3] = size; h = 4; }
  else { out[1] = (char)(0x80 | 127); for (int i = 0; i < 8; ++i) out[2 + i] = (char)((unsigned long long)size >> (56 - 8 * i)); h = 10; }
  memcpy(out + h, mask_key, 4);
  return h + 4;
}

/* The length of the whole frame at `p` (header in `*header`, payload in
 * `*len`), or 0 while it has not all arrived. */
static size_t frame_at(const unsigned char *p, size_t avail, size_t *header, size_t *len) {
  if (avail < 2) return 0;
  size_t n = p[1] & 0x7F, h = 2;
  if (n == 126) { if (avail < 4) return 0; n = (p[2] << 8) | p[3]; h = 4; }
  else if (n == 127) { if (avail < 10) return 0; n = 0; for (int i = 0; i < 8; ++i) n = (n << 8) | p[2 + i]; h = 10; }
  if (avail < h + n) return 0;
  *header = h;
  *len = n;
  return h + n;
}

static void build_frame(void) {
  expect = malloc(msg_size + 1);
  fill_text(expect, msg_size);
  const char *payload = expect;
  size_t size = msg_size;
  char *packed = NULL;
  if (compressed) {
    /* Without context takeover every message compresses to the same bytes. */
    z_stream z = {0};
    deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    packed = malloc(deflateBound(&z, msg_size) + 16);
    z.next_in = (Bytef *)expect; z.avail_in = (uInt)msg_size;
    z.next_out = (Bytef *)packed; z.avail_out = (uInt)(deflateBound(&z, msg_size) + 16);
    deflate(&z, Z_SYNC_FLUSH);
    size = z.total_out - 4; /* without the 00 00 FF FF tail */
    deflateEnd(&z);
    payload = packed;
    inflateInit2(&inflater, -15);
    inflated = malloc(msg_size + 1);
  }
  frame = malloc(size + 14);
  size_t h = put_header(frame, 1, compressed, size);
  for (size_t i = 0; i < size; ++i) frame[h + i] = payload[i] ^ mask_key[i % 4];
  frame_len = h + size;
  free(packed);
}

/* Inflates one compressed echo (the server resets its context per message). */
static int inflate_matches(const unsigned char *p, size_t len) {
  static const unsigned char tail[4] = {0, 0, 0xFF, 0xFF};
  inflateReset(&inflater);
  inflater.next_out = (Bytef *)inflated; inflater.avail_out = (uInt)(msg_size + 1);
  inflater.next_in = (Bytef *)p; inflater.avail_in = (uInt)len;
  int r = inflate(&inflater, Z_SYNC_FLUSH);
  if (r != Z_OK && r != Z_BUF_ERROR && r != Z_STREAM_END) return 0;
  inflater.next_in = (Bytef *)tail; inflater.avail_in = 4;
  inflate(&inflater, Z_SYNC_FLUSH);
  return inflater.total_out == msg_size && memcmp(inflated, expect, msg_size) == 0;
}

/* Blocking reads and writes, for the upgrade (the socket is still blocking). */
static int handshake_write(int fd, SSL *ssl, const char *p, int n) {
  return ssl ? SSL_write(ssl, p, n) : (int)write(fd, p, n);
}

static int handshake_read(int fd, SSL *ssl, char *p, int n) {
  return ssl ? SSL_read(ssl, p, n) : (int)read(fd, p, n);
}

/* With "tls", *ssl gets the connection's TLS state. */
static int open_ws(int port, const char *path, int *agreed, SSL **ssl) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) die("socket");
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) die("connect");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  SSL *s = NULL;
  if (tls) {
    s = SSL_new(tls);
    if (!s || !SSL_set_fd(s, fd)) die_tls("SSL_new");
    if (SSL_connect(s) != 1) die_tls("SSL_connect");
  }
  if (ssl) *ssl = s;
  char req[512];
  int n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n", path, port,
                   offer_compression ? "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
                                       "client_no_context_takeover\r\n" : "");
  if (handshake_write(fd, s, req, n) != n) die("write handshake");
  char resp[2048]; size_t got = 0;
  /* Byte by byte: never swallow a frame. (Through TLS, what follows the
   * response stays in OpenSSL for the next SSL_read.) */
  while (got < sizeof resp - 1) {
    int r = handshake_read(fd, s, resp + got, 1);
    if (r <= 0) die("read handshake");
    got += r; resp[got] = 0;
    if (got >= 4 && memcmp(resp + got - 4, "\r\n\r\n", 4) == 0) break;
  }
  if (strncmp(resp, "HTTP/1.1 101", 12) != 0) { fprintf(stderr, "upgrade refused: %s\n", resp); exit(1); }
  if (agreed) *agreed = strcasestr(resp, "permessage-deflate") != NULL;
  return fd;
}

static void queue(conn_t *c, int count) {
  while (c->out_len + frame_len * count > c->out_cap) { c->out_cap = c->out_cap ? c->out_cap * 2 : 65536; c->out = realloc(c->out, c->out_cap); }
  for (int i = 0; i < count; ++i) { memcpy(c->out + c->out_len, frame, frame_len); c->out_len += frame_len; }
}

/* Through TLS: the bytes SSL_read or SSL_write moved, or 0 when OpenSSL
 * must wait for the socket, in either direction (SSL_write may have to
 * read first, SSL_read to write). Every epoll event, in or out, retries
 * both reading and writing, so whichever readiness it waits for brings
 * the retry. */
static ssize_t tls_result(SSL *ssl, int r, const char *what) {
  if (r > 0) return r;
  switch (SSL_get_error(ssl, r)) {
  case SSL_ERROR_WANT_READ:
  case SSL_ERROR_WANT_WRITE: return 0;
  case SSL_ERROR_ZERO_RETURN: fprintf(stderr, "the server closed a connection\n"); exit(1);
  default: die_tls(what);
  }
  return 0;
}

static void flush_out(conn_t *c) {
  while (c->out_len > 0) {
    ssize_t w;
    if (c->ssl) {
      int chunk = c->out_len > INT_MAX ? INT_MAX : (int)c->out_len;
      w = tls_result(c->ssl, SSL_write(c->ssl, c->out, chunk), "SSL_write");
      if (w == 0) return;
    } else {
      w = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
      if (w < 0) { if (errno == EAGAIN) return; die("send"); }
    }
    memmove(c->out, c->out + w, c->out_len - w); c->out_len -= w;
  }
}

/* One recv into c->in, grown first; 0 when there is nothing more to read
 * now. A connection the server closed ends the run. */
static ssize_t receive_some(conn_t *c) {
  if (c->in_cap - c->in_len < 65536) { c->in_cap *= 2; c->in = realloc(c->in, c->in_cap); }
  if (c->ssl) {
    size_t room = c->in_cap - c->in_len;
    ssize_t r = tls_result(c->ssl, SSL_read(c->ssl, c->in + c->in_len, room > INT_MAX ? INT_MAX : (int)room), "SSL_read");
    c->in_len += r;
    return r;
  }
  ssize_t r = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
  if (r < 0) { if (errno == EAGAIN) return 0; die("recv"); }
  if (r == 0) { fprintf(stderr, "the server closed a connection\n"); exit(1); }
  c->in_len += r;
  return r;
}

static void bad_echo(int opcode, size_t len) {
  fprintf(stderr, "bad echo (opcode %d, %zu bytes)\n", opcode, len);
  exit(1);
}

/* Returns the number of complete, verified echoes consumed. Messages may
 * arrive in several frames. */
static long parse_echoes(conn_t *c) {
  long done = 0; size_t pos = 0;
  for (;;) {
    unsigned char *p = (unsigned char *)c->in + pos;
    size_t h, len;
    if (!frame_at(p, c->in_len - pos, &h, &len)) break;
    int opcode = p[0] & 0x0F, fin = (p[0] & 0x80) != 0;
    if (opcode >= 8) { pos += h + len; continue; } /* control frames (pings) are not echoes */
    if (opcode == 1) { c->msg_offset = 0; c->gathered_len = 0; c->msg_compressed = (p[0] & 0x40) != 0; }
    else if (opcode != 0) bad_echo(opcode, len);
    if (c->msg_compressed) {
      if (!compressed) bad_echo(opcode, len);
      if (c->gathered_len + len > c->gathered_cap) {
        c->gathered_cap = (c->gathered_len + len) * 2;
        c->gathered = realloc(c->gathered, c->gathered_cap);
      }
      memcpy(c->gathered + c->gathered_len, p + h, len);
      c->gathered_len += len;
    } else {
      if (c->msg_offset + len > msg_size || memcmp(p + h, expect + c->msg_offset, len) != 0) bad_echo(opcode, len);
      c->msg_offset += len;
    }
    if (fin) {
      int ok = c->msg_compressed ? inflate_matches((unsigned char *)c->gathered, c->gathered_len) : c->msg_offset == msg_size;
      if (!ok) bad_echo(opcode, len);
      ++done;
    }
    pos += h + len;
  }
  memmove(c->in, c->in + pos, c->in_len - pos); c->in_len -= pos;
  return done;
}


/* ---------------------------------------------------------- broadcast */

#define RING 4096 /* sequence numbers tracked at once; WINDOW must be smaller */
static long delivered_of[RING]; /* deliveries of sequence s, at s % RING */
static double published_at[RING];

typedef struct {
  conn_t c;
  long last; /* last sequence number received; -1 before the first */
} subscriber_t;

static void send_numbered(conn_t *pub, long seq) {
  if (msg_size > 0xFFFF) { fprintf(stderr, "broadcast: SIZE up to 65535\n"); exit(2); }
  while (pub->out_len + 14 + msg_size > pub->out_cap) { pub->out_cap = pub->out_cap ? pub->out_cap * 2 : 65536; pub->out = realloc(pub->out, pub->out_cap); }
  char *frame_out = pub->out + pub->out_len;
  size_t h = put_header(frame_out, 1, 0, msg_size);
  char *payload = frame_out + h;
  char digits[24];
  snprintf(digits, sizeof digits, "%016ld", seq % 10000000000000000L);
  memcpy(payload, digits, 16);
  memset(payload + 16, 'x', msg_size - 16);
  for (size_t i = 0; i < msg_size; ++i) payload[i] ^= mask_key[i % 4];
  pub->out_len += h + msg_size;
  published_at[seq % RING] = now();
  flush_out(pub);
}

/* Reads what has arrived and consumes the whole frames: each must be one
 * text message with the next sequence number. Counts deliveries of
 * sequences from `base` on, and advances `complete_upto` past those that
 * every subscriber has. */
static void read_numbered(subscriber_t *s, long base, long *complete_upto, long subscribers, long *deliveries) {
  conn_t *c = &s->c;
  while (receive_some(c)) {
  }
  size_t pos = 0;
  for (;;) {
    unsigned char *p = (unsigned char *)c->in + pos;
    size_t h, len;
    if (!frame_at(p, c->in_len - pos, &h, &len)) break;
    int opcode = p[0] & 0x0F;
    pos += h + len;
    if (opcode >= 8) continue; /* pings */
    if (opcode != 1 || !(p[0] & 0x80) || len != msg_size) { fprintf(stderr, "broadcast: unexpected frame (opcode %d, %zu bytes)\n", opcode, len); exit(1); }
    char digits[17];
    memcpy(digits, p + h, 16); digits[16] = 0;
    long seq = strtol(digits, NULL, 10);
    if (s->last >= 0 && seq != s->last + 1) { fprintf(stderr, "broadcast: got %ld after %ld\n", seq, s->last); exit(1); }
    s->last = seq;
    if (seq < base) continue; /* warm-up */
    record(now() - published_at[seq % RING]);
    ++*deliveries;
    if (++delivered_of[seq % RING] == subscribers) {
      /* complete in order: sequences complete in order since each
       * subscriber receives in order */
      while (delivered_of[(*complete_upto + 1) % RING] == subscribers) { delivered_of[(*complete_upto + 1) % RING] = 0; ++*complete_upto; }
    }
  }
  memmove(c->in, c->in + pos, c->in_len - pos); c->in_len -= pos;
}

static int broadcast_main(int pub_port, int sub_port, int n, long window, double seconds) {
  if (msg_size < 16) { fprintf(stderr, "broadcast: SIZE at least 16\n"); return 2; }
  if (window < 1 || window >= RING) { fprintf(stderr, "broadcast: WINDOW 1..%d\n", RING - 1); return 2; }
  int ep = epoll_create1(0);
  subscriber_t *subs = calloc(n, sizeof(subscriber_t));
  for (int i = 0; i < n; ++i) {
    subs[i].c.fd = open_ws(sub_port, "/subscribe", NULL, NULL);
    subs[i].last = -1;
    fcntl(subs[i].c.fd, F_SETFL, O_NONBLOCK);
    subs[i].c.in_cap = 1 << 17; subs[i].c.in = malloc(subs[i].c.in_cap);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLET, .data.ptr = &subs[i]};
    epoll_ctl(ep, EPOLL_CTL_ADD, subs[i].c.fd, &ev);
  }
  conn_t pub = {0};
  pub.fd = open_ws(pub_port, "/publish", NULL, NULL);
  fcntl(pub.fd, F_SETFL, O_NONBLOCK);
  struct epoll_event pev = {.events = EPOLLOUT | EPOLLET, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, pub.fd, &pev);

  struct epoll_event evs[256];
  long next = 0, deliveries = 0, complete_upto = -1;
  /* Warm-up: one message at a time until everyone has heard one. */
  double give_up = now() + 15;
  for (;;) {
    int heard = 0;
    for (int i = 0; i < n; ++i) heard += subs[i].last >= 0;
    if (heard == n) break;
    if (now() > give_up) { fprintf(stderr, "broadcast: %d of %d subscribers heard nothing in 15 s\n", n - heard, n); return 1; }
    send_numbered(&pub, next++);
    double until = now() + 0.05;
    while (now() < until) {
      int k = epoll_wait(ep, evs, 256, 10);
      for (int i = 0; i < k; ++i)
        if (evs[i].data.ptr) read_numbered(evs[i].data.ptr, LONG_MAX, &complete_upto, n, &deliveries);
        else flush_out(&pub);
    }
  }
  /* Let what is still on its way arrive, then measure from a clean base. */
  double settle = now() + 0.2;
  while (now() < settle) {
    int k = epoll_wait(ep, evs, 256, 10);
    for (int i = 0; i < k; ++i)
      if (evs[i].data.ptr) read_numbered(evs[i].data.ptr, LONG_MAX, &complete_upto, n, &deliveries);
  }
  long base = next;
  complete_upto = base - 1;
  samples = 0;
  memset(histogram, 0, sizeof histogram);
  double start = now(), end = start + seconds;
  while (now() < end) {
    while (next - complete_upto - 1 < window) send_numbered(&pub, next++);
    int k = epoll_wait(ep, evs, 256, 100);
    for (int i = 0; i < k; ++i)
      if (evs[i].data.ptr) read_numbered(evs[i].data.ptr, base, &complete_upto, n, &deliveries);
      else flush_out(&pub);
  }
  double took = now() - start;
  printf("%.0f deliveries/s (%ld deliveries in %.1f s, %d subscribers, %zu bytes, window %ld) publishes_per_s=%.0f "
         "p50_us=%.0f p99_us=%.0f p999_us=%.0f\n",
         deliveries / took, deliveries, took, n, msg_size, window, (complete_upto - base + 1) / took,
         percentile(0.5), percentile(0.99), percentile(0.999));
  return 0;
}

/* ---------------------------------------------------------- redis floor */

static int connect_to(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) die("connect to redis");
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

/* Reads until `payload` has come, and drops what came before it: enough
 * for the one channel this mode subscribes to. */
static void read_until_payload(int fd, const char *payload, size_t size) {
  static char buf[1 << 20];
  static size_t have = 0;
  for (;;) {
    char *hit = have >= size ? memmem(buf, have, payload, size) : NULL;
    if (hit) {
      size_t used = (size_t)(hit - buf) + size;
      memmove(buf, buf + used, have - used);
      have -= used;
      return;
    }
    ssize_t r = read(fd, buf + have, sizeof buf - have);
    if (r <= 0) die("read from redis");
    have += r;
  }
}

static int redis_main(int port, double seconds) {
  int sub = connect_to(port), pub = connect_to(port);
  const char subscribe[] = "*2\r\n$9\r\nSUBSCRIBE\r\n$5\r\nfloor\r\n";
  if (write(sub, subscribe, sizeof subscribe - 1) < 0) die("write");
  read_until_payload(sub, "floor\r\n:1\r\n", 11);
  char *payload = malloc(msg_size + 1);
  char *command = malloc(msg_size + 64);
  long count = 0;
  double start = now(), end = start + seconds;
  while (now() < end) {
    snprintf(payload, msg_size + 1, "%0*ld", (int)msg_size, count % 1000000000L);
    int n = snprintf(command, msg_size + 64, "*3\r\n$7\r\nPUBLISH\r\n$5\r\nfloor\r\n$%zu\r\n%s\r\n", msg_size, payload);
    double sent = now();
    if (write(pub, command, n) != n) die("write");
    read_until_payload(sub, payload, msg_size);
    record(now() - sent);
    char reply[64];
    if (read(pub, reply, sizeof reply) <= 0) die("read"); /* :1 */
    ++count;
  }
  double took = now() - start;
  printf("%.0f deliveries/s (%ld round trips in %.1f s, %zu bytes) p50_us=%.0f p99_us=%.0f p999_us=%.0f\n", count / took,
         count, took, msg_size, percentile(0.5), percentile(0.99), percentile(0.999));
  return 0;
}

/* The words after a mode's numbers: "compress" and "tls", in any order. */
static int read_options(int argc, char **argv, int first, int idle) {
  int use_tls = 0;
  for (int i = first; i < argc; ++i) {
    if (strcmp(argv[i], "compress") == 0) offer_compression = 1;
    else if (strcmp(argv[i], "tls") == 0) use_tls = 1;
    else { fprintf(stderr, "unknown option %s\n", argv[i]); return 0; }
  }
  if (use_tls) setup_tls(idle);
  return 1;
}

int main(int argc, char **argv) {
  if (argc == 5 && strcmp(argv[1], "redis") == 0) {
    msg_size = strtoul(argv[3], 0, 10);
    return redis_main(atoi(argv[2]), atof(argv[4]));
  }
  if (argc < 6) { fprintf(stderr, "usage: see the comment at the top of loadgen.c\n"); return 2; }
  if (strcmp(argv[1], "broadcast") == 0) {
    if (argc < 8) return 2;
    msg_size = strtoul(argv[5], 0, 10);
    return broadcast_main(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]), atol(argv[6]), atof(argv[7]));
  }
  int hold = strcmp(argv[1], "hold") == 0, latency = strcmp(argv[1], "latency") == 0;
  int port = atoi(argv[2]); const char *path = argv[3]; int n = atoi(argv[4]);
  if (hold) {
    if (!read_options(argc, argv, 6, 1)) return 2;
    conn_t *held = calloc(n, sizeof(conn_t));
    for (int i = 0; i < n; ++i) held[i].fd = open_ws(port, path, NULL, &held[i].ssl);
    printf("holding %d connections\n", n); fflush(stdout);
    sleep(atoi(argv[5]));
    return 0;
  }
  int inflight = 1; double seconds;
  msg_size = strtoul(argv[5], 0, 10);
  if (latency) {
    if (argc < 7) return 2;
    seconds = atof(argv[6]);
    if (!read_options(argc, argv, 7, 0)) return 2;
  } else {
    if (argc < 8) return 2;
    inflight = atoi(argv[6]); seconds = atof(argv[7]);
    if (!read_options(argc, argv, 8, 0)) return 2;
  }
  int ep = epoll_create1(0);
  conn_t *cs = calloc(n, sizeof(conn_t));
  for (int i = 0; i < n; ++i) {
    int agreed = 0;
    cs[i].fd = open_ws(port, path, &agreed, &cs[i].ssl);
    if (i == 0) { compressed = agreed; build_frame(); }
    fcntl(cs[i].fd, F_SETFL, O_NONBLOCK);
    cs[i].in_cap = 1 << 20; cs[i].in = malloc(cs[i].in_cap);
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = &cs[i]};
    epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
  }
  for (int i = 0; i < n; ++i) { cs[i].sent_at = now(); queue(&cs[i], inflight); flush_out(&cs[i]); }
  long total = 0; double start = now(), end = start + seconds;
  struct epoll_event evs[256];
  while (now() < end) {
    int k = epoll_wait(ep, evs, 256, 100);
    for (int i = 0; i < k; ++i) {
      conn_t *c = evs[i].data.ptr;
      while (receive_some(c)) {
        long d = parse_echoes(c);
        total += d;
        if (d) {
          if (latency) { double t = now(); record(t - c->sent_at); c->sent_at = t; }
          queue(c, (int)d);
        }
      }
      flush_out(c);
    }
  }
  double took = now() - start;
  printf("%.0f messages/s (%ld echoes in %.1f s, %d connections x %d in flight, %zu bytes) mb_per_s=%.1f compressed=%d",
         total / took, total, took, n, inflight, msg_size, total * (double)msg_size / took / 1e6, compressed);
  if (latency) printf(" p50_us=%.0f p99_us=%.0f p999_us=%.0f", percentile(0.5), percentile(0.99), percentile(0.999));
  printf("\n");
  return 0;
}

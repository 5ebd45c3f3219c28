/*
 * Baseline "c": a small, fast UDP echo server for Linux.
 *
 * One thread, one blocking socket bound to 127.0.0.1:PORT. It takes up to BATCH datagrams per
 * recvmmsg(2) (MSG_WAITFORONE: it blocks for the first one only, then takes whatever else is
 * already queued), upper-cases the ASCII letters a-z of each in place, and sends every one back
 * to its source with sendmmsg(2). No envelopes, no rate limit, no logging: what a plain batched
 * server costs per datagram on this kernel.
 *
 * With a second argument "gso" ("c-gso" in bench/echo) it also turns on UDP_GRO, so that a
 * train of equal-sized datagrams from one sender (a GSO send, on loopback) arrives as one
 * buffer, and answers each such buffer with one UDP_SEGMENT (GSO) send, as dgram's server
 * does through quinn-udp. Off by default: the origin-style comparison is the plain one.
 *
 * Build: cc -O2 -Wall -Wextra -o echo_mmsg echo_mmsg.c      Usage: echo_mmsg PORT [gso]
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef SOL_UDP
#define SOL_UDP 17
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

#define BATCH 64
#define PLAIN_BUFSZ 2048   /* as the origin's recvfrom(2048) */
#define GRO_BUFSZ 65536    /* a coalesced train is at most 64 KiB */

static unsigned char bufs[BATCH][GRO_BUFSZ];
static struct sockaddr_in addrs[BATCH];
static struct iovec iovs[BATCH];
static struct mmsghdr msgs[BATCH];
static union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
} ctrl[BATCH];

static void upper(unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] >= 'a' && p[i] <= 'z')
            p[i] -= 'a' - 'A';
}

/* The segment size of a GRO train, or 0 for a single datagram. */
static int gro_size(struct msghdr *h)
{
    for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c; c = CMSG_NXTHDR(h, c)) {
        if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
            int size;
            memcpy(&size, CMSG_DATA(c), sizeof size);
            return size;
        }
    }
    return 0;
}

/* Turns message i into a GSO send of `seg`-byte segments. */
static void set_segment(int i, int seg)
{
    uint16_t s = (uint16_t)seg;
    struct msghdr *h = &msgs[i].msg_hdr;
    h->msg_control = ctrl[i].buf;
    h->msg_controllen = CMSG_SPACE(sizeof s);
    struct cmsghdr *c = CMSG_FIRSTHDR(h);
    c->cmsg_level = SOL_UDP;
    c->cmsg_type = UDP_SEGMENT;
    c->cmsg_len = CMSG_LEN(sizeof s);
    memcpy(CMSG_DATA(c), &s, sizeof s);
}

/* When a GSO send is refused, sends its segments one by one. */
static void send_segments(int fd, int i, int seg)
{
    size_t len = iovs[i].iov_len;
    for (size_t off = 0; off < len; off += (size_t)seg) {
        size_t n = len - off < (size_t)seg ? len - off : (size_t)seg;
        while (sendto(fd, bufs[i] + off, n, 0, (struct sockaddr *)&addrs[i],
                      msgs[i].msg_hdr.msg_namelen) < 0 && errno == EINTR)
            ;
    }
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "gso") != 0)) {
        fprintf(stderr, "usage: %s PORT [gso]\n", argv[0]);
        return 2;
    }
    int gso = argc == 3;
    char *end;
    long port = strtol(argv[1], &end, 10);
    if (*argv[1] == '\0' || *end != '\0' || port < 1 || port > 65535) {
        fprintf(stderr, "bad port: %s\n", argv[1]);
        return 2;
    }

    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    if (fd < 0) {
        perror("socket");
        return 1;
    }
    if (gso) {
        int on = 1;
        if (setsockopt(fd, SOL_UDP, UDP_GRO, &on, sizeof on) < 0) {
            perror("setsockopt(UDP_GRO)");
            return 1;
        }
    }
    struct sockaddr_in local;
    memset(&local, 0, sizeof local);
    local.sin_family = AF_INET;
    local.sin_port = htons((unsigned short)port);
    local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) {
        perror("bind");
        return 1;
    }

    int segs[BATCH];
    for (;;) {
        for (int i = 0; i < BATCH; i++) {
            iovs[i].iov_base = bufs[i];
            iovs[i].iov_len = gso ? GRO_BUFSZ : PLAIN_BUFSZ;
            memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
            msgs[i].msg_hdr.msg_name = &addrs[i];
            msgs[i].msg_hdr.msg_namelen = sizeof addrs[i];
            msgs[i].msg_hdr.msg_iov = &iovs[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
            if (gso) {
                msgs[i].msg_hdr.msg_control = ctrl[i].buf;
                msgs[i].msg_hdr.msg_controllen = sizeof ctrl[i].buf;
            }
        }
        int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            perror("recvmmsg");
            return 1;
        }
        for (int i = 0; i < n; i++) {
            /* A datagram longer than the buffer arrives truncated (as with recvfrom(2048)). */
            size_t len = msgs[i].msg_len;
            upper(bufs[i], len);
            iovs[i].iov_len = len;
            segs[i] = gso ? gro_size(&msgs[i].msg_hdr) : 0;
            msgs[i].msg_hdr.msg_control = NULL;
            msgs[i].msg_hdr.msg_controllen = 0;
            msgs[i].msg_hdr.msg_flags = 0;
            if (segs[i] > 0 && len > (size_t)segs[i])
                set_segment(i, segs[i]);
            else
                segs[i] = 0;
        }
        /* sendmmsg may stop early; resume after what went out. A message it refuses is skipped
         * (a lost reply), except a GSO train, which is then sent segment by segment. */
        int done = 0;
        while (done < n) {
            int m = sendmmsg(fd, msgs + done, (unsigned int)(n - done), 0);
            if (m < 0) {
                if (errno == EINTR)
                    continue;
                if (segs[done] > 0)
                    send_segments(fd, done, segs[done]);
                done++;
            } else {
                done += m;
            }
        }
    }
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * udp-echo PORT: send every datagram back to its sender from one UDP
 * socket, forever.  A workload for the network continuity tests (a UDP
 * service keeps its address and socket across a migration); linked
 * statically so that it runs in the busybox image.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_ANY) };
	char buf[512];
	int port = argc > 1 ? atoi(argv[1]) : 0, sock;

	if (port <= 0 || port > 65535) {
		fprintf(stderr, "Usage: udp-echo PORT\n");
		return 2;
	}
	a.sin_port = htons((uint16_t)port);
	sock = socket(AF_INET, SOCK_DGRAM, 0);
	if (sock < 0 || bind(sock, (struct sockaddr *)&a, sizeof(a)) < 0) {
		perror("udp-echo");
		return 1;
	}
	for (;;) {
		struct sockaddr_in peer;
		socklen_t plen = sizeof(peer);
		ssize_t n = recvfrom(sock, buf, sizeof(buf), 0, (struct sockaddr *)&peer, &plen);

		if (n >= 0)
			sendto(sock, buf, (size_t)n, 0, (struct sockaddr *)&peer, plen);
	}
}

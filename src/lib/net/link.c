/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ferry/link.h"

bool ferry_link_exists(const char *dev)
{
	return if_nametoindex(dev) != 0;
}

/* One ioctl round on dev: get with get_req, let fn change ifr, set with set_req. */
static int ioctl_rmw(const char *dev, unsigned long get_req, unsigned long set_req, void (*fn)(struct ifreq *, bool),
                     bool arg)
{
	struct ifreq ifr = { 0 };
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), r = 0;

	if (sock < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (ioctl(sock, get_req, &ifr) < 0) {
		r = -errno;
	} else {
		if (fn)
			fn(&ifr, arg);
		if (ioctl(sock, set_req, &ifr) < 0)
			r = -errno;
	}
	close(sock);
	return r;
}

static void flip_up(struct ifreq *ifr, bool up)
{
	ifr->ifr_flags = (short)(up ? ifr->ifr_flags | IFF_UP : ifr->ifr_flags & ~IFF_UP);
}

int ferry_link_set_up(const char *dev, bool up, struct ferry_err *err)
{
	int r = ioctl_rmw(dev, SIOCGIFFLAGS, SIOCSIFFLAGS, flip_up, up);

	return r < 0 ? ferry_err_sys(err, r, "cannot bring %s %s", dev, up ? "up" : "down") : 0;
}

unsigned ferry_link_mtu(const char *dev)
{
	struct ifreq ifr = { 0 };
	int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	unsigned mtu = 1500;

	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (sock >= 0 && ioctl(sock, SIOCGIFMTU, &ifr) == 0 && ifr.ifr_mtu >= 576 && ifr.ifr_mtu <= 65535)
		mtu = (unsigned)ifr.ifr_mtu;
	if (sock >= 0)
		close(sock);
	return mtu;
}

int ferry_link_pin_mac(const char *dev, struct ferry_err *err)
{
	int r = ioctl_rmw(dev, SIOCGIFHWADDR, SIOCSIFHWADDR, NULL, false);

	return r < 0 ? ferry_err_sys(err, r, "cannot pin the MAC address of %s", dev) : 0;
}

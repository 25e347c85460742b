/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_NFQUEUE_H
#define FERRY_NFQUEUE_H

/*
 * A netfilter queue (NFQUEUE) of the calling thread's network namespace,
 * spoken in raw nfnetlink: bind it (copy mode "meta": packet ids, never
 * payloads), read which packets wait, accept everything up to an id in
 * one batch verdict.  The packets themselves stay in the kernel.
 */

#include <stdbool.h>
#include <stdint.h>

/* A netlink socket bound to queue; -errno on failure. */
int ferry_nfqueue_open(uint16_t queue, uint32_t maxlen);
/* Read what is queued without blocking; raise *max_id (and set *any) for each packet seen. */
void ferry_nfqueue_drain(int fd, uint32_t *max_id, bool *any);
/* Accept every packet of queue up to and including id. */
int ferry_nfqueue_accept_upto(int fd, uint16_t queue, uint32_t id);

#endif

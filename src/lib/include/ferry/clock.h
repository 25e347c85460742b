/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_CLOCK_H
#define FERRY_CLOCK_H

#include <stdint.h>

/* Monotonic milliseconds, for deadlines (never wall-clock: it jumps). */
long long ferry_now_ms(void);
/* Wall-clock milliseconds since the epoch, for timestamps that are stored or compared across hosts. */
uint64_t ferry_wall_ms(void);

#endif

/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_CLOCK_H
#define FERRY_CLOCK_H

/* Monotonic milliseconds, for deadlines (never wall-clock: it jumps). */
long long ferry_now_ms(void);

#endif

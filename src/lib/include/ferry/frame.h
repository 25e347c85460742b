/* SPDX-License-Identifier: GPL-2.0-or-later */
#ifndef FERRY_FRAME_H
#define FERRY_FRAME_H

/*
 * Ferry's frames (docs/PROTOCOL.md §2): an 8-byte header
 *   type u8 | flags u8 (0) | reserved u16 (0) | length u32 (big endian)
 * then `length` payload bytes.  The cap depends on the type and is checked
 * from the header alone, before anything is allocated.  Control payloads are
 * TLV lists (§3).
 */

#include <stddef.h>
#include <stdint.h>

#include "ferry/buf.h"
#include "ferry/err.h"

#define FERRY_FRAME_HEADER_LEN  8
#define FERRY_FRAME_CONTROL_MAX (64 * 1024)
#define FERRY_FRAME_DATA_MAX    (256 * 1024 + 4) /* object index + up to 256 KiB */
#define FERRY_DATA_CHUNK        (256 * 1024)
/* DATA_ZSTD: object index, raw length, one zstd frame no larger than the raw chunk plus slack. */
#define FERRY_FRAME_ZSTD_MAX  (256 * 1024 + 8 + 2048)
#define FERRY_PAGES_PER_FRAME 64

enum ferry_frame_type {
	FERRY_FRAME_REQUEST = 0x10,
	FERRY_FRAME_RESPONSE = 0x11,
	FERRY_FRAME_TICKET = 0x20,
	FERRY_FRAME_MANIFEST = 0x21,
	FERRY_FRAME_DATA = 0x22,
	FERRY_FRAME_END = 0x23,
	FERRY_FRAME_DATA_ZSTD = 0x24,
	/* pre-copy page rounds (PROTOCOL.md §10), before the bundle on the same channel */
	FERRY_FRAME_PAGES_OPEN = 0x25, /* the controller's session ticket */
	FERRY_FRAME_PAGES = 0x26,      /* 1 to 64 raw pages */
	FERRY_FRAME_PAGES_END = 0x27,  /* a round ends: u32 round, u64 pages sent in it; post-copy: all landed */
	/* post-copy, after the commit: the destination's faults, the source's pages */
	FERRY_FRAME_PAGE_GET = 0x28,  /* u64 pid (inside the container), u64 address, u32 pages (1 to 64) */
	FERRY_FRAME_PAGE_DATA = 0x29, /* the same three fields (pages: how many follow), then the pages */
	FERRY_FRAME_ERROR = 0x7f,
};

struct ferry_frame_header {
	uint8_t type;
	uint32_t len;
};

/* Cap of a frame type's payload, 0 for an unknown type. */
size_t ferry_frame_max_len(uint8_t type);
/* Validate a received header: known type, zero flags/reserved, length within the type's cap. */
int ferry_frame_parse_header(const uint8_t hdr[FERRY_FRAME_HEADER_LEN], struct ferry_frame_header *ret,
                             struct ferry_err *err);
void ferry_frame_encode_header(uint8_t hdr[FERRY_FRAME_HEADER_LEN], uint8_t type, uint32_t len);
const char *ferry_frame_type_name(uint8_t type);

/* TLV: tag u16 | length u16 | value.  At most FERRY_TLV_MAX items per payload. */
#define FERRY_TLV_MAX 256

enum ferry_tag {
	FERRY_TAG_OP = 1,                /* u16: the request's operation */
	FERRY_TAG_STATUS = 2,            /* u32: 0 ok, else a positive errno */
	FERRY_TAG_MESSAGE = 3,           /* text */
	FERRY_TAG_NODE = 4,              /* node name */
	FERRY_TAG_SECRET = 5,            /* 32 bytes */
	FERRY_TAG_CSR = 6,               /* DER */
	FERRY_TAG_CERT = 7,              /* DER */
	FERRY_TAG_CA_CERT = 8,           /* DER */
	FERRY_TAG_PEER = 9,              /* 32-byte node id then the node name */
	FERRY_TAG_TTL = 10,              /* u64 seconds */
	FERRY_TAG_TOKEN = 11,            /* text */
	FERRY_TAG_CONTROLLER_ID = 12,    /* 32 bytes */
	FERRY_TAG_ADDRESS = 13,          /* text "a.b.c.d:port" */
	FERRY_TAG_VERSION = 14,          /* u64 */
	FERRY_TAG_TICKET = 15,           /* ticket bytes */
	FERRY_TAG_GENERATION = 16,       /* u64 */
	FERRY_TAG_CONTAINER = 17,        /* text */
	FERRY_TAG_MODE = 18,             /* u64 */
	FERRY_TAG_MEMORY = 19,           /* u64 bytes */
	FERRY_TAG_DISK = 20,             /* u64 bytes */
	FERRY_TAG_HASH = 21,             /* 32 bytes */
	FERRY_TAG_SOURCE = 22,           /* node name */
	FERRY_TAG_DEST = 23,             /* node name */
	FERRY_TAG_ARG = 24,              /* text, repeatable: a command's arguments in order */
	FERRY_TAG_IMAGE = 25,            /* image name */
	FERRY_TAG_FLAGS = 26,            /* u64 */
	FERRY_TAG_PROBE = 27,            /* text: readiness probe "tcp:PORT" or "exec:CMD ARGS" */
	FERRY_TAG_STATE = 28,            /* text */
	FERRY_TAG_PID = 29,              /* u64 */
	FERRY_TAG_DATA = 30,             /* bytes (log tail, command output) */
	FERRY_TAG_RECORD = 31,           /* a nested TLV list; repeatable */
	FERRY_TAG_PHASE = 32,            /* text */
	FERRY_TAG_MIGRATION = 33,        /* u64 migration id */
	FERRY_TAG_TOTAL_MS = 34,         /* u64 */
	FERRY_TAG_DOWNTIME_MS = 35,      /* u64 */
	FERRY_TAG_CHECKPOINT_MS = 36,    /* u64 */
	FERRY_TAG_TRANSFER_MS = 37,      /* u64 */
	FERRY_TAG_RESTORE_MS = 38,       /* u64 */
	FERRY_TAG_BYTES_IMAGE = 39,      /* u64 */
	FERRY_TAG_BYTES_WIRE = 40,       /* u64 */
	FERRY_TAG_ROUNDS = 41,           /* u64 */
	FERRY_TAG_TIME = 42,             /* u64 unix seconds */
	FERRY_TAG_RESULT = 43,           /* text */
	FERRY_TAG_LAYER = 44,            /* 32-byte layer digest; repeatable */
	FERRY_TAG_EXIT = 45,             /* u64 exit status */
	FERRY_TAG_PARALLEL = 46,         /* u64 */
	FERRY_TAG_SIZE = 47,             /* u64 bytes */
	FERRY_TAG_NET_ADDR = 48,         /* 5 bytes: IPv4 address (network order) and prefix length */
	FERRY_TAG_MAC = 49,              /* 6 bytes */
	FERRY_TAG_MAX_DOWNTIME_MS = 50,  /* u64: pre-copy's budget for the final round */
	FERRY_TAG_BANDWIDTH = 51,        /* u64 bytes per second, 0 = unlimited */
	FERRY_TAG_MAX_ROUNDS = 52,       /* u64 */
	FERRY_TAG_ROUND_BYTES = 53,      /* u64, repeatable: bytes of each pre-copy round in order */
	FERRY_TAG_ROUND_BYTES_TEXT = 54, /* text "a,b,c": the same in a migration record */
	FERRY_TAG_NOTE = 55,             /* text: why pre-copy's rounds ended */
	FERRY_TAG_SEQ = 56,              /* u64: an audit entry's number; in a verdict, how many entries */
	FERRY_TAG_ACTOR = 57,            /* text: who (admin:CN, node:NAME, controller) */
	FERRY_TAG_ACTION = 58,           /* text */
	FERRY_TAG_SUBJECT = 59,          /* text: the container, node or image acted on */
	FERRY_TAG_DETAIL = 60,           /* text */
	FERRY_TAG_BAD_SEQ = 61,          /* u64: the first audit entry found wrong (0: the head file) */
	FERRY_TAG_RX_BYTES = 62,         /* u64 counter */
	FERRY_TAG_TX_BYTES = 63,         /* u64 counter */
	FERRY_TAG_RX_PACKETS = 64,       /* u64 counter */
	FERRY_TAG_TX_PACKETS = 65,       /* u64 counter */
	FERRY_TAG_CPU_BUSY = 66,         /* u64: busy CPU time since boot, USER_HZ ticks */
	FERRY_TAG_CPU_TOTAL = 67,        /* u64: all CPU time since boot, USER_HZ ticks */
	FERRY_TAG_IFACE = 68,            /* text: an interface name */
	FERRY_TAG_TIME_MS = 69,          /* u64: the sender's monotonic clock, ms */
	FERRY_TAG_COUNT = 70,            /* u64 */
	FERRY_TAG_POLICY = 71,           /* text: a placement policy's name */
	FERRY_TAG_SCORE = 72,            /* text: a decimal, higher is better */
	FERRY_TAG_BOTTLENECK_BPS = 73,   /* u64 bits/s */
	FERRY_TAG_LATENCY_US = 74,       /* u64 µs: a path's latency; in NODE_STATS, a round trip */
	FERRY_TAG_LATENCY_FROM = 75,     /* text: "measured" or "file" */
	FERRY_TAG_HOPS = 76,             /* u64 */
	FERRY_TAG_LOAD_PERMILLE = 77,    /* u64: CPU load, 0 to 1000 */
	FERRY_TAG_SEVERITY = 78,         /* u64: an intrusion alert's severity, 1 (the most severe) to 255 */
	FERRY_TAG_SRC_ADDR = 79,         /* text: dotted IPv4 */
	FERRY_TAG_DST_ADDR = 80,         /* text: dotted IPv4 */
	FERRY_TAG_SID = 81,              /* text: the IDS rule, "gid:sid:rev" */
	FERRY_TAG_SIGNATURE = 82,        /* text: the IDS rule's message */
	FERRY_TAG_VERDICT = 83,          /* text: what the controller made of an alert */
	FERRY_TAG_REPORTER = 84,         /* text: who reported an alert (a node, or admin:CN) */
	FERRY_TAG_SHARE = 85,            /* 33 bytes: a Shamir share, x then y (ferry/shamir.h) */
	FERRY_TAG_NONCE = 86,            /* 16 bytes: a share request's, echoed in its answer */
	FERRY_TAG_EPOCH = 87,            /* u64: a moving-target defense epoch */
	FERRY_TAG_DURATION_MS = 88,      /* u64 ms */
	FERRY_TAG_DEST_DECOY = 89,       /* name: a host a decoy stream went to */
};

/* FLAGS of a migration (MIGRATE, MIG_OUT) */
#define FERRY_MIG_PROGRESS      0x1u /* MIGRATE: relay progress to the operator */
#define FERRY_MIG_AUTO_CONVERGE 0x2u /* pre-copy may cap the container's CPU until it converges */
#define FERRY_MIG_POSTCOPY_OK   0x4u /* MIG_OUT, mode auto: the controller allows post-copy */

enum ferry_op {
	FERRY_OP_PING = 1,
	FERRY_OP_ENROLL = 2,
	FERRY_OP_ALLOWLIST_SET = 3,
	FERRY_OP_TOKEN_CREATE = 4,
	FERRY_OP_NODE_REMOVE = 5,
	FERRY_OP_NODE_LIST = 6,
	FERRY_OP_TICKET_ISSUE = 7,
	/* admin API (ferry-api) */
	FERRY_OP_IMAGE_IMPORT = 8, /* followed by an unticketed bundle of one object, the layer tar */
	FERRY_OP_IMAGE_LIST = 9,
	FERRY_OP_RUN = 10,
	FERRY_OP_PS = 11,
	FERRY_OP_LOGS = 12,
	FERRY_OP_STOP = 13,
	FERRY_OP_RM = 14,
	FERRY_OP_EXEC = 15,
	FERRY_OP_MIGRATE = 16,
	FERRY_OP_EVACUATE = 17,
	FERRY_OP_HISTORY = 18,
	FERRY_OP_NODES = 19,
	FERRY_OP_AUDIT = 20,            /* the newest entries of the audit log */
	FERRY_OP_AUDIT_VERIFY = 21,     /* walk the audit log's hash chain */
	FERRY_OP_POLICY_EXPLAIN = 22,   /* a container's candidate destinations, scored, with their data */
	FERRY_OP_DECISIONS = 23,        /* the manager's newest decisions, or one (SEQ) with its inputs */
	FERRY_OP_ALERT = 24,            /* an intrusion alert: from an admin, or from a node about its own host */
	FERRY_OP_ALERTS = 25,           /* the newest alerts with their verdicts */
	FERRY_OP_NODE_RELEASE = 26,     /* end a node's quarantine */
	FERRY_OP_QUARANTINE = 27,       /* the nodes in quarantine */
	FERRY_OP_MTD_MOVE = 28,         /* move a container to a destination the security mode draws */
	FERRY_OP_MTD_STATUS = 29,       /* the current epoch: mode, k, hosts */
	FERRY_OP_SNAPSHOT = 30,         /* a forensic snapshot of a container, encrypted to the operator's key */
	FERRY_OP_SNAPSHOT_RESTORE = 31, /* a snapshot's opened contents, restored as an isolated copy on a node */
	/* node commands (ferry-ctl) */
	FERRY_OP_NODE_INFO = 32,
	FERRY_OP_LAYER_PUT = 33, /* followed by an unticketed bundle: layers/<digest>.tar */
	FERRY_OP_CT_RUN = 34,
	FERRY_OP_CT_LIST = 35,
	FERRY_OP_CT_LOGS = 36,
	FERRY_OP_CT_STOP = 37,
	FERRY_OP_CT_RM = 38,
	FERRY_OP_CT_EXEC = 39,
	FERRY_OP_MIG_OUT = 40,    /* the source's side of a migration (a conversation, PROTOCOL.md §9) */
	FERRY_OP_MIG_TICKET = 41, /* the controller's ticket, inside MIG_OUT */
	FERRY_OP_CT_RESUME = 42,  /* resume a container left paused by an unfinished migration */
	FERRY_OP_NET_PREPARE =
	    43,                   /* destination, before the freeze: the container's network, link down, packets held */
	FERRY_OP_NET_CLAIM = 44,  /* destination, at the freeze: link up and announce; packets wait for the copy */
	FERRY_OP_NET_DROP = 45,   /* destination, the migration failed: give the address back */
	FERRY_OP_NODE_STATS = 46, /* load and traffic counters, for the controller's measurement */
	FERRY_OP_MTD_EPOCH = 47,  /* an epoch's shares, sealed lookup table and peers for this node */
	FERRY_OP_MTD_DRAW = 48,   /* collect k shares, open the table, say where the random number points */
	FERRY_OP_CT_SNAPSHOT = 50, /* a forensic snapshot of a running container, then the file as a bundle */
	FERRY_OP_MTD_DECOY = 51,   /* send a decoy stream to a peer while a container moves elsewhere */
	FERRY_OP_CT_RESTORE = 53,  /* followed by an unticketed bundle: a snapshot's contents, restored isolated */
	/* node to node (ferry-mtd) */
	FERRY_OP_MTD_SHARE = 49,      /* one share, for a draw the controller signed */
	FERRY_OP_MTD_DECOY_DATA = 52, /* a decoy stream: SIZE bytes of DATA frames, discarded */
};

struct ferry_tlv {
	uint16_t tag;
	uint16_t len;
	const uint8_t *value; /* points into the parsed payload */
};

struct ferry_tlv_list {
	unsigned n;
	struct ferry_tlv items[FERRY_TLV_MAX];
};

/* Parse a whole payload into items (views into p, which must outlive ret). */
int ferry_tlv_parse(const uint8_t *p, size_t len, struct ferry_tlv_list *ret, struct ferry_err *err);
/* First item with tag, or NULL. */
const struct ferry_tlv *ferry_tlv_find(const struct ferry_tlv_list *l, uint16_t tag);
/* Text value: printable ASCII only, at most len-1 bytes; -ENOENT when absent. */
int ferry_tlv_get_str(const struct ferry_tlv_list *l, uint16_t tag, char *ret, size_t len, struct ferry_err *err);
/* Fixed-size binary value of exactly n bytes. */
/* The same check for one item (repeatable fields). */
int ferry_tlv_item_str(const struct ferry_tlv *t, char *ret, size_t len, struct ferry_err *err);
int ferry_tlv_get_fixed(const struct ferry_tlv_list *l, uint16_t tag, void *ret, size_t n, struct ferry_err *err);
int ferry_tlv_get_u64(const struct ferry_tlv_list *l, uint16_t tag, uint64_t *ret, struct ferry_err *err);

int ferry_tlv_add(struct ferry_buf *b, uint16_t tag, const void *v, size_t len);
int ferry_tlv_add_str(struct ferry_buf *b, uint16_t tag, const char *s);
int ferry_tlv_add_u64(struct ferry_buf *b, uint16_t tag, uint64_t v);
int ferry_tlv_add_u32(struct ferry_buf *b, uint16_t tag, uint32_t v);
int ferry_tlv_add_u16(struct ferry_buf *b, uint16_t tag, uint16_t v);

#endif

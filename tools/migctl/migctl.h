/* SPDX-License-Identifier: GPL-2.0 */
/*
 * migctl's private header: the types, globals and functions its files
 * share.  One job a file:
 *
 *   migctl.c   the commands, the command line, main()
 *   mc_out.c   messages, JSON fields, the progress line
 *   mc_file.c  the file format: header, CRC-32, identity checks
 *   mc_dev.c   opening a device; the protocol-neutral state and step
 *              helpers
 *   mc_xfer.c  the save sequence (to a file, a device or both) and the
 *              end of a resume
 *
 * What one file alone uses stays static there.
 */
#ifndef MIGCTL_H
#define MIGCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libmig.h"

/* Exit codes, by cause (also in usage() and docs/MIGCTL.md). */
#define EX_OK		0
#define EX_USAGE	1	/* bad command line */
#define EX_NODEV	2	/* no such device, busy, or no migration */
#define EX_DEVERR	3	/* the device is (or went) in ERROR */
#define EX_BADFILE	4	/* bad/truncated file, or for another device */
#define EX_IO		5	/* I/O or protocol error */

/* The file format: see mc_file.c. */
#define MC_MAGIC	"MIGCTL\r\n"
#define MC_VERSION	1
#define MC_CSUM_CRC32	1
#define MC_FLAG_LIVE	(1U << 0)
#define MC_FLAG_DIGEST	(1U << 1)
#define MC_FLAG_V2	(1U << 2)	/* saved through protocol v2 */
#define MC_TYPE_LEN	64

/**
 * struct migctl_file_hdr - the head of a migctl file (little endian)
 * @magic: MC_MAGIC
 * @version: MC_VERSION
 * @hdr_len: sizeof(struct migctl_file_hdr); the stream starts here
 * @vendor: PCI vendor ID of the source (config space 0x00)
 * @device: PCI device ID (0x02)
 * @subvendor: subsystem vendor ID (0x2c)
 * @subdevice: subsystem ID (0x2e)
 * @region_type: migration region type (VFIO_REGION_INFO_CAP_TYPE), 0 when
 *               the source has no region (protocol v2 only)
 * @region_subtype: its subtype
 * @dev_type: mdev type of the source ("mig_mdev-small"), NUL-padded
 * @stream_len: bytes of stream after the header
 * @precopy_bytes: of which saved in PRECOPY / PRE_COPY
 * @stopcopy_bytes: of which saved in SAVING / STOP_COPY
 * @section_size: data section of the source (0 without a region)
 * @digest: the source's sysfs digest when it stopped (MC_FLAG_DIGEST)
 * @passes: pre-copy passes
 * @flags: MC_FLAG_*
 * @csum_type: MC_CSUM_CRC32 (CRC-32/IEEE, as zlib and cksum -a crc32b)
 * @stream_csum: checksum of the stream
 * @hdr_csum: CRC-32 of the header up to this field
 * @reserved: zero
 */
struct migctl_file_hdr {
	char magic[8];
	uint32_t version;
	uint32_t hdr_len;
	uint16_t vendor;
	uint16_t device;
	uint16_t subvendor;
	uint16_t subdevice;
	uint32_t region_type;
	uint32_t region_subtype;
	char dev_type[MC_TYPE_LEN];
	uint64_t stream_len;
	uint64_t precopy_bytes;
	uint64_t stopcopy_bytes;
	uint64_t section_size;
	uint64_t digest;
	uint32_t passes;
	uint32_t flags;
	uint32_t csum_type;
	uint32_t stream_csum;
	uint32_t hdr_csum;
	uint32_t reserved;
};

_Static_assert(sizeof(struct migctl_file_hdr) == 160, "file header layout");

/* Options shared by the subcommands. */
struct mc_opts {
	bool json;
	bool live;
	bool run;
	bool force;
	bool rehash;
	int path;		/* -1: auto, else enum mig_path */
	bool path_given;	/* --mmap or --pread: protocol v1 */
	enum libmig_proto proto;	/* --protocol */
	unsigned int max_passes;
};

/* The command-line options (defined in migctl.c). */
extern struct mc_opts opt;
/* stderr is a terminal: draw a progress bar (defined in mc_out.c). */
extern bool tty;

/**
 * struct mc_progress - what a transfer has done so far
 * @what: "save", "load", "migrate"
 * @bytes: bytes moved
 * @total: bytes expected (0: unknown; then @pending gives the fraction)
 * @pending: the device's pending_bytes after the last chunk
 * @pass: current pass (0: stop-and-copy)
 * @t0: start time
 * @drawn: time of the last redraw
 */
struct mc_progress {
	const char *what;
	uint64_t bytes;
	uint64_t total;
	uint64_t pending;
	unsigned int pass;
	double t0;
	double drawn;
};

/**
 * struct mc_dev - an open device and what migctl learnt about it
 * @d: libmig's device
 * @name: as given on the command line
 * @has_sparse: the region offers the sparse-mmap capability
 * @rtype: region type of the migration region
 * @rsubtype: its subtype
 * @flags: its VFIO_REGION_INFO_FLAG_*
 * @vendor: PCI IDs from config space
 * @device: PCI device ID
 * @subvendor: subsystem vendor ID
 * @subdevice: subsystem ID
 * @dev_type: mdev type name, or ""
 * @path: data path chosen for this device
 */
struct mc_dev {
	struct mig_dev d;
	const char *name;
	bool has_sparse;
	uint32_t rtype, rsubtype, flags;
	uint16_t vendor, device, subvendor, subdevice;
	char dev_type[MC_TYPE_LEN];
	enum mig_path path;
};

/**
 * struct mc_file - an open migctl file, header checked
 * @fd: the file
 * @h: its header, in host order
 * @size: file size
 */
struct mc_file {
	int fd;
	struct migctl_file_hdr h;
	uint64_t size;
};

/**
 * struct mc_sink - where saved chunks go
 * @fd: the file, or -1
 * @dst: the destination device, or NULL
 * @dst_err: the error of the destination, if it failed
 * @file_err: the error of the file, if writing it failed
 * @crc: CRC-32 of what went by
 * @pg: the progress display
 */
struct mc_sink {
	int fd;
	struct mc_dev *dst;
	int dst_err;
	int file_err;
	uint32_t crc;
	struct mc_progress *pg;
};

/**
 * struct mc_save_stats - what a save did
 * @live: pre-copy ran (--live, and the device offers it)
 * @passes: pre-copy passes
 * @precopy_bytes: bytes saved in PRECOPY / PRE_COPY
 * @stopcopy_bytes: bytes saved in SAVING / STOP_COPY
 * @precopy_secs: time in pre-copy
 * @stopcopy_secs: time from leaving pre-copy (or RUNNING) to STOP: the
 *                 device's share of a live migration's downtime
 * @digest: the source's digest when stopped, if @has_digest
 * @has_digest: the device has a digest attribute
 */
struct mc_save_stats {
	bool live;
	unsigned int passes;
	uint64_t precopy_bytes;
	uint64_t stopcopy_bytes;
	double precopy_secs;
	double stopcopy_secs;
	uint64_t digest;
	bool has_digest;
};

/* ---- mc_out.c: messages, time, JSON fields, the progress line ---- */

/* "migctl: MESSAGE" on stderr; returns @code, an EX_* for the caller. */
__attribute__((format(printf, 2, 3)))
int fail(int code, const char *fmt, ...);
/* A human-readable line on stdout; nothing with --json. */
__attribute__((format(printf, 1, 2)))
void say(const char *fmt, ...);
/* CLOCK_MONOTONIC, in seconds. */
double now(void);
/* @bytes in MiB. */
double mib(uint64_t bytes);
/* One "key": value line of a JSON object; @last: no comma after it. */
void json_str(const char *key, const char *val, bool last);
void json_u64(const char *key, uint64_t val, bool last);
void json_dbl(const char *key, double val, bool last);
void json_bool(const char *key, bool val, bool last);
/* Redraw the progress line on a tty (at most every 0.1 s unless @force). */
void progress_draw(struct mc_progress *pg, bool force);
/* Erase the progress line. */
void progress_done(void);

/* ---- mc_file.c: the file format ---- */

/* Fill the CRC-32 tables; main() calls it first. */
void crc32_init(void);
/* Continue a CRC-32 (IEEE, as zlib): start with crc32_update(0, ...). */
uint32_t crc32_update(uint32_t crc, const void *buf, size_t len);
/* The CRC-32 of a little-endian header up to its hdr_csum field. */
uint32_t hdr_csum(const struct migctl_file_hdr *h);
/* Host order to little endian, all but hdr_csum (and back: same swaps). */
void hdr_to_le(struct migctl_file_hdr *h);
/* Open a file and check its header and length (@verify: and checksum). */
int mc_file_open(struct mc_file *f, const char *name, int flags, bool verify);
/* Copy a device's identity (PCI IDs, region type, mdev type) into @h. */
void fill_ident(struct migctl_file_hdr *h, const struct mc_dev *m);
/* Does @h (of a file or source device, @what) fit @m?  --force: warn. */
int check_ident(const struct migctl_file_hdr *h, const struct mc_dev *m,
		const char *what);

/* ---- mc_dev.c: devices, states, failed steps ---- */

/* A sysfs attribute of device @name into @buf, "" when it has none. */
int read_attr(const char *name, const char *attr, char *buf, size_t len);
/* The device's sysfs digest (mig-mdev); false when it has none. */
bool read_digest(const char *name, uint64_t *digest);
/* The protocol asked for: --protocol, or v1 for --mmap and --pread. */
enum libmig_proto mc_want(void);
/* Open device @name (UUID or sysfs path), choose protocol and data path. */
int mc_open(struct mc_dev *m, const char *name);
/* The data path in use: "mmap", "pread" (v1) or "data_fd" (v2). */
const char *path_name(const struct mc_dev *m);
/* The protocol in use: "v1" or "v2". */
const char *proto_name(const struct mc_dev *m);
/* How to leave ERROR, for messages (a static buffer). */
const char *remedy(const char *name);
/* EX_DEVERR, said, when the device is in ERROR; else EX_OK. */
int mc_check_not_error(struct mc_dev *m);
/* Report failed @step: EX_DEVERR with the remedy if in ERROR, else @code. */
int mc_step_failed(struct mc_dev *m, const char *step, int ret, int code);
/* Report the failure of libmig's last state request. */
int mc_req_failed(struct mc_dev *m, int ret);
/* Request @state; a failure is reported. */
int mc_set_state(struct mc_dev *m, uint32_t state);

/* ---- mc_xfer.c: transfers ---- */

/* Save @m (live with --live) to @s, ending in STOP; fills @st. */
int mc_save(struct mc_dev *m, struct mc_sink *s, struct mc_save_stats *st);
/* Leave RESUMING (STOP, or RUNNING with --run) and say the verdict. */
int mc_finish_resume(struct mc_dev *m, uint64_t src_digest, bool has_src,
		     bool *match, uint64_t *digest, bool *has_digest);

#endif /* MIGCTL_H */

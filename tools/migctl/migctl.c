// SPDX-License-Identifier: GPL-2.0
/*
 * migctl: a command-line client of VFIO migration, protocol v1 and v2.
 *
 * Lists mdev devices, shows what migration a device offers, reads and
 * requests device states, saves a device's migration stream to a file,
 * loads one into a device and migrates one device into another, live or
 * stopped.  It drives any vendor's v1 region or v2 interface through
 * libmig, the same commands, output and exit codes for both (--protocol;
 * by default v2 when the device offers it, as QEMU 8.0 and later do); the
 * few things it reads from mig-mdev's sysfs (migration_state, digest) are
 * used only when they exist.  See docs/MIGCTL.md.
 *
 * This file holds the commands, the command line and main(); migctl.h
 * names the others (output, the file format, devices, transfers).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/vfio.h>

#include "migctl.h"

#define MC_MDEV_BUS	"/sys/class/mdev_bus"
#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

struct mc_opts opt = { .path = -1, .max_passes = 16 };

/* ------------------------------------------------------------------ */
/* Subcommands                                                         */
/* ------------------------------------------------------------------ */

/* The JSON fields a save and a migrate share. */
static void json_transfer(const struct mc_dev *m,
			  const struct mc_save_stats *st,
			  const struct mc_progress *pg, double secs)
{
	json_str("protocol", proto_name(m), false);
	json_str("path", path_name(m), false);
	json_bool("live", st->live, false);
	json_u64("passes", st->passes, false);
	json_u64("bytes", pg->bytes, false);
	json_u64("precopy_bytes", st->precopy_bytes, false);
	json_u64("stopcopy_bytes", st->stopcopy_bytes, false);
	json_dbl("seconds", secs, false);
	json_dbl("stopcopy_seconds", st->stopcopy_secs, false);
	json_dbl("mib_per_s", secs > 0 ? mib(pg->bytes) / secs : 0, false);
}

static int cmd_save(const char *uuid, const char *file)
{
	struct mc_progress pg = { .what = "save", .t0 = now() };
	struct mc_sink s = { .fd = -1, .pg = &pg };
	struct migctl_file_hdr h = { 0 };
	struct mc_save_stats st;
	struct mc_dev m;
	double secs;
	int ret;

	ret = mc_open(&m, uuid);
	if (ret)
		return ret;
	s.fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (s.fd < 0) {
		ret = fail(EX_IO, "%s: %s", file, strerror(errno));
		goto out;
	}
	if (lseek(s.fd, sizeof(h), SEEK_SET) < 0) {
		ret = fail(EX_IO, "%s: %s", file, strerror(errno));
		goto out;
	}
	ret = mc_save(&m, &s, &st);
	progress_done();
	if (ret)
		goto out;
	secs = now() - pg.t0;

	memcpy(h.magic, MC_MAGIC, sizeof(h.magic));
	h.version = MC_VERSION;
	h.hdr_len = sizeof(h);
	fill_ident(&h, &m);
	h.stream_len = pg.bytes;
	h.precopy_bytes = st.precopy_bytes;
	h.stopcopy_bytes = st.stopcopy_bytes;
	h.section_size = m.d.section_size;
	h.digest = st.digest;
	h.passes = st.passes;
	h.flags = (st.live ? MC_FLAG_LIVE : 0) |
		  (st.has_digest ? MC_FLAG_DIGEST : 0) |
		  (m.d.proto == LIBMIG_PROTO_V2 ? MC_FLAG_V2 : 0);
	h.csum_type = MC_CSUM_CRC32;
	h.stream_csum = s.crc;
	hdr_to_le(&h);
	h.hdr_csum = htole32(hdr_csum(&h));
	if (pwrite(s.fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) ||
	    fsync(s.fd)) {
		ret = fail(EX_IO, "%s: writing the header: %s", file,
			   strerror(errno));
		goto out;
	}

	if (opt.json) {
		printf("{\n");
		json_str("command", "save", false);
		json_str("device", uuid, false);
		json_str("file", file, false);
		json_transfer(&m, &st, &pg, secs);
		printf("  \"crc32\": \"%08x\",\n", s.crc);
		if (st.has_digest)
			printf("  \"digest\": \"%016" PRIx64 "\",\n",
			       st.digest);
		json_str("state", "STOP", true);
		printf("}\n");
	} else {
		say("saved %s to %s: %" PRIu64 " bytes (%" PRIu64 " pre-copy in %u passes, %" PRIu64 " stop-and-copy) in %.3f s, %.1f MiB/s via %s (protocol %s), crc32 %08x\n",
		    uuid, file, pg.bytes, st.precopy_bytes, st.passes,
		    st.stopcopy_bytes, secs,
		    secs > 0 ? mib(pg.bytes) / secs : 0.0, path_name(&m),
		    proto_name(&m), s.crc);
	}
out:
	if (s.fd >= 0)
		close(s.fd);
	if (ret && s.fd >= 0)
		unlink(file);
	mig_dev_close(&m.d);
	return ret;
}

static int cmd_load(const char *uuid, const char *file)
{
	struct mc_progress pg = { .what = "load", .t0 = now() };
	uint64_t off = 0, digest = 0;
	struct mc_file f = { .fd = -1 };
	bool match, has_digest;
	struct mc_dev m;
	uint8_t *buf = NULL;
	size_t bufsz;
	double secs;
	int ret;

	ret = mc_file_open(&f, file, O_RDONLY, true);
	if (ret)
		goto out_file;
	ret = mc_open(&m, uuid);
	if (ret)
		goto out_file;
	ret = check_ident(&f.h, &m, file);
	if (ret)
		goto out;
	ret = mc_check_not_error(&m);
	if (ret)
		goto out;
	bufsz = libmig_chunk(&m.d);
	buf = malloc(bufsz);
	if (!buf) {
		ret = fail(EX_IO, "out of memory");
		goto out;
	}
	pg.total = f.h.stream_len;
	ret = libmig_resume_begin(&m.d);
	if (ret) {
		ret = mc_req_failed(&m, ret);
		goto out;
	}
	while (off < f.h.stream_len) {
		size_t want = bufsz;
		ssize_t n;

		if (want > f.h.stream_len - off)
			want = f.h.stream_len - off;
		n = pread(f.fd, buf, want, f.h.hdr_len + off);
		if (n <= 0) {
			ret = fail(n ? EX_IO : EX_BADFILE, "%s: %s", file,
				   n ? strerror(errno) : "truncated");
			goto out;
		}
		ret = libmig_resume_feed(&m.d, m.path, buf, n);
		if (ret) {
			char step[96];

			snprintf(step, sizeof(step),
				 "feeding the stream at byte %" PRIu64, off);
			ret = mc_step_failed(&m, step, ret,
					     ret == -EINVAL ? EX_BADFILE : EX_IO);
			goto out;
		}
		off += n;
		pg.bytes = off;
		progress_draw(&pg, false);
	}
	progress_done();
	ret = mc_finish_resume(&m, f.h.digest, f.h.flags & MC_FLAG_DIGEST,
			       &match, &digest, &has_digest);
	if (ret)
		goto out;
	secs = now() - pg.t0;
	if (opt.json) {
		printf("{\n");
		json_str("command", "load", false);
		json_str("device", uuid, false);
		json_str("file", file, false);
		json_str("protocol", proto_name(&m), false);
		json_str("path", path_name(&m), false);
		json_u64("bytes", off, false);
		json_dbl("seconds", secs, false);
		json_dbl("mib_per_s", secs > 0 ? mib(off) / secs : 0, false);
		if (f.h.flags & MC_FLAG_DIGEST)
			printf("  \"source_digest\": \"%016" PRIx64 "\",\n",
			       (uint64_t)f.h.digest);
		if (has_digest)
			printf("  \"digest\": \"%016" PRIx64 "\",\n", digest);
		json_bool("digest_match", match, false);
		json_str("verdict", "accepted", false);
		json_str("state", opt.run ? "RUNNING" : "STOP", true);
		printf("}\n");
	} else {
		say("loaded %s into %s: %" PRIu64 " bytes in %.3f s, %.1f MiB/s via %s (protocol %s)\n",
		    file, uuid, off, secs, secs > 0 ? mib(off) / secs : 0.0,
		    path_name(&m), proto_name(&m));
	}
out:
	progress_done();
	free(buf);
	mig_dev_close(&m.d);
out_file:
	if (f.fd >= 0)
		close(f.fd);
	return ret;
}

static int cmd_migrate(const char *src_name, const char *dst_name)
{
	struct mc_progress pg = { .what = "migrate", .t0 = now() };
	struct mc_sink s = { .fd = -1, .pg = &pg };
	struct migctl_file_hdr h = { 0 };
	struct mc_save_stats st;
	struct mc_dev src, dst;
	uint64_t digest = 0;
	bool match, has_digest;
	double secs;
	int ret;

	ret = mc_open(&src, src_name);
	if (ret)
		return ret;
	ret = mc_open(&dst, dst_name);
	if (ret) {
		mig_dev_close(&src.d);
		return ret;
	}
	fill_ident(&h, &src);
	ret = check_ident(&h, &dst, src_name);
	if (ret)
		goto out;
	ret = mc_check_not_error(&dst);
	if (ret)
		goto out;
	ret = libmig_resume_begin(&dst.d);
	if (ret) {
		ret = mc_req_failed(&dst, ret);
		goto out;
	}
	s.dst = &dst;
	ret = mc_save(&src, &s, &st);
	progress_done();
	if (ret)
		goto out;
	ret = mc_finish_resume(&dst, st.digest, st.has_digest, &match, &digest,
			       &has_digest);
	if (ret)
		goto out;
	secs = now() - pg.t0;
	if (opt.json) {
		printf("{\n");
		json_str("command", "migrate", false);
		json_str("source", src_name, false);
		json_str("destination", dst_name, false);
		json_transfer(&src, &st, &pg, secs);
		json_str("destination_protocol", proto_name(&dst), false);
		json_str("destination_path", path_name(&dst), false);
		if (st.has_digest)
			printf("  \"source_digest\": \"%016" PRIx64 "\",\n",
			       st.digest);
		if (has_digest)
			printf("  \"digest\": \"%016" PRIx64 "\",\n", digest);
		json_bool("digest_match", match, false);
		json_str("state", opt.run ? "RUNNING" : "STOP", true);
		printf("}\n");
	} else {
		say("migrated %s to %s: %" PRIu64 " bytes (%" PRIu64 " pre-copy in %u passes, %" PRIu64 " stop-and-copy, downtime %.3f s) in %.3f s, %.1f MiB/s via %s to %s (protocol %s to %s)\n",
		    src_name, dst_name, pg.bytes, st.precopy_bytes, st.passes,
		    st.stopcopy_bytes, st.stopcopy_secs, secs,
		    secs > 0 ? mib(pg.bytes) / secs : 0.0,
		    path_name(&src), path_name(&dst), proto_name(&src),
		    proto_name(&dst));
	}
out:
	progress_done();
	mig_dev_close(&dst.d);
	mig_dev_close(&src.d);
	return ret;
}

static void flags_str(uint32_t flags, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s%s",
		 flags & VFIO_REGION_INFO_FLAG_READ ? "READ " : "",
		 flags & VFIO_REGION_INFO_FLAG_WRITE ? "WRITE " : "",
		 flags & VFIO_REGION_INFO_FLAG_MMAP ? "MMAP " : "",
		 flags & VFIO_REGION_INFO_FLAG_CAPS ? "CAPS" : "");
}

/* "STOP_COPY P2P PRE_COPY" for the VFIO_MIGRATION_* flags. */
static void v2_flags_str(uint64_t flags, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s",
		 flags & VFIO_MIGRATION_STOP_COPY ? "STOP_COPY " : "",
		 flags & VFIO_MIGRATION_P2P ? "P2P " : "",
		 flags & VFIO_MIGRATION_PRE_COPY ? "PRE_COPY " : "");
	if (*buf)
		buf[strlen(buf) - 1] = '\0';
}

/* The sparse-mmap areas that fit in the answer. */
static uint32_t sparse_areas(const struct vfio_region_info *ri,
			     const struct vfio_region_info_cap_sparse_mmap *sp)
{
	uint32_t i;

	for (i = 0; sp && i < sp->nr_areas &&
	     (const uint8_t *)&sp->areas[i + 1] <=
	     (const uint8_t *)ri + ri->argsz; i++)
		;
	return i;
}

static void info_region_json(const struct mc_dev *m,
			     const struct vfio_region_info *ri)
{
	struct vfio_region_info_cap_sparse_mmap *sp;
	uint32_t i, n;

	sp = (void *)mig_region_cap((struct vfio_region_info *)ri,
				    VFIO_REGION_INFO_CAP_SPARSE_MMAP);
	n = sparse_areas(ri, sp);
	json_u64("region_index", m->d.mig_index, false);
	json_u64("region_offset", m->d.mig_offset, false);
	json_u64("region_size", m->d.mig_size, false);
	printf("  \"region_flags\": \"0x%x\",\n", ri->flags);
	json_u64("cap_type", m->rtype, false);
	json_u64("cap_subtype", m->rsubtype, false);
	printf("  \"sparse_areas\": [");
	for (i = 0; i < n; i++)
		printf("%s{\"offset\": %llu, \"size\": %llu}", i ? ", " : "",
		       (unsigned long long)sp->areas[i].offset,
		       (unsigned long long)sp->areas[i].size);
	printf("],\n");
	json_u64("data_offset", m->d.data_offset, false);
	json_u64("data_size", m->d.section_size, false);
	json_str("default_path", m->has_sparse ? "mmap" : "pread", false);
}

static void info_region_text(const struct mc_dev *m,
			     const struct vfio_region_info *ri)
{
	struct vfio_region_info_cap_sparse_mmap *sp;
	char flags[64];
	uint32_t i, n;

	if (!ri) {
		printf("region        none (no region of type 3 subtype 1 among %u: protocol v1 not offered)\n",
		       m->d.num_regions);
		return;
	}
	sp = (void *)mig_region_cap((struct vfio_region_info *)ri,
				    VFIO_REGION_INFO_CAP_SPARSE_MMAP);
	n = sparse_areas(ri, sp);
	flags_str(ri->flags, flags, sizeof(flags));
	printf("region        index %d of %u, fd offset 0x%" PRIx64 ", size %" PRIu64 " (%.1f MiB)\n",
	       m->d.mig_index, m->d.num_regions, m->d.mig_offset,
	       m->d.mig_size, mib(m->d.mig_size));
	printf("flags         0x%x %s\n", ri->flags, flags);
	printf("cap type      type %u subtype %u%s\n", m->rtype, m->rsubtype,
	       m->rtype == VFIO_REGION_TYPE_MIGRATION_DEPRECATED &&
	       m->rsubtype == VFIO_REGION_SUBTYPE_MIGRATION_DEPRECATED ?
	       " (migration v1)" : "");
	for (i = 0; i < n; i++)
		printf("cap sparse    area %u: offset %llu size %llu\n", i,
		       (unsigned long long)sp->areas[i].offset,
		       (unsigned long long)sp->areas[i].size);
	if (!sp)
		printf("cap sparse    none (data path: pread/pwrite)\n");
	printf("data section  offset %" PRIu64 ", size %" PRIu64 " (%" PRIu64 " pages)\n",
	       m->d.data_offset, m->d.section_size,
	       m->d.section_size / MIG_PAGE_SIZE);
}

/*
 * Protocol v2: its flags and, where the kernel has it, the stop-copy size
 * (VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, Linux 6.3 on).
 */
static void info_v2(struct mc_dev *m)
{
	bool has_size;
	uint64_t size = 0;
	char flags[64];
	int err;

	if (!libmig_offers(&m->d, LIBMIG_PROTO_V2)) {
		if (!opt.json)
			printf("v2            not offered (VFIO_DEVICE_FEATURE_MIGRATION: %s)\n",
			       strerror(-m->d.v2_err));
		return;
	}
	v2_flags_str(m->d.v2_flags, flags, sizeof(flags));
	err = libmig_v2_data_size(&m->d, &size);
	has_size = !err;
	if (opt.json) {
		json_u64("v2_flags", m->d.v2_flags, false);
		json_str("v2_flag_names", flags, false);
		if (has_size)
			json_u64("stop_copy_size", size, false);
		return;
	}
	printf("v2 flags      0x%" PRIx64 " %s\n", m->d.v2_flags, flags);
	if (has_size)
		printf("v2 data size  %" PRIu64 " bytes to stop-and-copy now (VFIO_DEVICE_FEATURE_MIG_DATA_SIZE)\n",
		       size);
	else
		printf("v2 data size  not offered (VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: %s)\n",
		       strerror(-err));
}

static int cmd_info(const char *uuid)
{
	struct vfio_region_info *ri = NULL;
	bool v1, v2;
	uint32_t state;
	struct mc_dev m;
	int ret;

	opt.path = MIG_PATH_PREAD;	/* no need to map anything */
	ret = mc_open(&m, uuid);
	if (ret)
		return ret;
	v1 = libmig_offers(&m.d, LIBMIG_PROTO_V1);
	v2 = libmig_offers(&m.d, LIBMIG_PROTO_V2);
	ret = libmig_get_state(&m.d, &state);
	if (ret) {
		ret = fail(EX_IO, "%s: reading device_state: %s", uuid,
			   strerror(-ret));
		goto out;
	}
	if (v1) {
		ret = mig_get_region_info(&m.d, m.d.mig_index, &ri);
		if (ret) {
			ret = fail(EX_IO, "%s: region info: %s", uuid,
				   strerror(-ret));
			goto out;
		}
	}
	if (opt.json) {
		printf("{\n");
		json_str("command", "info", false);
		json_str("device", uuid, false);
		json_str("mdev_type", m.dev_type, false);
		printf("  \"pci_id\": \"%04x:%04x\",\n", m.vendor, m.device);
		printf("  \"subsystem_id\": \"%04x:%04x\",\n", m.subvendor,
		       m.subdevice);
		printf("  \"protocols\": [%s%s%s],\n", v1 ? "\"v1\"" : "",
		       v1 && v2 ? ", " : "", v2 ? "\"v2\"" : "");
		json_str("protocol", proto_name(&m), false);
		json_u64("num_regions", m.d.num_regions, false);
		if (ri)
			info_region_json(&m, ri);
		info_v2(&m);
		json_str("state", libmig_state_str(&m.d, state), true);
		printf("}\n");
	} else {
		printf("device        %s (%s, PCI %04x:%04x, subsystem %04x:%04x)\n",
		       uuid, m.dev_type[0] ? m.dev_type : "no mdev type",
		       m.vendor, m.device, m.subvendor, m.subdevice);
		printf("protocols     %s%s%s, using %s\n", v1 ? "v1" : "",
		       v1 && v2 ? " " : "", v2 ? "v2" : "", proto_name(&m));
		info_region_text(&m, ri);
		info_v2(&m);
		printf("state         %s\n", libmig_state_str(&m.d, state));
	}
out:
	free(ri);
	mig_dev_close(&m.d);
	return ret;
}

/*
 * The protocol and state a STATE argument names.  Names of one protocol
 * only (v1's SAVING and PRECOPY, v2's STOP_COPY, RUNNING_P2P, PRE_COPY,
 * PRE_COPY_P2P) choose that protocol when --protocol is auto; names both
 * have (STOP, RUNNING, RESUMING) leave the choice to the device.
 */
static int parse_state_arg(const char *name, uint32_t *state)
{
	uint32_t s1, s2;
	bool in1 = !libmig_state_parse(LIBMIG_PROTO_V1, name, &s1);
	bool in2 = !libmig_state_parse(LIBMIG_PROTO_V2, name, &s2);
	enum libmig_proto p = mc_want();

	if (p == LIBMIG_PROTO_AUTO && in1 != in2)
		p = in1 ? LIBMIG_PROTO_V1 : LIBMIG_PROTO_V2;
	if (p == LIBMIG_PROTO_V1 ? !in1 : p == LIBMIG_PROTO_V2 ? !in2 : !in1)
		return fail(EX_USAGE, "unknown state '%s' (%s%s%s)", name,
			    p != LIBMIG_PROTO_V2 ? "v1: STOP RUNNING SAVING PRECOPY RESUMING" : "",
			    p == LIBMIG_PROTO_AUTO ? "; " : "",
			    p != LIBMIG_PROTO_V1 ? "v2: STOP RUNNING STOP_COPY RESUMING RUNNING_P2P PRE_COPY PRE_COPY_P2P" : "");
	*state = p == LIBMIG_PROTO_V2 ? s2 : s1;	/* shared names agree */
	if (*state == VFIO_DEVICE_STATE_ERROR)
		return fail(EX_USAGE, "ERROR is entered by the driver only");
	opt.proto = p;
	return EX_OK;
}

static int cmd_state(const char *uuid, const char *name)
{
	uint32_t want = 0, before, after;
	struct mc_dev m;
	int ret;

	if (name) {
		ret = parse_state_arg(name, &want);
		if (ret)
			return ret;
	}
	opt.path = MIG_PATH_PREAD;
	ret = mc_open(&m, uuid);
	if (ret)
		return ret;
	ret = libmig_get_state(&m.d, &before);
	if (ret) {
		ret = fail(EX_IO, "%s: reading device_state: %s", uuid,
			   strerror(-ret));
		goto out;
	}
	after = before;
	if (name) {
		if (before == VFIO_DEVICE_STATE_ERROR) {
			ret = fail(EX_DEVERR, "%s: device is in ERROR; %s",
				   uuid, remedy(uuid));
			goto out;
		}
		ret = mc_set_state(&m, want);
		if (ret)
			goto out;
		if (libmig_get_state(&m.d, &after))
			after = LIBMIG_STATE_INVALID;
	}
	if (opt.json) {
		printf("{\n");
		json_str("command", "state", false);
		json_str("device", uuid, false);
		json_str("protocol", proto_name(&m), false);
		if (name)
			json_str("previous", libmig_state_str(&m.d, before),
				 false);
		json_str("state", libmig_state_str(&m.d, after), true);
		printf("}\n");
	} else if (name) {
		printf("%s -> %s\n", libmig_state_str(&m.d, before),
		       libmig_state_str(&m.d, after));
		fprintf(stderr, "note: the state holds while migctl has the device open; on close the driver decides (mig-mdev: RUNNING)\n");
	} else {
		printf("%s\n", libmig_state_str(&m.d, after));
	}
out:
	mig_dev_close(&m.d);
	return ret;
}

static int cmd_reset(const char *uuid)
{
	uint32_t before, after;
	struct mc_dev m;
	int ret;

	opt.path = MIG_PATH_PREAD;
	ret = mc_open(&m, uuid);
	if (ret)
		return ret;
	if (libmig_get_state(&m.d, &before))
		before = LIBMIG_STATE_INVALID;
	ret = mig_device_reset(&m.d);
	if (ret) {
		ret = fail(EX_IO, "%s: VFIO_DEVICE_RESET: %s", uuid,
			   strerror(-ret));
		goto out;
	}
	if (libmig_get_state(&m.d, &after))
		after = LIBMIG_STATE_INVALID;
	if (opt.json) {
		printf("{\n");
		json_str("command", "reset", false);
		json_str("device", uuid, false);
		json_str("protocol", proto_name(&m), false);
		json_str("previous", libmig_state_str(&m.d, before), false);
		json_str("state", libmig_state_str(&m.d, after), true);
		printf("}\n");
	} else {
		printf("reset %s: %s -> %s\n", uuid,
		       libmig_state_str(&m.d, before),
		       libmig_state_str(&m.d, after));
	}
out:
	mig_dev_close(&m.d);
	return ret;
}

/* migctl file FILE [--rehash]: show, verify, or re-checksum a file. */
static int cmd_file(const char *file)
{
	struct mc_file f = { .fd = -1 };
	char type[MC_TYPE_LEN + 1];
	int ret;

	if (opt.rehash) {
		static uint8_t buf[1 << 20];
		struct migctl_file_hdr h;
		uint64_t off = 0;
		uint32_t crc = 0;
		ssize_t n;

		/* Header checks only: the stream checksum is what is fixed. */
		ret = mc_file_open(&f, file, O_RDWR, false);
		if (ret)
			goto out;
		while (off < f.h.stream_len) {
			size_t want = sizeof(buf);

			if (want > f.h.stream_len - off)
				want = f.h.stream_len - off;
			n = pread(f.fd, buf, want, f.h.hdr_len + off);
			if (n <= 0) {
				ret = fail(EX_IO, "%s: read failed", file);
				goto out;
			}
			crc = crc32_update(crc, buf, n);
			off += n;
		}
		f.h.stream_csum = crc;
		h = f.h;
		hdr_to_le(&h);
		h.hdr_csum = htole32(hdr_csum(&h));
		if (pwrite(f.fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h)) {
			ret = fail(EX_IO, "%s: %s", file, strerror(errno));
			goto out;
		}
		say("%s: stream checksum set to %08x\n", file, crc);
		goto out;
	}
	ret = mc_file_open(&f, file, O_RDONLY, true);
	if (ret)
		goto out;
	snprintf(type, sizeof(type), "%.*s", MC_TYPE_LEN, f.h.dev_type);
	if (opt.json) {
		printf("{\n");
		json_str("command", "file", false);
		json_str("file", file, false);
		json_u64("version", f.h.version, false);
		printf("  \"pci_id\": \"%04x:%04x\",\n", f.h.vendor,
		       f.h.device);
		printf("  \"subsystem_id\": \"%04x:%04x\",\n", f.h.subvendor,
		       f.h.subdevice);
		json_str("mdev_type", type, false);
		json_u64("region_type", f.h.region_type, false);
		json_u64("region_subtype", f.h.region_subtype, false);
		json_u64("stream_len", f.h.stream_len, false);
		json_u64("precopy_bytes", f.h.precopy_bytes, false);
		json_u64("stopcopy_bytes", f.h.stopcopy_bytes, false);
		json_u64("passes", f.h.passes, false);
		json_bool("live", f.h.flags & MC_FLAG_LIVE, false);
		json_str("protocol", f.h.flags & MC_FLAG_V2 ? "v2" : "v1",
			 false);
		if (f.h.flags & MC_FLAG_DIGEST)
			printf("  \"digest\": \"%016" PRIx64 "\",\n",
			       (uint64_t)f.h.digest);
		printf("  \"crc32\": \"%08x\"\n}\n", f.h.stream_csum);
	} else {
		printf("file     %s: migctl format %u, checksum ok\n", file,
		       f.h.version);
		printf("source   PCI %04x:%04x subsystem %04x:%04x, %s, region %u/%u, section %" PRIu64 "\n",
		       f.h.vendor, f.h.device, f.h.subvendor, f.h.subdevice,
		       type[0] ? type : "no mdev type", f.h.region_type,
		       f.h.region_subtype, (uint64_t)f.h.section_size);
		printf("stream   %" PRIu64 " bytes: %" PRIu64 " pre-copy in %u passes, %" PRIu64 " stop-and-copy, through protocol %s; crc32 %08x\n",
		       (uint64_t)f.h.stream_len, (uint64_t)f.h.precopy_bytes,
		       f.h.passes, (uint64_t)f.h.stopcopy_bytes,
		       f.h.flags & MC_FLAG_V2 ? "v2" : "v1", f.h.stream_csum);
		if (f.h.flags & MC_FLAG_DIGEST)
			printf("digest   %016" PRIx64 "\n", (uint64_t)f.h.digest);
	}
out:
	if (f.fd >= 0)
		close(f.fd);
	return ret;
}

/* ---- list ---- */

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char * const *)a, *(char * const *)b);
}

/* Sorted entries of @dir (no dot files); caller frees. */
static int list_dir(const char *dir, char ***out)
{
	struct dirent *de;
	char **v = NULL;
	int n = 0;
	DIR *d;

	*out = NULL;
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char **nv;

		if (de->d_name[0] == '.')
			continue;
		nv = realloc(v, (n + 1) * sizeof(*v));
		if (!nv)
			break;
		v = nv;
		v[n] = strdup(de->d_name);
		if (v[n])
			n++;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), name_cmp);
	*out = v;
	return n;
}

static void free_list(char **v, int n)
{
	while (n--)
		free(v[n]);
	free(v);
}

/*
 * The state of a device: sysfs when the driver has it, else what the
 * device reports (v2 when it offers it, else the v1 header).
 */
static void instance_state(const char *uuid, char *buf, size_t len)
{
	struct mig_dev d;
	uint32_t s;

	if (!read_attr(uuid, "migration_state", buf, len) && buf[0])
		return;
	if (mig_dev_open(&d, uuid)) {
		snprintf(buf, len, "?");
		return;
	}
	if (d.proto == LIBMIG_PROTO_AUTO)	/* no migration offered */
		snprintf(buf, len, "-");
	else if (libmig_get_state(&d, &s))
		snprintf(buf, len, "?");
	else
		snprintf(buf, len, "%s", libmig_state_str(&d, s));
	mig_dev_close(&d);
}

static int cmd_list(void)
{
	char **parents, **types, **insts, path[PATH_MAX];
	int np, nt, ni, p, t, i, total = 0;
	bool first = true;

	np = list_dir(MC_MDEV_BUS, &parents);
	if (opt.json)
		printf("{\n  \"command\": \"list\",\n  \"instances\": [");
	else if (!np)
		printf("no mdev parent devices (%s is empty or missing)\n",
		       MC_MDEV_BUS);
	for (p = 0; p < np; p++) {
		if (!opt.json)
			printf("parent %s\n", parents[p]);
		snprintf(path, sizeof(path), "%s/%s/mdev_supported_types",
			 MC_MDEV_BUS, parents[p]);
		nt = list_dir(path, &types);
		for (t = 0; t < nt; t++) {
			char avail[32], tname[128];

			snprintf(path, sizeof(path),
				 "%s/%s/mdev_supported_types/%s/available_instances",
				 MC_MDEV_BUS, parents[p], types[t]);
			if (mig_sysfs_read(path, avail, sizeof(avail)))
				snprintf(avail, sizeof(avail), "?");
			snprintf(path, sizeof(path),
				 "%s/%s/mdev_supported_types/%s/name",
				 MC_MDEV_BUS, parents[p], types[t]);
			if (mig_sysfs_read(path, tname, sizeof(tname)))
				tname[0] = '\0';
			if (!opt.json)
				printf("  type %s%s%s%s, %s available\n",
				       types[t], tname[0] ? " (" : "", tname,
				       tname[0] ? ")" : "", avail);
			snprintf(path, sizeof(path),
				 "%s/%s/mdev_supported_types/%s/devices",
				 MC_MDEV_BUS, parents[p], types[t]);
			ni = list_dir(path, &insts);
			for (i = 0; i < ni; i++) {
				char state[32], digest[64];

				instance_state(insts[i], state, sizeof(state));
				if (read_attr(insts[i], "digest", digest,
					      sizeof(digest)))
					digest[0] = '\0';
				total++;
				if (opt.json) {
					printf("%s\n    {\"uuid\": \"%s\", \"parent\": \"%s\", \"type\": \"%s\", \"state\": \"%s\"",
					       first ? "" : ",", insts[i],
					       parents[p], types[t], state);
					if (digest[0])
						printf(", \"digest\": \"%s\"",
						       digest);
					printf("}");
					first = false;
				} else {
					printf("    %s  %-8s%s%s\n", insts[i],
					       state, digest[0] ? "  digest " : "",
					       digest);
				}
			}
			free_list(insts, ni);
		}
		free_list(types, nt);
	}
	free_list(parents, np);
	if (opt.json)
		printf("%s],\n  \"count\": %d\n}\n", first ? "" : "\n  ",
		       total);
	return EX_OK;
}

/* ------------------------------------------------------------------ */
/* Command line                                                        */
/* ------------------------------------------------------------------ */

static int run_list(const char **a)
{
	(void)a;
	return cmd_list();
}

static int run_info(const char **a) { return cmd_info(a[0]); }
static int run_state(const char **a) { return cmd_state(a[0], a[1]); }
static int run_reset(const char **a) { return cmd_reset(a[0]); }
static int run_save(const char **a) { return cmd_save(a[0], a[1]); }
static int run_load(const char **a) { return cmd_load(a[0], a[1]); }
static int run_migrate(const char **a) { return cmd_migrate(a[0], a[1]); }
static int run_file(const char **a) { return cmd_file(a[0]); }

/**
 * struct mc_cmd - a subcommand
 * @name: as typed
 * @args: its arguments, for the usage message
 * @min_args: fewest arguments
 * @max_args: most arguments
 * @fn: runs it; returns the exit status
 */
static const struct mc_cmd {
	const char *name;
	const char *args;
	int min_args;
	int max_args;
	int (*fn)(const char **args);
} mc_cmds[] = {
	{ "list", "", 0, 0, run_list },
	{ "info", "DEV", 1, 1, run_info },
	{ "state", "DEV [STATE]", 1, 2, run_state },
	{ "reset", "DEV", 1, 1, run_reset },
	{ "save", "DEV FILE", 2, 2, run_save },
	{ "load", "DEV FILE", 2, 2, run_load },
	{ "migrate", "SRC DST", 2, 2, run_migrate },
	{ "file", "FILE", 1, 1, run_file },
};

static void usage(FILE *out)
{
	fprintf(out,
"usage: migctl [options] COMMAND ...\n"
"\n"
"A client of VFIO migration (protocol v1 or v2) of an mdev device (any\n"
"vendor's).  DEV is an mdev UUID (/sys/bus/mdev/devices/UUID) or a sysfs\n"
"device path.\n"
"\n"
"commands:\n"
"  list                    mdev parents, types, instances, states, digests\n"
"  info DEV                the protocols offered; the migration region: index,\n"
"                          size, flags, caps, data section; the v2 flags and\n"
"                          data size; the current state\n"
"  state DEV [STATE]       read, or request a state: v1 STOP RUNNING SAVING\n"
"                          PRECOPY RESUMING, v2 STOP RUNNING STOP_COPY RESUMING\n"
"                          RUNNING_P2P PRE_COPY PRE_COPY_P2P\n"
"  reset DEV               VFIO_DEVICE_RESET (the way out of ERROR)\n"
"  save DEV FILE           save the device's state to FILE (stopped, or --live)\n"
"  load DEV FILE           feed FILE to the device; STOP after (or --run)\n"
"  migrate SRC DST         save SRC into DST in one process, chunk by chunk\n"
"  file FILE               show and verify a saved file (--rehash: recompute\n"
"                          its stream checksum, for tests that edit streams)\n"
"\n"
"options:\n"
"  --protocol v1|v2|auto   v1: the migration region; v2: the data_fd of\n"
"                          VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE; auto (the\n"
"                          default): v2 when the device offers it, else v1\n"
"  --live                  pre-copy while the device runs, then stop-and-copy\n"
"  --max-passes N          at most N pre-copy passes (default 16)\n"
"  --run                   after load/migrate, leave the destination RUNNING\n"
"  --mmap, --pread         v1 data path (default: mmap when the region offers\n"
"                          a sparse-mmap area, else pread/pwrite); they ask\n"
"                          for protocol v1\n"
"  --force                 feed a file or device of another type anyway\n"
"  --json                  machine-readable result on stdout\n"
"  -h, --help              this text\n"
"\n"
"exit status:\n"
"  0  success\n"
"  1  usage error\n"
"  2  no such device, device busy, or no migration (in the protocol asked for)\n"
"  3  the device is or went in ERROR (remedy: migctl reset DEV)\n"
"  4  bad, corrupted or truncated file, or a file/device of another type;\n"
"     also a stream the device refused without applying it\n"
"  5  I/O or protocol error\n");
}

int main(int argc, char **argv)
{
	const char *args[3] = { NULL, NULL, NULL };
	const char *cmd = NULL;
	int i, nargs = 0;

	crc32_init();
	tty = isatty(STDERR_FILENO);
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return EX_OK;
		} else if (!strcmp(a, "--json")) {
			opt.json = true;
		} else if (!strcmp(a, "--live")) {
			opt.live = true;
		} else if (!strcmp(a, "--run")) {
			opt.run = true;
		} else if (!strcmp(a, "--force")) {
			opt.force = true;
		} else if (!strcmp(a, "--rehash")) {
			opt.rehash = true;
		} else if (!strcmp(a, "--mmap")) {
			opt.path = MIG_PATH_MMAP;
			opt.path_given = true;
		} else if (!strcmp(a, "--pread")) {
			opt.path = MIG_PATH_PREAD;
			opt.path_given = true;
		} else if (!strcmp(a, "--protocol")) {
			if (++i >= argc)
				return fail(EX_USAGE, "--protocol needs v1, v2 or auto");
			if (!strcmp(argv[i], "v1"))
				opt.proto = LIBMIG_PROTO_V1;
			else if (!strcmp(argv[i], "v2"))
				opt.proto = LIBMIG_PROTO_V2;
			else if (!strcmp(argv[i], "auto"))
				opt.proto = LIBMIG_PROTO_AUTO;
			else
				return fail(EX_USAGE, "--protocol: '%s' is not v1, v2 or auto",
					    argv[i]);
		} else if (!strcmp(a, "--max-passes")) {
			char *end;
			unsigned long v;

			if (++i >= argc)
				return fail(EX_USAGE, "--max-passes needs a number");
			v = strtoul(argv[i], &end, 10);
			if (*end || end == argv[i] || v < 1 || v > 100000)
				return fail(EX_USAGE, "--max-passes: '%s' is not 1..100000",
					    argv[i]);
			opt.max_passes = v;
		} else if (a[0] == '-' && a[1]) {
			fail(EX_USAGE, "unknown option %s", a);
			usage(stderr);
			return EX_USAGE;
		} else if (!cmd) {
			cmd = a;
		} else if (nargs < 3) {
			args[nargs++] = a;
		} else {
			return fail(EX_USAGE, "too many arguments");
		}
	}
	if (opt.json)
		tty = false;
	if (opt.path_given && opt.proto == LIBMIG_PROTO_V2)
		return fail(EX_USAGE, "--mmap and --pread are data paths of protocol v1; v2 moves the stream through its data_fd");
	if (!cmd) {
		usage(stderr);
		return EX_USAGE;
	}

	for (i = 0; i < (int)ARRAY_SIZE(mc_cmds); i++) {
		const struct mc_cmd *c = &mc_cmds[i];

		if (strcmp(cmd, c->name))
			continue;
		if (nargs < c->min_args || nargs > c->max_args)
			return fail(EX_USAGE, "usage: migctl %s%s%s (see --help)",
				    c->name, c->args[0] ? " " : "", c->args);
		return c->fn(args);
	}
	fail(EX_USAGE, "unknown command '%s'", cmd);
	usage(stderr);
	return EX_USAGE;
}

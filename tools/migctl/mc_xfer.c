// SPDX-License-Identifier: GPL-2.0
/*
 * migctl: transfers.
 *
 * The save sequence, live or stopped, through either protocol, its
 * chunks going to a sink (a file, a destination device, or both), and the
 * end of a resume with the device's verdict.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>
#include <linux/vfio.h>

#include "migctl.h"

/* ------------------------------------------------------------------ */
/* Saving                                                              */
/* ------------------------------------------------------------------ */

static int write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= n;
	}
	return 0;
}

static int mc_sink_fn(void *opaque, const void *buf, size_t len)
{
	struct mc_sink *s = opaque;
	int ret;

	if (s->fd >= 0) {
		s->crc = crc32_update(s->crc, buf, len);
		ret = write_full(s->fd, buf, len);
		if (ret) {
			s->file_err = ret;
			return ret;
		}
	}
	if (s->dst) {
		ret = libmig_resume_feed(&s->dst->d, s->dst->path, buf, len);
		if (ret) {
			s->dst_err = ret;
			return ret;
		}
	}
	s->pg->bytes += len;
	s->pg->pending = s->pg->pending > len ? s->pg->pending - len : 0;
	progress_draw(s->pg, false);
	return 0;
}

/* A failed pass: which side failed, and how. */
static int mc_pass_failed(struct mc_dev *src, struct mc_sink *s, int ret)
{
	if (s->dst && s->dst_err)
		return mc_step_failed(s->dst, "feeding the stream", s->dst_err,
				      EX_BADFILE);
	if (s->file_err)
		return fail(EX_IO, "writing the file: %s",
			    strerror(-s->file_err));
	return mc_step_failed(src, "saving", ret, EX_IO);
}

/* What is left to save; a failure is reported. */
static int mc_pending(struct mc_dev *m, struct mc_sink *s, uint64_t *pending,
		      uint64_t *initial)
{
	int ret = libmig_pending(&m->d, pending, initial);

	if (ret)
		return mc_step_failed(m, m->d.proto == LIBMIG_PROTO_V1 ?
				      "reading pending_bytes" :
				      "VFIO_MIG_GET_PRECOPY_INFO", ret, EX_IO);
	s->pg->pending = *pending;
	return EX_OK;
}

/*
 * The save sequence on @m, chunks to @s: live (pre-copy passes, then
 * stop-and-copy) or stopped, ending in STOP.  Either protocol: libmig's
 * session calls walk v1's PRECOPY, SAVING, STOP or v2's PRE_COPY,
 * PRE_COPY_P2P, STOP_COPY, STOP (RUNNING_P2P, STOP, STOP_COPY when
 * stopped or without PRE_COPY).  Each pass copies what was pending when
 * it began; pre-copy ends when less than one chunk is left (and, in v2,
 * the initial bytes are all read) or after --max-passes passes.
 */
int mc_save(struct mc_dev *m, struct mc_sink *s, struct mc_save_stats *st)
{
	uint64_t pending, initial, bytes;
	double t;
	int ret;

	memset(st, 0, sizeof(*st));
	ret = mc_check_not_error(m);
	if (ret)
		return ret;
	st->live = opt.live && libmig_has_precopy(&m->d);
	if (opt.live && !st->live)
		say("pre-copy: %s offers no PRE_COPY (VFIO_MIGRATION_PRE_COPY): stop-and-copy only\n",
		    m->name);
	t = now();
	if (st->live) {
		ret = libmig_precopy_begin(&m->d);
		if (ret)
			return mc_req_failed(m, ret);
		ret = mc_pending(m, s, &pending, &initial);
		if (ret)
			return ret;
		while (pending && st->passes < opt.max_passes) {
			double tp = now();

			s->pg->pass = ++st->passes;
			ret = libmig_save_pass(&m->d, m->path, pending,
					       mc_sink_fn, s, &bytes);
			if (ret)
				return mc_pass_failed(m, s, ret);
			st->precopy_bytes += bytes;
			ret = mc_pending(m, s, &pending, &initial);
			if (ret)
				return ret;
			say("pass %u: %" PRIu64 " bytes in %.3f s, pending %" PRIu64 "\n",
			    st->passes, bytes, now() - tp, pending);
			if (pending < libmig_chunk(&m->d) && !initial)
				break;
		}
		st->precopy_secs = now() - t;
		t = now();
	} else {
		ret = libmig_stop(&m->d);
		if (ret)
			return mc_req_failed(m, ret);
	}
	s->pg->pass = 0;
	ret = libmig_stopcopy_begin(&m->d);
	if (ret)
		return mc_req_failed(m, ret);
	/* v2's stop-copy size, when offered, for the progress bar. */
	s->pg->pending = 0;
	if (m->d.proto == LIBMIG_PROTO_V2 &&
	    !libmig_pending(&m->d, &pending, NULL))
		s->pg->pending = pending;
	ret = libmig_save_pass(&m->d, m->path, 0, mc_sink_fn, s, &bytes);
	if (ret)
		return mc_pass_failed(m, s, ret);
	st->stopcopy_bytes = bytes;
	ret = libmig_save_end(&m->d);
	if (ret)
		return mc_req_failed(m, ret);
	st->stopcopy_secs = now() - t;
	say("stop-and-copy: %" PRIu64 " bytes in %.3f s\n", bytes,
	    st->stopcopy_secs);
	st->has_digest = read_digest(m->name, &st->digest);
	return EX_OK;
}

/* ------------------------------------------------------------------ */
/* Resuming                                                            */
/* ------------------------------------------------------------------ */

/*
 * Leave RESUMING for STOP or RUNNING and tell the device's verdict.
 * @src_digest: the digest the source had, if @has_src.
 */
int mc_finish_resume(struct mc_dev *m, uint64_t src_digest, bool has_src,
		     bool *match, uint64_t *digest, bool *has_digest)
{
	uint32_t to = opt.run ? VFIO_DEVICE_STATE_RUNNING :
				VFIO_DEVICE_STATE_STOP;
	int ret = libmig_resume_end(&m->d, opt.run);

	*has_digest = false;
	*match = false;
	if (ret && m->d.req == VFIO_DEVICE_STATE_STOP)
		return mc_step_failed(m, "leaving RESUMING for STOP (stream incomplete?)",
				      ret, EX_BADFILE);
	if (ret && m->d.proto == LIBMIG_PROTO_V1)
		return mc_step_failed(m, "leaving RESUMING for RUNNING", ret,
				      EX_BADFILE);
	if (ret)
		return mc_req_failed(m, ret);
	*has_digest = read_digest(m->name, digest);
	*match = has_src && *has_digest && *digest == src_digest;
	if (*has_digest && has_src)
		say("verdict: accepted, device_state %s, digest %016" PRIx64 " %s the source's %016" PRIx64 "\n",
		    libmig_state_str(&m->d, to), *digest,
		    *match ? "matches" : "DIFFERS from", src_digest);
	else
		say("verdict: accepted, device_state %s\n",
		    libmig_state_str(&m->d, to));
	return EX_OK;
}

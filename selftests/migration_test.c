// SPDX-License-Identifier: GPL-2.0
/*
 * Conformance suite of mig-mdev's migration region: one test a rule of
 * PROTOCOL.md (region discovery, the trapped header, the device_state
 * matrix, saving, mmap, resuming, corrupt streams, ERROR, reset and close,
 * parallel instances and a race on one header).
 *
 * Each test creates its own instances and removes them.  The engine is off
 * (rate 0) unless a test needs it, so that digests are stable; device memory
 * is filled with a known pattern through BAR2 so that streams carry data.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

/*
 * The 6.1 harness has an unused parameter, and its EXPECT_*() compare the
 * expected literal (int) with the value seen (often unsigned): kernel
 * selftests build without -Wextra, we build with it.
 */
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"
#pragma GCC diagnostic pop
#include "mig_utils.h"
#include "mig_stream_utils.h"

#define ASSERT_STATE(d, s)	ASSERT_EQ((uint32_t)(s), mt_state(d))
#define EXPECT_STATE(d, s)	EXPECT_EQ((uint32_t)(s), mt_state(d))

static const size_t hdr_widths[] = { 1, 2, 4, 8 };

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint32_t other_type(const char *type)
{
	return strcmp(type, "small") ? MIG_TYPE_SMALL : MIG_TYPE_LARGE;
}

/* Drives @in from RUNNING into ERROR through a partially applied stream. */
static int reach_error(struct mt_inst *in, uint32_t stream_type)
{
	uint8_t buf[MT_ERROR_STREAM_MAX];
	size_t len = mt_error_stream(in, stream_type, buf);
	int ret;

	ret = mig_set_state(&in->d, MIG_STATE_RESUMING);
	if (ret)
		return ret;
	ret = _test_cmd_feed(&in->d, MIG_PATH_PREAD, buf, len, MT_CUT_FIXED, 0,
			     NULL);
	if (ret != -EINVAL)
		return ret ? ret : -EPROTO;
	return mt_state(&in->d) == MIG_STATE_ERROR ? 0 : -EPROTO;
}

/* Saves @in from STOP and puts it back to RUNNING; digest of the source. */
static int self_save(struct mt_inst *in, struct mig_buf *out)
{
	int ret = _test_cmd_save(&in->d, MIG_PATH_PREAD, out);

	if (ret)
		return ret;
	return mig_set_state(&in->d, MIG_STATE_RUNNING);
}

static int inst_setup(struct mt_inst *in, const char *type, uint64_t seed)
{
	int ret = mt_inst_new(in, type);

	if (!ret)
		ret = _test_cmd_fill(in, seed);
	if (ret)
		mt_inst_del(in);
	return ret;
}

/* ================================================================ */
/* One instance                                                      */
/* ================================================================ */

FIXTURE(mig_one) {
	struct mt_inst a;
	uint64_t digest;
	struct mig_buf stream;
};

FIXTURE_VARIANT(mig_one) {
	const char *type;
	uint32_t stream_type;
};

FIXTURE_VARIANT_ADD(mig_one, small) {
	.type = "small",
	.stream_type = MIG_TYPE_SMALL,
};

FIXTURE_VARIANT_ADD(mig_one, large) {
	.type = "large",
	.stream_type = MIG_TYPE_LARGE,
};

FIXTURE_SETUP(mig_one)
{
	MT_SKIP_IF_NO_MODULE();
	ASSERT_OK(inst_setup(&self->a, variant->type, 1));
	self->digest = mt_digest(&self->a);
	ASSERT_NE(0, self->digest);
	ASSERT_STATE(&self->a.d, MIG_STATE_RUNNING);
}

FIXTURE_TEARDOWN(mig_one)
{
	mt_inst_del(&self->a);
	mig_buf_free(&self->stream);
}

static struct vfio_info_cap_header *
region_cap(struct vfio_region_info *ri, uint16_t id)
{
	uint32_t off = ri->cap_offset;
	int hops = 0;

	while (off && off + sizeof(struct vfio_info_cap_header) <= ri->argsz &&
	       hops++ < 16) {
		struct vfio_info_cap_header *h = (void *)((uint8_t *)ri + off);

		if (h->id == id)
			return h;
		off = h->next;
	}
	return NULL;
}

static uint64_t section_attr(struct mt_inst *in)
{
	char buf[64];

	if (mig_attr_read(in->uuid, "section_size", buf, sizeof(buf)))
		return 0;
	return strtoull(buf, NULL, 0);
}

TEST_F(mig_one, region_index_is_first_device_specific_and_counted)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };

	EXPECT_EQ(MIG_MDEV_MIGRATION_REGION_INDEX, self->a.d.mig_index);
	ASSERT_OK(ioctl(self->a.d.fd, VFIO_DEVICE_GET_INFO, &info));
	EXPECT_GT(info.num_regions, (uint32_t)MIG_MDEV_MIGRATION_REGION_INDEX);
}

TEST_F(mig_one, region_flags_read_write_mmap_caps)
{
	struct vfio_region_info *ri = NULL;

	ASSERT_OK(mig_get_region_info(&self->a.d,
				      MIG_MDEV_MIGRATION_REGION_INDEX, &ri));
	EXPECT_EQ(VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
		  VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS,
		  ri->flags);
	free(ri);
}

TEST_F(mig_one, region_size_is_data_offset_plus_section)
{
	struct vfio_region_info *ri = NULL;
	uint64_t section = section_attr(&self->a);

	ASSERT_NE(0, section);
	ASSERT_OK(mig_get_region_info(&self->a.d,
				      MIG_MDEV_MIGRATION_REGION_INDEX, &ri));
	EXPECT_EQ(mt_data_offset(&self->a.d) + section, ri->size);
	EXPECT_EQ(section, self->a.d.section_size);
	free(ri);
}

TEST_F(mig_one, region_cap_type_is_migration_3_1)
{
	struct vfio_region_info_cap_type *ct;
	struct vfio_region_info *ri = NULL;

	ASSERT_OK(mig_get_region_info(&self->a.d,
				      MIG_MDEV_MIGRATION_REGION_INDEX, &ri));
	ct = (void *)region_cap(ri, VFIO_REGION_INFO_CAP_TYPE);
	ASSERT_NE(NULL, ct);
	EXPECT_EQ(3, ct->type);
	EXPECT_EQ(1, ct->subtype);
	free(ri);
}

TEST_F(mig_one, region_cap_sparse_mmap_one_area_is_data_section)
{
	struct vfio_region_info_cap_sparse_mmap *sp;
	struct vfio_region_info *ri = NULL;
	uint64_t psz = sysconf(_SC_PAGESIZE);
	uint64_t off = mt_data_offset(&self->a.d);

	ASSERT_OK(mig_get_region_info(&self->a.d,
				      MIG_MDEV_MIGRATION_REGION_INDEX, &ri));
	sp = (void *)region_cap(ri, VFIO_REGION_INFO_CAP_SPARSE_MMAP);
	ASSERT_NE(NULL, sp);
	ASSERT_EQ(1, sp->nr_areas);
	EXPECT_EQ(off, sp->areas[0].offset);
	EXPECT_EQ(section_attr(&self->a), sp->areas[0].size);
	EXPECT_EQ(0, sp->areas[0].offset % psz);
	EXPECT_EQ(0, sp->areas[0].size % psz);
	EXPECT_EQ(ri->size, sp->areas[0].offset + sp->areas[0].size);
	EXPECT_LE(MIG_HDR_SIZE, off);
	free(ri);
}

TEST_F(mig_one, region_info_short_argsz_returns_required_size)
{
	struct vfio_region_info ri = {
		.argsz = sizeof(ri),
		.index = MIG_MDEV_MIGRATION_REGION_INDEX,
	};
	struct vfio_region_info *full;

	ASSERT_OK(ioctl(self->a.d.fd, VFIO_DEVICE_GET_REGION_INFO, &ri));
	EXPECT_GT(ri.argsz, sizeof(ri));
	EXPECT_EQ(0, ri.cap_offset);
	EXPECT_TRUE(ri.flags & VFIO_REGION_INFO_FLAG_CAPS);

	full = calloc(1, ri.argsz);
	ASSERT_NE(NULL, full);
	full->argsz = ri.argsz;
	full->index = ri.index;
	ASSERT_OK(ioctl(self->a.d.fd, VFIO_DEVICE_GET_REGION_INFO, full));
	EXPECT_EQ(ri.argsz, full->argsz);
	EXPECT_NE(0, full->cap_offset);
	EXPECT_EQ(ri.size, full->size);
	free(full);
}

TEST_F(mig_one, data_offset_constant_through_every_state)
{
	uint64_t off = mt_data_offset(&self->a.d);

	ASSERT_EQ(self->a.d.data_offset, off);
	ASSERT_EQ(0, off % sysconf(_SC_PAGESIZE));
	test_cmd_set_state(&self->a.d, MIG_STATE_PRECOPY);
	ASSERT_NE(0, mt_pending(&self->a.d));
	EXPECT_EQ(off, mt_data_offset(&self->a.d));
	test_cmd_set_state(&self->a.d, MIG_STATE_SAVING);
	EXPECT_EQ(off, mt_data_offset(&self->a.d));
	ASSERT_OK(mig_save_loop(&self->a.d, MIG_PATH_PREAD, 0, mig_buf_sink,
				&self->stream, NULL));
	EXPECT_EQ(off, mt_data_offset(&self->a.d));
	test_cmd_set_state(&self->a.d, MIG_STATE_RUNNING);
	test_cmd_set_state(&self->a.d, MIG_STATE_RESUMING);
	EXPECT_EQ(off, mt_data_offset(&self->a.d));
	test_cmd_device_reset(&self->a.d);
	EXPECT_EQ(off, mt_data_offset(&self->a.d));
}

/* ---------------------------------------------------------------- */
/* The trapped header                                                */
/* ---------------------------------------------------------------- */

TEST_F(mig_one, header_fields_read_at_native_width)
{
	uint64_t v64 = ~0ULL;
	uint32_t v32 = ~0U;

	test_cmd_hdr_read(&self->a.d, MIG_HDR_DEVICE_STATE, &v32, 4);
	EXPECT_EQ(MIG_STATE_RUNNING, v32);
	test_cmd_hdr_read(&self->a.d, MIG_HDR_RESERVED, &v32, 4);
	EXPECT_EQ(0, v32);
	test_cmd_hdr_read(&self->a.d, MIG_HDR_PENDING_BYTES, &v64, 8);
	test_cmd_hdr_read(&self->a.d, MIG_HDR_DATA_OFFSET, &v64, 8);
	EXPECT_EQ(self->a.d.data_offset, v64);
	test_cmd_hdr_read(&self->a.d, MIG_HDR_DATA_SIZE, &v64, 8);
	EXPECT_EQ(0, v64);
}

/*
 * Every read of width 1/2/4/8 at every offset of [0, data_offset) that is
 * not a field's own width at its own offset is -EINVAL.
 */
static void sweep_reads(struct __test_metadata *_metadata, struct mig_dev *d)
{
	uint64_t bad = 0, off, first_off = 0;
	uint8_t buf[64];
	size_t i, first_w = 0;
	int ret, first_ret = 0;

	for (off = 0; off < d->data_offset; off++) {
		for (i = 0; i < ARRAY_SIZE(hdr_widths); i++) {
			size_t w = hdr_widths[i];

			if (mig_hdr_native(off, w))
				continue;
			ret = _test_cmd_hdr_read(d, off, buf, w);
			if (ret != -EINVAL && !bad++) {
				first_off = off;
				first_w = w;
				first_ret = ret;
			}
		}
	}
	/* Longer and straddling accesses. */
	test_err_hdr_read(EINVAL, d, 0, buf, MIG_HDR_SIZE);
	test_err_hdr_read(EINVAL, d, 8, buf, 16);
	test_err_hdr_read(EINVAL, d, 0, buf, 3);
	test_err_hdr_read(EINVAL, d, d->data_offset - 4, buf, 8);
	if (bad)
		TH_LOG("%" PRIu64 " bad reads, first at offset %" PRIu64
		       " width %zu: %d", bad, first_off, first_w, first_ret);
	EXPECT_EQ(0, bad);
}

TEST_F_TIMEOUT(mig_one, header_misaligned_reads_einval, 120)
{
	sweep_reads(_metadata, &self->a.d);
	EXPECT_STATE(&self->a.d, MIG_STATE_RUNNING);
}

TEST_F_TIMEOUT(mig_one, header_misaligned_reads_in_saving_have_no_effect,
	       120)
{
	struct mt_stream s;
	uint64_t p0, qoff, qsize;

	test_cmd_set_state(&self->a.d, MIG_STATE_STOP);
	test_cmd_set_state(&self->a.d, MIG_STATE_SAVING);
	p0 = mt_pending(&self->a.d);
	ASSERT_GT(p0, 0);
	sweep_reads(_metadata, &self->a.d);
	EXPECT_EQ(p0, mt_pending(&self->a.d));
	/* And with a chunk queued. */
	qoff = mt_data_offset(&self->a.d);
	qsize = mt_data_size(&self->a.d);
	sweep_reads(_metadata, &self->a.d);
	EXPECT_EQ(qoff, mt_data_offset(&self->a.d));
	EXPECT_EQ(qsize, mt_data_size(&self->a.d));
	EXPECT_OK(mig_buf_sink(&self->stream, self->a.d.section, qsize));
	ASSERT_OK(mig_save_loop(&self->a.d, MIG_PATH_MMAP, 0, mig_buf_sink,
				&self->stream, NULL));
	EXPECT_EQ(p0, self->stream.len);
	EXPECT_OK(mt_stream_parse(self->stream.data, self->stream.len, &s))
		TH_LOG("stream: %s", s.why);
	mt_stream_free(&s);
}

/*
 * Every non-native write is -EINVAL and changes nothing; @state is the
 * state the device is in and must stay in.
 */
static void sweep_writes(struct __test_metadata *_metadata, struct mig_dev *d,
			 uint32_t state, uint8_t fill)
{
	uint64_t bad = 0, changed = 0, off, first_off = 0;
	uint8_t buf[64];
	size_t i, first_w = 0;
	int ret, first_ret = 0;

	memset(buf, fill, sizeof(buf));
	for (off = 0; off < d->data_offset; off++) {
		for (i = 0; i < ARRAY_SIZE(hdr_widths); i++) {
			size_t w = hdr_widths[i];

			if (mig_hdr_native(off, w))
				continue;
			ret = _test_cmd_hdr_write(d, off, buf, w);
			if (ret != -EINVAL && !bad++) {
				first_off = off;
				first_w = w;
				first_ret = ret;
			}
			if (off < MIG_HDR_SIZE && mt_state(d) != state)
				changed++;
		}
	}
	test_err_hdr_write(EINVAL, d, 0, buf, MIG_HDR_SIZE);
	test_err_hdr_write(EINVAL, d, 0, buf, 3);
	test_err_hdr_write(EINVAL, d, d->data_offset - 4, buf, 8);
	if (bad)
		TH_LOG("%" PRIu64 " bad writes, first at offset %" PRIu64
		       " width %zu: %d", bad, first_off, first_w, first_ret);
	EXPECT_EQ(0, bad);
	EXPECT_EQ(0, changed);
	EXPECT_STATE(d, state);
	EXPECT_EQ(0, mt_data_size(d));
}

TEST_F_TIMEOUT(mig_one, header_misaligned_writes_einval_change_nothing, 120)
{
	sweep_writes(_metadata, &self->a.d, MIG_STATE_RUNNING,
		     MIG_STATE_SAVING);
	EXPECT_EQ(self->digest, mt_digest(&self->a));
}

TEST_F_TIMEOUT(mig_one, header_misaligned_writes_in_resuming_keep_session,
	       180)
{
	ASSERT_OK(self_save(&self->a, &self->stream));
	test_cmd_set_state(&self->a.d, MIG_STATE_RESUMING);
	sweep_writes(_metadata, &self->a.d, MIG_STATE_RESUMING, 0x01);
	test_cmd_feed(&self->a.d, MIG_PATH_PREAD, self->stream.data,
		      self->stream.len, MT_CUT_FIXED, 0, NULL);
	test_cmd_set_state(&self->a.d, MIG_STATE_RUNNING);
	EXPECT_EQ(self->digest, mt_digest(&self->a));
}

TEST_F(mig_one, reserved_reads_zero_writes_ignored)
{
	uint32_t v = 0xdeadbeef;

	test_cmd_hdr_write(&self->a.d, MIG_HDR_RESERVED, &v, 4);
	test_cmd_hdr_read(&self->a.d, MIG_HDR_RESERVED, &v, 4);
	EXPECT_EQ(0, v);
	EXPECT_STATE(&self->a.d, MIG_STATE_RUNNING);
	test_cmd_set_state(&self->a.d, MIG_STATE_RESUMING);
	v = 0x12345678;
	test_cmd_hdr_write(&self->a.d, MIG_HDR_RESERVED, &v, 4);
	test_cmd_hdr_read(&self->a.d, MIG_HDR_RESERVED, &v, 4);
	EXPECT_EQ(0, v);
	EXPECT_STATE(&self->a.d, MIG_STATE_RESUMING);
}

TEST_F(mig_one, pending_bytes_write_einval)
{
	uint64_t v = 4096, p0;

	test_err_hdr_write(EINVAL, &self->a.d, MIG_HDR_PENDING_BYTES, &v, 8);
	test_cmd_set_state(&self->a.d, MIG_STATE_SAVING);
	p0 = mt_pending(&self->a.d);
	test_err_hdr_write(EINVAL, &self->a.d, MIG_HDR_PENDING_BYTES, &v, 8);
	EXPECT_EQ(p0, mt_pending(&self->a.d));
	EXPECT_STATE(&self->a.d, MIG_STATE_SAVING);
}

TEST_F(mig_one, data_offset_write_einval)
{
	uint64_t v = 0;

	test_err_hdr_write(EINVAL, &self->a.d, MIG_HDR_DATA_OFFSET, &v, 8);
	test_cmd_set_state(&self->a.d, MIG_STATE_RESUMING);
	test_err_hdr_write(EINVAL, &self->a.d, MIG_HDR_DATA_OFFSET, &v, 8);
	EXPECT_EQ(self->a.d.data_offset, mt_data_offset(&self->a.d));
	EXPECT_STATE(&self->a.d, MIG_STATE_RESUMING);
}

TEST_F(mig_one, data_size_write_outside_resuming_einval)
{
	static const uint32_t states[] = {
		MIG_STATE_RUNNING, MIG_STATE_STOP, MIG_STATE_SAVING,
	};
	uint64_t qsize;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(states); i++) {
		test_cmd_set_state(&self->a.d, states[i]);
		test_err_set_data_size(EINVAL, &self->a.d, 1);
		test_err_set_data_size(EINVAL, &self->a.d, 0);
		EXPECT_STATE(&self->a.d, states[i]);
	}
	/* With a chunk queued in SAVING, nothing about it changes. */
	ASSERT_NE(0, mt_pending(&self->a.d));
	ASSERT_EQ(self->a.d.data_offset, mt_data_offset(&self->a.d));
	qsize = mt_data_size(&self->a.d);
	test_err_set_data_size(EINVAL, &self->a.d, 16);
	EXPECT_EQ(qsize, mt_data_size(&self->a.d));
	test_cmd_set_state(&self->a.d, MIG_STATE_RUNNING);
	test_cmd_set_state(&self->a.d, MIG_STATE_PRECOPY);
	test_err_set_data_size(EINVAL, &self->a.d, 1);
	EXPECT_STATE(&self->a.d, MIG_STATE_PRECOPY);
}

TEST_F(mig_one, device_state_bits_3_to_31_einval)
{
	static const uint32_t states[] = {
		MIG_STATE_STOP, MIG_STATE_RUNNING, MIG_STATE_SAVING,
		MIG_STATE_PRECOPY, MIG_STATE_RESUMING,
	};
	unsigned int b;
	size_t i;

	for (b = 3; b < 32; b++) {
		for (i = 0; i < ARRAY_SIZE(states); i++) {
			test_err_set_state(EINVAL, &self->a.d,
					   states[i] | 1U << b)
				TH_LOG("state %#x bit %u", states[i], b);
			EXPECT_STATE(&self->a.d, MIG_STATE_RUNNING);
		}
	}
}

/* ---------------------------------------------------------------- */
/* Saving                                                            */
/* ---------------------------------------------------------------- */

/* Reads every chunk left, checking the rules of each step. */
static void save_rest(struct __test_metadata *_metadata, struct mig_dev *d,
		      struct mig_buf *out, bool check_exact)
{
	uint64_t pending = mt_pending(d), next;

	while (pending) {
		uint64_t off, size;

		ASSERT_NE(UINT64_MAX, pending);
		off = mt_data_offset(d);
		size = mt_data_size(d);
		ASSERT_GT(size, 0);
		ASSERT_GE(off, d->data_offset);
		ASSERT_LE(off - d->data_offset + size, d->section_size);
		ASSERT_OK(mig_buf_sink(out, (uint8_t *)d->section +
				       (off - d->data_offset), size));
		next = mt_pending(d);
		ASSERT_LE(next, pending);
		if (check_exact)
			ASSERT_EQ(pending - size, next);
		pending = next;
	}
}

TEST_F(mig_one, saving_pending_read_without_chunk_has_no_effect)
{
	uint64_t p0;
	int i;

	test_cmd_set_state(&self->a.d, MIG_STATE_SAVING);
	p0 = mt_pending(&self->a.d);
	ASSERT_GT(p0, 0);
	for (i = 0; i < 8; i++)
		EXPECT_EQ(p0, mt_pending(&self->a.d));
	save_rest(_metadata, &self->a.d, &self->stream, false);
	EXPECT_EQ(p0, self->stream.len);
}

TEST_F(mig_one, precopy_pending_read_without_chunk_has_no_effect)
{
	uint64_t p0;
	int i;

	test_cmd_set_state(&self->a.d, MIG_STATE_PRECOPY);
	p0 = mt_pending(&self->a.d);
	ASSERT_GT(p0, 0);
	for (i = 0; i < 8; i++)
		EXPECT_EQ(p0, mt_pending(&self->a.d));
}

TEST_F(mig_one, data_offset_and_data_size_reads_idempotent_until_retired)
{
	uint64_t p0, off, size;
	struct mt_stream s;
	uint8_t *copy;
	int i;

	test_cmd_set_state(&self->a.d, MIG_STATE_STOP);
	test_cmd_set_state(&self->a.d, MIG_STATE_SAVING);
	p0 = mt_pending(&self->a.d);
	ASSERT_GT(p0, 0);
	off = mt_data_offset(&self->a.d);
	size = mt_data_size(&self->a.d);
	ASSERT_GT(size, 0);
	ASSERT_LE(size, self->a.d.section_size);
	copy = malloc(self->a.d.section_size);
	ASSERT_NE(NULL, copy);
	memcpy(copy, self->a.d.section, size);
	for (i = 0; i < 4; i++) {
		EXPECT_EQ(off, mt_data_offset(&self->a.d));
		EXPECT_EQ(size, mt_data_size(&self->a.d));
	}
	EXPECT_EQ(0, memcmp(copy, self->a.d.section, size));
	ASSERT_OK(mig_buf_sink(&self->stream, copy, size));
	free(copy);
	save_rest(_metadata, &self->a.d, &self->stream, false);
	EXPECT_EQ(p0, self->stream.len);
	EXPECT_OK(mt_stream_parse(self->stream.data, self->stream.len, &s))
		TH_LOG("stream: %s", s.why);
	mt_stream_free(&s);
}

TEST_F(mig_one, saving_pending_falls_to_zero_and_sums_to_first_value)
{
	uint64_t p0;

	test_cmd_set_state(&self->a.d, MIG_STATE_STOP);
	test_cmd_set_state(&self->a.d, MIG_STATE_SAVING);
	p0 = mt_pending(&self->a.d);
	ASSERT_GT(p0, 0);
	save_rest(_metadata, &self->a.d, &self->stream, false);
	EXPECT_EQ(p0, self->stream.len);
	EXPECT_EQ(0, mt_pending(&self->a.d));
}

TEST_F(mig_one, saving_pending_drops_by_each_chunk_size)
{
	test_cmd_set_state(&self->a.d, MIG_STATE_STOP);
	test_cmd_set_state(&self->a.d, MIG_STATE_SAVING);
	save_rest(_metadata, &self->a.d, &self->stream, true);
}

TEST_F(mig_one, pending_zero_means_data_size_zero)
{
	test_cmd_set_state(&self->a.d, MIG_STATE_SAVING);
	save_rest(_metadata, &self->a.d, &self->stream, false);
	ASSERT_EQ(0, mt_pending(&self->a.d));
	EXPECT_EQ(self->a.d.data_offset, mt_data_offset(&self->a.d));
	EXPECT_EQ(0, mt_data_size(&self->a.d));
	EXPECT_EQ(0, mt_pending(&self->a.d));
	EXPECT_EQ(0, mt_data_size(&self->a.d));
	EXPECT_STATE(&self->a.d, MIG_STATE_SAVING);
}

TEST_F_TIMEOUT(mig_one, saving_stream_follows_the_format, 120)
{
	const struct mig_rec_regs *regs;
	struct mt_stream s;
	uint8_t *mem;
	size_t off;
	uint32_t i;

	test_cmd_save(&self->a.d, MIG_PATH_MMAP, &self->stream);
	ASSERT_OK(mt_stream_parse(self->stream.data, self->stream.len, &s))
		TH_LOG("stream: %s", s.why);
	EXPECT_EQ(variant->stream_type, s.device_type);
	EXPECT_EQ(self->a.mem_size, s.mem_size);
	EXPECT_EQ(self->digest, s.digest);
	EXPECT_EQ(self->digest, mt_digest(&self->a));
	for (i = 0; i < self->a.npages; i++)
		if (!mt_page_covered(&s, i))
			break;
	EXPECT_EQ(self->a.npages, i);
	EXPECT_EQ(self->a.npages, s.pages);

	/* Page data is what BAR2 holds. */
	mem = malloc(self->a.mem_size);
	ASSERT_NE(NULL, mem);
	ASSERT_OK(mig_region_pread(&self->a.d, MT_BAR2, mem,
				   self->a.mem_size, 0));
	for (off = MT_HDR_LEN; off < s.off_config;) {
		const struct mig_rec_header *r = (void *)(self->stream.data + off);
		const struct mig_rec_pages *rp = (void *)(r + 1);
		uint64_t first = le32toh(rp->first);

		ASSERT_EQ(MIG_REC_PAGES, le32toh(r->type));
		ASSERT_EQ(0, memcmp(rp + 1, mem + first * MIG_PAGE_SIZE,
				    le32toh(rp->count) * MIG_PAGE_SIZE))
			TH_LOG("pages from %" PRIu64 " differ", first);
		off += MT_REC_LEN + le32toh(r->len);
	}
	free(mem);
	regs = (void *)(self->stream.data + s.off_regs + MT_REC_LEN);
	for (i = 0; i < MIG_NR_SCRATCH; i++)
		EXPECT_EQ((uint32_t)(1 * 131 + i), le32toh(regs->scratch[i]));
	mt_stream_free(&s);
}

static void noop_write_keeps_save(struct __test_metadata *_metadata,
				  struct mt_inst *in, struct mig_buf *out,
				  uint32_t state)
{
	uint64_t p0, p1;
	struct mt_stream s;
	int64_t n;

	test_cmd_set_state(&in->d, state);
	p0 = mt_pending(&in->d);
	ASSERT_GT(p0, 0);
	n = mig_save_chunk(&in->d, MIG_PATH_MMAP, mig_buf_sink, out);
	ASSERT_GT(n, 0);
	p1 = mt_pending(&in->d);
	ASSERT_LT(p1, p0);
	test_cmd_set_state(&in->d, state);
	EXPECT_STATE(&in->d, state);
	EXPECT_EQ(p1, mt_pending(&in->d));
	n = mig_save_chunk(&in->d, MIG_PATH_MMAP, mig_buf_sink, out);
	ASSERT_GT(n, 0);
	test_cmd_set_state(&in->d, state);
	EXPECT_GT(p1, mt_pending(&in->d));
	if (state == MIG_STATE_PRECOPY)
		test_cmd_set_state(&in->d, MIG_STATE_SAVING);
	save_rest(_metadata, &in->d, out, false);
	ASSERT_OK(mt_stream_parse(out->data, out->len, &s))
		TH_LOG("stream: %s", s.why);
	/* One header, every page once: the save was never restarted. */
	EXPECT_EQ(in->npages, s.pages);
	EXPECT_EQ(s.digest, mt_digest(in));
	mt_stream_free(&s);
}

TEST_F(mig_one, noop_saving_write_does_not_restart_save)
{
	test_cmd_set_state(&self->a.d, MIG_STATE_STOP);
	noop_write_keeps_save(_metadata, &self->a, &self->stream,
			      MIG_STATE_SAVING);
}

TEST_F(mig_one, noop_precopy_write_does_not_restart_save)
{
	noop_write_keeps_save(_metadata, &self->a, &self->stream,
			      MIG_STATE_PRECOPY);
}

TEST_F(mig_one, precopy_to_saving_keeps_session)
{
	struct mt_stream s;
	uint64_t p;
	int i;

	test_cmd_set_state(&self->a.d, MIG_STATE_PRECOPY);
	for (i = 0; i < 2; i++)
		ASSERT_LT(0, mig_save_chunk(&self->a.d, MIG_PATH_PREAD,
					    mig_buf_sink, &self->stream));
	p = mt_pending(&self->a.d);
	test_cmd_set_state(&self->a.d, MIG_STATE_SAVING);
	/* What was sent stays sent: at most the tail records are added. */
	EXPECT_LE(p, mt_pending(&self->a.d));
	EXPECT_GT(p + 4096 + MIG_MDEV_CONFIG_SIZE, mt_pending(&self->a.d));
	save_rest(_metadata, &self->a.d, &self->stream, false);
	ASSERT_OK(mt_stream_parse(self->stream.data, self->stream.len, &s))
		TH_LOG("stream: %s", s.why);
	EXPECT_EQ(self->a.npages, s.pages);
	EXPECT_EQ(self->digest, s.digest);
	mt_stream_free(&s);
}

TEST_F(mig_one, cancel_keeps_device_state_and_next_save_starts_over)
{
	static const uint32_t cancel[] = { MIG_STATE_RUNNING, MIG_STATE_STOP };
	struct mt_stream s;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(cancel); i++) {
		mig_buf_free(&self->stream);
		test_cmd_set_state(&self->a.d, MIG_STATE_PRECOPY);
		ASSERT_LT(0, mig_save_chunk(&self->a.d, MIG_PATH_MMAP,
					    mig_buf_sink, &self->stream));
		test_cmd_set_state(&self->a.d, cancel[i]);
		EXPECT_EQ(self->digest, mt_digest(&self->a));
		EXPECT_EQ(0, mt_data_size(&self->a.d));
	}
	/* The next save is a new session: header first, every page. */
	mig_buf_free(&self->stream);
	test_cmd_save(&self->a.d, MIG_PATH_MMAP, &self->stream);
	ASSERT_OK(mt_stream_parse(self->stream.data, self->stream.len, &s))
		TH_LOG("stream: %s", s.why);
	EXPECT_EQ(self->a.npages, s.pages);
	EXPECT_EQ(self->digest, s.digest);
	mt_stream_free(&s);
}

TEST_F(mig_one, saving_stops_the_engine_precopy_does_not)
{
	uint64_t c0, c1, d0;

	test_cmd_engine_rate(self->a.uuid, 2000);
	test_cmd_set_state(&self->a.d, MIG_STATE_PRECOPY);
	c0 = mt_engine_count(&self->a);
	usleep(200000);
	c1 = mt_engine_count(&self->a);
	EXPECT_LT(c0, c1);
	/* In PRECOPY the engine dirties pages: pending grows again. */
	ASSERT_OK(mig_save_loop(&self->a.d, MIG_PATH_MMAP,
				2 * self->a.mem_size / self->a.d.section_size
				+ 16, mig_buf_sink, &self->stream, NULL));
	usleep(100000);
	EXPECT_LT(0, mt_pending(&self->a.d));
	test_cmd_set_state(&self->a.d, MIG_STATE_SAVING);
	c0 = mt_engine_count(&self->a);
	d0 = mt_digest(&self->a);
	usleep(200000);
	EXPECT_EQ(c0, mt_engine_count(&self->a));
	EXPECT_EQ(d0, mt_digest(&self->a));
	test_cmd_set_state(&self->a.d, MIG_STATE_RUNNING);
	test_cmd_engine_rate(self->a.uuid, 0);
}

/* ---------------------------------------------------------------- */
/* mmap                                                              */
/* ---------------------------------------------------------------- */

TEST_F(mig_one, mmap_and_pread_give_the_same_chunk)
{
	struct mig_dev *d = &self->a.d;
	uint64_t chunks = 0;
	uint8_t *buf;

	buf = malloc(d->section_size);
	ASSERT_NE(NULL, buf);
	test_cmd_set_state(d, MIG_STATE_STOP);
	test_cmd_set_state(d, MIG_STATE_SAVING);
	while (mt_pending(d)) {
		uint64_t off = mt_data_offset(d), size = mt_data_size(d);

		ASSERT_GT(size, 0);
		ASSERT_OK(mig_region_pread(d, d->mig_index, buf, size, off));
		ASSERT_EQ(0, memcmp(buf, (uint8_t *)d->section +
				    (off - d->data_offset), size))
			TH_LOG("chunk %" PRIu64 " differs", chunks);
		chunks++;
	}
	EXPECT_GT(chunks, 0);
	free(buf);
}

static void *mmap_mig(struct mig_dev *d, size_t len, int flags, uint64_t off)
{
	return mmap(NULL, len, PROT_READ | PROT_WRITE, flags, d->fd,
		    (off_t)(d->mig_offset + off));
}

TEST_F(mig_one, mmap_private_einval)
{
	void *p = mmap_mig(&self->a.d, self->a.d.section_size, MAP_PRIVATE,
			   self->a.d.data_offset);

	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(mig_one, mmap_of_header_einval)
{
	struct mig_dev *d = &self->a.d;
	void *p;

	p = mmap_mig(d, sysconf(_SC_PAGESIZE), MAP_SHARED, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap_mig(d, d->data_offset + d->section_size, MAP_SHARED, 0);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	if (d->data_offset > (uint64_t)sysconf(_SC_PAGESIZE)) {
		p = mmap_mig(d, sysconf(_SC_PAGESIZE), MAP_SHARED,
			     d->data_offset - sysconf(_SC_PAGESIZE));
		EXPECT_EQ(MAP_FAILED, p);
		EXPECT_EQ(EINVAL, errno);
	}
}

TEST_F(mig_one, mmap_beyond_section_einval)
{
	struct mig_dev *d = &self->a.d;
	size_t psz = sysconf(_SC_PAGESIZE);
	void *p;

	p = mmap_mig(d, d->section_size + psz, MAP_SHARED, d->data_offset);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
	p = mmap_mig(d, psz, MAP_SHARED, d->data_offset + d->section_size);
	EXPECT_EQ(MAP_FAILED, p);
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(mig_one, mmap_inside_section_shares_the_section)
{
	struct mig_dev *d = &self->a.d;
	size_t psz = sysconf(_SC_PAGESIZE);
	uint64_t last = d->section_size - psz;
	uint8_t *p;

	p = mmap_mig(d, psz, MAP_SHARED, d->data_offset + last);
	ASSERT_NE(MAP_FAILED, p);
	p[7] = 0x5a;
	EXPECT_EQ(0x5a, ((uint8_t *)d->section)[last + 7]);
	munmap(p, psz);
}

/* ---------------------------------------------------------------- */
/* ERROR, reset, close                                               */
/* ---------------------------------------------------------------- */

TEST_F(mig_one, error_rejects_every_state_write)
{
	uint32_t v;

	ASSERT_OK(reach_error(&self->a, variant->stream_type));
	for (v = 0; v < MIG_STATE_NR; v++) {
		test_err_set_state(EINVAL, &self->a.d, v)
			TH_LOG("write %u", v);
		EXPECT_STATE(&self->a.d, MIG_STATE_ERROR);
	}
}

TEST_F(mig_one, error_rejects_data_size_write)
{
	ASSERT_OK(reach_error(&self->a, variant->stream_type));
	test_err_set_data_size(EINVAL, &self->a.d, 1);
	test_err_set_data_size(EINVAL, &self->a.d, self->a.d.section_size);
	test_err_set_data_size(EINVAL, &self->a.d, 0);
	EXPECT_STATE(&self->a.d, MIG_STATE_ERROR);
}

TEST_F_TIMEOUT(mig_one, reset_leaves_error_and_device_works, 120)
{
	ASSERT_OK(reach_error(&self->a, variant->stream_type));
	test_cmd_device_reset(&self->a.d);
	ASSERT_STATE(&self->a.d, MIG_STATE_RUNNING);
	test_cmd_fill(&self->a, 5);
	self->digest = mt_digest(&self->a);
	ASSERT_OK(self_save(&self->a, &self->stream));
	test_cmd_resume(&self->a.d, self->stream.data, self->stream.len,
			MIG_STATE_RUNNING);
	EXPECT_EQ(self->digest, mt_digest(&self->a));
}

TEST_F(mig_one, reset_gives_power_on_state_of_a_new_instance)
{
	struct mt_inst fresh;
	uint64_t want;
	uint8_t page[MIG_PAGE_SIZE], zero[MIG_PAGE_SIZE] = { 0 };

	ASSERT_OK(mt_inst_new(&fresh, variant->type));
	want = mt_digest(&fresh);
	mt_inst_del(&fresh);
	test_cmd_engine_rate(self->a.uuid, 100);
	test_cmd_set_state(&self->a.d, MIG_STATE_PRECOPY);
	ASSERT_NE(0, mt_pending(&self->a.d));
	test_cmd_device_reset(&self->a.d);
	EXPECT_STATE(&self->a.d, MIG_STATE_RUNNING);
	EXPECT_EQ(want, mt_digest(&self->a));
	ASSERT_OK(mig_region_pread(&self->a.d, MT_BAR2, page, sizeof(page),
				   MIG_PAGE_SIZE));
	EXPECT_EQ(0, memcmp(page, zero, sizeof(page)));
	EXPECT_EQ(0, mt_pending(&self->a.d));
}

TEST_F(mig_one, resuming_takes_config_and_bar0_accesses)
{
	uint16_t cmd;
	uint32_t id;
	size_t half;

	ASSERT_OK(self_save(&self->a, &self->stream));
	half = self->stream.len / 2;
	test_cmd_device_reset(&self->a.d);
	test_cmd_set_state(&self->a.d, MIG_STATE_RESUMING);
	test_cmd_feed(&self->a.d, MIG_PATH_MMAP, self->stream.data, half,
		      MT_CUT_FIXED, 0, NULL);
	ASSERT_OK(mig_region_pread(&self->a.d, MT_CONFIG, &cmd, 2, 4));
	cmd |= 0x6;	/* memory space, bus master */
	ASSERT_OK(mig_region_pwrite(&self->a.d, MT_CONFIG, &cmd, 2, 4));
	test_cmd_bar0_read(&self->a.d, MIG_REG_ID, &id);
	EXPECT_EQ(MIG_REG_ID_VALUE, id);
	test_cmd_bar0_write(&self->a.d, MIG_REG_SCRATCH0, 0xabcd);
	EXPECT_STATE(&self->a.d, MIG_STATE_RESUMING);
	test_cmd_feed(&self->a.d, MIG_PATH_MMAP, self->stream.data + half,
		      self->stream.len - half, MT_CUT_FIXED, 0, NULL);
	test_cmd_set_state(&self->a.d, MIG_STATE_RUNNING);
	EXPECT_EQ(self->digest, mt_digest(&self->a));
}

/* Closes and reopens the device; it must be RUNNING with @digest. */
static void close_reopen(struct __test_metadata *_metadata, struct mt_inst *in)
{
	uint64_t digest = mt_digest(in);

	mt_inst_close(in);
	ASSERT_OK(mt_inst_open(in));
	EXPECT_STATE(&in->d, MIG_STATE_RUNNING);
	EXPECT_EQ(digest, mt_digest(in));
	EXPECT_EQ(0, mt_data_size(&in->d));
}

TEST_F(mig_one, close_in_precopy_reopens_running_intact)
{
	test_cmd_set_state(&self->a.d, MIG_STATE_PRECOPY);
	ASSERT_LT(0, mig_save_chunk(&self->a.d, MIG_PATH_MMAP, mig_buf_sink,
				    &self->stream));
	close_reopen(_metadata, &self->a);
	EXPECT_EQ(self->digest, mt_digest(&self->a));
}

TEST_F(mig_one, close_in_saving_reopens_running_intact)
{
	test_cmd_set_state(&self->a.d, MIG_STATE_STOP);
	test_cmd_set_state(&self->a.d, MIG_STATE_SAVING);
	ASSERT_LT(0, mig_save_chunk(&self->a.d, MIG_PATH_MMAP, mig_buf_sink,
				    &self->stream));
	close_reopen(_metadata, &self->a);
	EXPECT_EQ(self->digest, mt_digest(&self->a));
}

TEST_F(mig_one, close_in_stop_reopens_running_intact)
{
	test_cmd_set_state(&self->a.d, MIG_STATE_STOP);
	close_reopen(_metadata, &self->a);
	EXPECT_EQ(self->digest, mt_digest(&self->a));
}

TEST_F(mig_one, close_in_resuming_reopens_running_intact)
{
	ASSERT_OK(self_save(&self->a, &self->stream));
	test_cmd_set_state(&self->a.d, MIG_STATE_RESUMING);
	test_cmd_feed(&self->a.d, MIG_PATH_PREAD, self->stream.data,
		      self->stream.len / 2, MT_CUT_FIXED, 0, NULL);
	close_reopen(_metadata, &self->a);
	/* A new resume session then completes. */
	test_cmd_resume(&self->a.d, self->stream.data, self->stream.len,
			MIG_STATE_RUNNING);
	EXPECT_EQ(self->digest, mt_digest(&self->a));
}

TEST_F(mig_one, close_in_error_reopens_running)
{
	ASSERT_OK(reach_error(&self->a, variant->stream_type));
	close_reopen(_metadata, &self->a);
}

/* ================================================================ */
/* The device_state matrix                                           */
/* ================================================================ */

/* Where a matrix test starts from. */
enum from {
	FROM_STOP,
	FROM_RUNNING,
	FROM_SAVING,
	FROM_PRECOPY,
	FROM_RESUMING,		/* a fresh resume session, no stream yet */
	FROM_RESUMED,		/* RESUMING with a complete, verified stream */
	FROM_ERROR,
};

#define OK	0
#define BAD	(-EINVAL)

/*
 * PROTOCOL.md's transition table: result of writing device_state value
 * [to] (000b..111b) from [from].  A write that succeeds leaves the new
 * state; one that fails leaves the state as it was.
 */
static const int arcs[][MIG_STATE_NR] = {
	/*		   STOP RUN  SAV  PRE  RES  101b 110b 111b */
	[FROM_STOP]	= { OK,  OK,  OK,  OK,  OK,  BAD, BAD, BAD },
	[FROM_RUNNING]	= { OK,  OK,  OK,  OK,  OK,  BAD, BAD, BAD },
	[FROM_SAVING]	= { OK,  OK,  OK,  BAD, BAD, BAD, BAD, BAD },
	[FROM_PRECOPY]	= { OK,  OK,  OK,  OK,  BAD, BAD, BAD, BAD },
	[FROM_RESUMING]	= { BAD, BAD, BAD, BAD, OK,  BAD, BAD, BAD },
	[FROM_RESUMED]	= { OK,  OK,  BAD, BAD, OK,  BAD, BAD, BAD },
	[FROM_ERROR]	= { BAD, BAD, BAD, BAD, BAD, BAD, BAD, BAD },
};

FIXTURE(mig_matrix) {
	struct mt_inst a;
	struct mig_buf stream;
	uint32_t state;
};

FIXTURE_VARIANT(mig_matrix) {
	enum from from;
	uint32_t state;
};

FIXTURE_VARIANT_ADD(mig_matrix, from_stop) {
	.from = FROM_STOP, .state = MIG_STATE_STOP,
};

FIXTURE_VARIANT_ADD(mig_matrix, from_running) {
	.from = FROM_RUNNING, .state = MIG_STATE_RUNNING,
};

FIXTURE_VARIANT_ADD(mig_matrix, from_saving) {
	.from = FROM_SAVING, .state = MIG_STATE_SAVING,
};

FIXTURE_VARIANT_ADD(mig_matrix, from_precopy) {
	.from = FROM_PRECOPY, .state = MIG_STATE_PRECOPY,
};

FIXTURE_VARIANT_ADD(mig_matrix, from_resuming) {
	.from = FROM_RESUMING, .state = MIG_STATE_RESUMING,
};

FIXTURE_VARIANT_ADD(mig_matrix, from_resuming_complete) {
	.from = FROM_RESUMED, .state = MIG_STATE_RESUMING,
};

FIXTURE_VARIANT_ADD(mig_matrix, from_error) {
	.from = FROM_ERROR, .state = MIG_STATE_ERROR,
};

FIXTURE_SETUP(mig_matrix)
{
	struct mig_dev *d;

	MT_SKIP_IF_NO_MODULE();
	ASSERT_OK(inst_setup(&self->a, "small", 3));
	d = &self->a.d;
	switch (variant->from) {
	case FROM_STOP:
		test_cmd_set_state(d, MIG_STATE_STOP);
		break;
	case FROM_RUNNING:
		break;
	case FROM_SAVING:
		test_cmd_set_state(d, MIG_STATE_STOP);
		test_cmd_set_state(d, MIG_STATE_SAVING);
		ASSERT_LT(0, mig_save_chunk(d, MIG_PATH_MMAP, mig_buf_sink,
					    &self->stream));
		break;
	case FROM_PRECOPY:
		test_cmd_set_state(d, MIG_STATE_PRECOPY);
		ASSERT_LT(0, mig_save_chunk(d, MIG_PATH_MMAP, mig_buf_sink,
					    &self->stream));
		break;
	case FROM_RESUMING:
		test_cmd_set_state(d, MIG_STATE_RESUMING);
		break;
	case FROM_RESUMED:
		ASSERT_OK(self_save(&self->a, &self->stream));
		test_cmd_set_state(d, MIG_STATE_RESUMING);
		test_cmd_feed(d, MIG_PATH_MMAP, self->stream.data,
			      self->stream.len, MT_CUT_FIXED, 0, NULL);
		break;
	case FROM_ERROR:
		ASSERT_OK(reach_error(&self->a, MIG_TYPE_SMALL));
		break;
	}
	ASSERT_STATE(d, variant->state);
}

FIXTURE_TEARDOWN(mig_matrix)
{
	mt_inst_del(&self->a);
	mig_buf_free(&self->stream);
}

static void check_arc(struct __test_metadata *_metadata,
		      FIXTURE_DATA(mig_matrix) *self,
		      const FIXTURE_VARIANT(mig_matrix) *variant, uint32_t to)
{
	struct mig_dev *d = &self->a.d;
	int want = arcs[variant->from][to];
	uint32_t raw;

	EXPECT_EQ(want, mig_set_state(d, to));
	test_cmd_hdr_read(d, MIG_HDR_DEVICE_STATE, &raw, 4);
	EXPECT_EQ(0, raw & ~MIG_STATE_BITS);
	EXPECT_EQ(want ? variant->state : to, raw);

	/* A save that starts has everything pending. */
	if (!want && (to == MIG_STATE_SAVING || to == MIG_STATE_PRECOPY))
		EXPECT_NE(0, mt_pending(d));
}

TEST_F(mig_matrix, write_stop)
{
	check_arc(_metadata, self, variant, MIG_STATE_STOP);
}

TEST_F(mig_matrix, write_running)
{
	check_arc(_metadata, self, variant, MIG_STATE_RUNNING);
}

TEST_F(mig_matrix, write_saving)
{
	check_arc(_metadata, self, variant, MIG_STATE_SAVING);
}

TEST_F(mig_matrix, write_precopy)
{
	check_arc(_metadata, self, variant, MIG_STATE_PRECOPY);
}

TEST_F(mig_matrix, write_resuming)
{
	check_arc(_metadata, self, variant, MIG_STATE_RESUMING);
}

TEST_F(mig_matrix, write_101b_einval)
{
	check_arc(_metadata, self, variant, 5);
}

TEST_F(mig_matrix, write_error_110b_einval)
{
	check_arc(_metadata, self, variant, MIG_STATE_ERROR);
}

TEST_F(mig_matrix, write_111b_einval)
{
	check_arc(_metadata, self, variant, 7);
}

TEST_F(mig_matrix, write_with_bits_3_to_31_einval)
{
	unsigned int b;

	for (b = 3; b < 32; b++) {
		test_err_set_state(EINVAL, &self->a.d,
				   MIG_STATE_RUNNING | 1U << b);
		test_err_set_state(EINVAL, &self->a.d,
				   variant->state | 1U << b);
		EXPECT_STATE(&self->a.d, variant->state);
	}
}

TEST_F(mig_matrix, reset_returns_running)
{
	test_cmd_device_reset(&self->a.d);
	EXPECT_STATE(&self->a.d, MIG_STATE_RUNNING);
	EXPECT_EQ(0, mt_data_size(&self->a.d));
	/* Any session is gone: a new save starts from its header. */
	mig_buf_free(&self->stream);
	test_cmd_set_state(&self->a.d, MIG_STATE_SAVING);
	ASSERT_LT(0, mig_save_chunk(&self->a.d, MIG_PATH_MMAP, mig_buf_sink,
				    &self->stream));
	ASSERT_LE(MT_HDR_LEN, self->stream.len);
	EXPECT_EQ(MIG_STREAM_MAGIC, le32toh(*(uint32_t *)self->stream.data));
}

/* ================================================================ */
/* Save on one instance, resume on another                           */
/* ================================================================ */

FIXTURE(mig_pair) {
	struct mt_inst src;
	struct mt_inst dst;
	struct mt_inst other;
	struct mig_buf stream;
	struct mt_stream parsed;
	uint64_t digest;
};

FIXTURE_VARIANT(mig_pair) {
	const char *type;
	uint32_t stream_type;
};

FIXTURE_VARIANT_ADD(mig_pair, small) {
	.type = "small",
	.stream_type = MIG_TYPE_SMALL,
};

FIXTURE_VARIANT_ADD(mig_pair, large) {
	.type = "large",
	.stream_type = MIG_TYPE_LARGE,
};

FIXTURE_SETUP(mig_pair)
{
	MT_SKIP_IF_NO_MODULE();
	mt_inst_init(&self->dst);
	mt_inst_init(&self->other);
	ASSERT_OK(inst_setup(&self->src, variant->type, 7));
	if (inst_setup(&self->dst, variant->type, 99))
		mt_inst_del(&self->src);
	ASSERT_TRUE(self->dst.created);
	self->digest = mt_digest(&self->src);
	ASSERT_NE(self->digest, mt_digest(&self->dst));
}

FIXTURE_TEARDOWN(mig_pair)
{
	mt_inst_del(&self->src);
	mt_inst_del(&self->dst);
	mt_inst_del(&self->other);
	mig_buf_free(&self->stream);
	mt_stream_free(&self->parsed);
}

/* Stop-and-copy save of the source; the source stays in STOP. */
static void pair_save(struct __test_metadata *_metadata,
		      FIXTURE_DATA(mig_pair) *self)
{
	test_cmd_save(&self->src.d, MIG_PATH_PREAD, &self->stream);
	ASSERT_OK(mt_stream_parse(self->stream.data, self->stream.len,
				  &self->parsed))
		TH_LOG("stream: %s", self->parsed.why);
	ASSERT_EQ(self->digest, self->parsed.digest);
}

/* The destination holds the source's state; the source never changed. */
static void pair_check(struct __test_metadata *_metadata,
		       FIXTURE_DATA(mig_pair) *self)
{
	EXPECT_EQ(self->digest, mt_digest(&self->dst));
	EXPECT_EQ(self->digest, mt_digest(&self->src));
}

static void pair_resume_cut(struct __test_metadata *_metadata,
			    FIXTURE_DATA(mig_pair) *self, enum mig_path path,
			    enum mt_cut cut, uint64_t arg)
{
	pair_save(_metadata, self);
	test_cmd_set_state(&self->dst.d, MIG_STATE_RESUMING);
	test_cmd_feed(&self->dst.d, path, self->stream.data,
		      self->stream.len, cut, arg, NULL);
	test_cmd_set_state(&self->dst.d, MIG_STATE_RUNNING);
	pair_check(_metadata, self);
}

TEST_F_TIMEOUT(mig_pair, resume_pread_gives_equal_digest, 120)
{
	pair_resume_cut(_metadata, self, MIG_PATH_PREAD, MT_CUT_FIXED, 0);
}

TEST_F_TIMEOUT(mig_pair, resume_mmap_gives_equal_digest, 120)
{
	pair_resume_cut(_metadata, self, MIG_PATH_MMAP, MT_CUT_FIXED, 0);
}

TEST_F_TIMEOUT(mig_pair, resume_libmig_split_writes_gives_equal_digest, 120)
{
	pair_save(_metadata, self);
	test_cmd_set_state(&self->dst.d, MIG_STATE_RESUMING);
	ASSERT_OK(mig_resume_write(&self->dst.d, MIG_PATH_MMAP,
				   self->stream.data, self->stream.len,
				   8191));
	test_cmd_set_state(&self->dst.d, MIG_STATE_RUNNING);
	pair_check(_metadata, self);
}

TEST_F_TIMEOUT(mig_pair, resume_one_byte_writes_gives_equal_digest, 900)
{
	if (variant->stream_type != MIG_TYPE_SMALL)
		SKIP(return, "1-byte writes run on the small type only");
	pair_resume_cut(_metadata, self, MIG_PATH_MMAP, MT_CUT_FIXED, 1);
	EXPECT_EQ(self->dst.d.data_offset, mt_data_offset(&self->dst.d));
}

TEST_F_TIMEOUT(mig_pair, resume_4093_byte_writes_gives_equal_digest, 120)
{
	pair_resume_cut(_metadata, self, MIG_PATH_PREAD, MT_CUT_FIXED, 4093);
}

TEST_F_TIMEOUT(mig_pair, resume_65521_byte_writes_gives_equal_digest, 120)
{
	pair_resume_cut(_metadata, self, MIG_PATH_MMAP, MT_CUT_FIXED, 65521);
}

TEST_F_TIMEOUT(mig_pair, resume_random_size_writes_gives_equal_digest, 120)
{
	pair_resume_cut(_metadata, self, MIG_PATH_PREAD, MT_CUT_RANDOM,
			0x5eed);
}

static void section_resume(struct __test_metadata *_metadata,
			   FIXTURE_DATA(mig_pair) *self,
			   const FIXTURE_VARIANT(mig_pair) *variant,
			   unsigned int pages)
{
	char buf[64];

	ASSERT_OK(mt_inst_new_section(&self->other, variant->type, pages));
	ASSERT_OK(mig_attr_read(self->other.uuid, "section_size", buf,
				sizeof(buf)));
	ASSERT_EQ((uint64_t)pages * MIG_PAGE_SIZE, strtoull(buf, NULL, 0));
	ASSERT_EQ((uint64_t)pages * MIG_PAGE_SIZE, self->other.d.section_size);
	pair_save(_metadata, self);
	test_cmd_set_state(&self->other.d, MIG_STATE_RESUMING);
	ASSERT_OK(mig_resume_write(&self->other.d, MIG_PATH_MMAP,
				   self->stream.data, self->stream.len, 0));
	test_cmd_set_state(&self->other.d, MIG_STATE_RUNNING);
	EXPECT_EQ(self->digest, mt_digest(&self->other));
	EXPECT_EQ(self->digest, mt_digest(&self->src));
}

TEST_F_TIMEOUT(mig_pair, resume_into_smaller_section, 180)
{
	section_resume(_metadata, self, variant, 3);
}

TEST_F_TIMEOUT(mig_pair, resume_into_larger_section, 120)
{
	section_resume(_metadata, self, variant, 1024);
}

TEST_F_TIMEOUT(mig_pair, save_from_one_page_section_resumes, 180)
{
	struct mig_buf small = { 0 };

	ASSERT_OK(mt_inst_new_section(&self->other, variant->type, 1));
	test_cmd_fill(&self->other, 7);
	ASSERT_EQ(self->digest, mt_digest(&self->other));
	test_cmd_save(&self->other.d, MIG_PATH_MMAP, &small);
	test_cmd_resume(&self->dst.d, small.data, small.len, MIG_STATE_RUNNING);
	mig_buf_free(&small);
	EXPECT_EQ(self->digest, mt_digest(&self->dst));
}

TEST_F_TIMEOUT(mig_pair, resume_after_destination_reset, 120)
{
	pair_save(_metadata, self);
	test_cmd_device_reset(&self->dst.d);
	test_cmd_resume(&self->dst.d, self->stream.data,
			self->stream.len, MIG_STATE_RUNNING);
	pair_check(_metadata, self);
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

/*
 * Memory of @in, pages [@first, @first + @count), read through BAR2, is
 * zero (@want NULL) or equal to the same pages of @want.
 */
static bool mem_is(struct mt_inst *in, struct mt_inst *want, uint32_t first,
		   uint32_t count)
{
	const size_t step = 256 * MIG_PAGE_SIZE;
	uint64_t off = (uint64_t)first * MIG_PAGE_SIZE;
	uint64_t end = off + (uint64_t)count * MIG_PAGE_SIZE;
	uint8_t *a = malloc(step), *b = calloc(1, step);
	bool same = a && b;

	for (; same && off < end; off += step) {
		size_t len = end - off < step ? end - off : step;

		same = !_test_cmd_mem_read(&in->d, off, a, len) &&
		       (!want || !_test_cmd_mem_read(&want->d, off, b, len)) &&
		       !memcmp(a, b, len);
	}
	free(a);
	free(b);
	return same;
}

/*
 * The bytes of @in's memory are what its digest says: a save of @in
 * (which copies memory) resumes into a new instance, whose resume hashes
 * every page it receives and checks them against @in's digest.
 */
static void digest_matches_memory(struct __test_metadata *_metadata,
				  FIXTURE_DATA(mig_pair) *self,
				  struct mt_inst *in)
{
	struct mig_buf s = { 0 };
	uint64_t digest = mt_digest(in);

	if (!self->other.created)
		ASSERT_OK(mt_inst_new(&self->other, in->type));
	test_cmd_save(&in->d, MIG_PATH_PREAD, &s);
	EXPECT_OK(_test_cmd_resume(&self->other.d, s.data, s.len,
				   MIG_STATE_STOP));
	mig_buf_free(&s);
	EXPECT_EQ(digest, mt_digest(&self->other));
	EXPECT_TRUE(mem_is(&self->other, in, 0, in->npages));
}

/*
 * Entering RESUMING resets the device: pages of memory the stream does not
 * bring are zero afterwards, though the destination held data there.
 */
TEST_F_TIMEOUT(mig_pair, resume_clears_pages_the_stream_does_not_bring, 180)
{
	const uint32_t pages = self->src.npages < MIG_MAX_RUN_PAGES ?
			       self->src.npages : MIG_MAX_RUN_PAGES;
	const size_t run = (size_t)pages * MIG_PAGE_SIZE;
	size_t rec = MT_REC_LEN + sizeof(struct mig_rec_pages) + run;
	const struct mig_rec_pages *rp;
	uint8_t *zero = calloc(1, run), *b;
	size_t at, blen, end_len;

	ASSERT_NE(NULL, zero);
	/* The first record of a save is the first run: make it zero ... */
	test_cmd_mem_write(&self->src.d, 0, zero, run);
	free(zero);
	self->digest = mt_digest(&self->src);
	pair_save(_metadata, self);
	at = self->parsed.first_pages;
	rp = (const void *)(self->stream.data + at + MT_REC_LEN);
	ASSERT_EQ(0, le32toh(rp->first));
	ASSERT_EQ(pages, le32toh(rp->count));
	/* ... and leave that record out; END counts the bytes before it. */
	b = mt_dup(&self->stream);
	ASSERT_NE(NULL, b);
	blen = self->stream.len - rec;
	memmove(b + at, b + at + rec, blen - at);
	end_len = self->parsed.end_stream_len - rec;
	put64(b + self->parsed.off_end - rec + MT_REC_LEN +
	      offsetof(struct mig_rec_end, stream_len), end_len);
	ASSERT_FALSE(mem_is(&self->dst, NULL, 0, pages));

	test_cmd_set_state(&self->dst.d, MIG_STATE_RESUMING);
	test_cmd_feed(&self->dst.d, MIG_PATH_MMAP, b, blen,
		      MT_CUT_RANDOM, 5, NULL);
	free(b);
	test_cmd_set_state(&self->dst.d, MIG_STATE_STOP);
	pair_check(_metadata, self);
	EXPECT_TRUE(mem_is(&self->dst, NULL, 0, pages));
	EXPECT_TRUE(mem_is(&self->dst, &self->src, 0, self->src.npages));
	digest_matches_memory(_metadata, self, &self->dst);
}

/* In RESUMING, memory reads as reset until the stream brings a page. */
TEST_F_TIMEOUT(mig_pair, resuming_bar2_reads_zero_until_the_page_comes, 180)
{
	uint32_t last = self->dst.npages - 1;

	pair_save(_metadata, self);
	ASSERT_FALSE(mem_is(&self->dst, NULL, 1, 1));
	test_cmd_set_state(&self->dst.d, MIG_STATE_RESUMING);
	EXPECT_TRUE(mem_is(&self->dst, NULL, 1, 1));
	EXPECT_TRUE(mem_is(&self->dst, NULL, last, 1));
	test_cmd_feed(&self->dst.d, MIG_PATH_PREAD, self->stream.data,
		      self->stream.len, MT_CUT_RANDOM, 9, NULL);
	test_cmd_set_state(&self->dst.d, MIG_STATE_STOP);
	pair_check(_metadata, self);
	EXPECT_TRUE(mem_is(&self->dst, &self->src, 0, self->src.npages));
}

/*
 * A resume dropped half way (close): the pages brought are the source's,
 * the others are zero, and the digest says so.
 */
TEST_F_TIMEOUT(mig_pair, close_in_resuming_leaves_pages_not_brought_zero, 180)
{
	uint32_t last = self->dst.npages - 1;

	pair_save(_metadata, self);
	ASSERT_FALSE(mem_is(&self->dst, NULL, last, 1));
	test_cmd_set_state(&self->dst.d, MIG_STATE_RESUMING);
	test_cmd_feed(&self->dst.d, MIG_PATH_MMAP, self->stream.data,
		      self->stream.len / 2, MT_CUT_RANDOM, 3, NULL);
	close_reopen(_metadata, &self->dst);
	EXPECT_TRUE(mem_is(&self->dst, &self->src, 1, 1));
	EXPECT_TRUE(mem_is(&self->dst, NULL, last, 1));
	digest_matches_memory(_metadata, self, &self->dst);
}

TEST_F_TIMEOUT(mig_pair, precopy_with_engine_running_gives_equal_digest, 180)
{
	struct mig_dev *s = &self->src.d;
	uint64_t bytes = 0, count0, deadline, dcount;
	struct mt_stream ps;
	int rounds = 0;

	test_cmd_engine_rate(self->src.uuid, 2000);
	usleep(50000);
	count0 = mt_engine_count(&self->src);
	test_cmd_set_state(s, MIG_STATE_PRECOPY);
	deadline = now_ms() + 5000;
	/* Several passes: until pages went twice, or 5 s, at least 3 rounds. */
	while (rounds < 3 || (bytes < self->src.mem_size * 3 / 2 &&
			      now_ms() < deadline)) {
		struct mig_save_stats st;

		ASSERT_OK(mig_save_loop(s, MIG_PATH_MMAP, 32, mig_buf_sink,
					&self->stream, &st));
		bytes += st.bytes;
		rounds++;
		usleep(20000);
	}
	EXPECT_GT(mt_engine_count(&self->src), count0);
	test_cmd_set_state(s, MIG_STATE_SAVING);
	ASSERT_OK(mig_save_loop(s, MIG_PATH_MMAP, 0, mig_buf_sink,
				&self->stream, NULL));
	test_cmd_set_state(s, MIG_STATE_STOP);
	self->digest = mt_digest(&self->src);
	ASSERT_OK(mt_stream_parse(self->stream.data, self->stream.len, &ps))
		TH_LOG("stream: %s", ps.why);
	EXPECT_EQ(self->digest, ps.digest);
	EXPECT_GT(ps.pages, self->src.npages);
	mt_stream_free(&ps);

	/* Land in STOP so the engine does not move the digest. */
	test_cmd_set_state(&self->dst.d, MIG_STATE_RESUMING);
	test_cmd_feed(&self->dst.d, MIG_PATH_MMAP, self->stream.data,
		      self->stream.len, MT_CUT_RANDOM, 77, NULL);
	test_cmd_set_state(&self->dst.d, MIG_STATE_STOP);
	pair_check(_metadata, self);
	dcount = mt_engine_count(&self->dst);
	EXPECT_EQ(mt_engine_count(&self->src), dcount);
	/* The engine goes on at the destination. */
	test_cmd_set_state(&self->dst.d, MIG_STATE_RUNNING);
	usleep(200000);
	EXPECT_LT(dcount, mt_engine_count(&self->dst));
	test_cmd_engine_rate(self->dst.uuid, 0);
}

/* ---------------------------------------------------------------- */
/* Corrupt streams                                                   */
/* ---------------------------------------------------------------- */

/*
 * Feeds @bad to the destination: some data_size write is -EINVAL, and the
 * device ends in @state (RESUMING if nothing had been applied, then a good
 * stream must still succeed; ERROR otherwise).  Reset always recovers, and
 * the source never changes.
 */
static void corrupt_resume(struct __test_metadata *_metadata,
			   FIXTURE_DATA(mig_pair) *self, const uint8_t *bad,
			   size_t len, uint32_t state)
{
	struct mig_dev *d = &self->dst.d;

	test_cmd_set_state(d, MIG_STATE_RESUMING);
	test_err_feed(EINVAL, d, MIG_PATH_PREAD, bad, len, MT_CUT_FIXED,
		      0, NULL);
	EXPECT_STATE(d, state);
	if (state == MIG_STATE_RESUMING) {
		/* The session started over: a good stream goes through. */
		test_cmd_feed(d, MIG_PATH_PREAD, self->stream.data,
			      self->stream.len, MT_CUT_FIXED, 0, NULL);
		test_cmd_set_state(d, MIG_STATE_RUNNING);
		pair_check(_metadata, self);
	}
	test_cmd_device_reset(d);
	EXPECT_STATE(d, MIG_STATE_RUNNING);
	EXPECT_EQ(self->digest, mt_digest(&self->src));
}

/* A copy of the stream with @fn applied, resumed with corrupt_resume(). */
#define CORRUPT(self, state, stmt) do {					\
	uint8_t *b;							\
	size_t blen;							\
									\
	pair_save(_metadata, self);					\
	b = mt_dup(&(self)->stream);					\
	ASSERT_NE(NULL, b);						\
	blen = (self)->stream.len;					\
	stmt;								\
	corrupt_resume(_metadata, self, b, blen, state);		\
	free(b);							\
} while (0)

#define HDR_OFF(field)	offsetof(struct mig_stream_header, field)

TEST_F_TIMEOUT(mig_pair, stream_bad_magic_einval_stays_resuming, 120)
{
	CORRUPT(self, MIG_STATE_RESUMING, b[0] ^= 0xff);
}

TEST_F_TIMEOUT(mig_pair, stream_bad_version_einval_stays_resuming, 120)
{
	CORRUPT(self, MIG_STATE_RESUMING,
		put32(b + HDR_OFF(version), MIG_STREAM_VERSION + 1));
}

TEST_F_TIMEOUT(mig_pair, stream_other_device_type_einval_stays_resuming, 120)
{
	CORRUPT(self, MIG_STATE_RESUMING,
		put32(b + HDR_OFF(device_type), other_type(variant->type)));
}

TEST_F_TIMEOUT(mig_pair, stream_other_mem_size_einval_stays_resuming, 120)
{
	CORRUPT(self, MIG_STATE_RESUMING,
		put64(b + HDR_OFF(mem_size),
		      self->src.mem_size + MIG_PAGE_SIZE));
}

TEST_F_TIMEOUT(mig_pair, stream_onto_other_type_instance_einval, 120)
{
	const char *other = strcmp(variant->type, "small") ? "small" : "large";

	pair_save(_metadata, self);
	ASSERT_OK(mt_inst_new(&self->other, other));
	test_cmd_set_state(&self->other.d, MIG_STATE_RESUMING);
	test_err_feed(EINVAL, &self->other.d, MIG_PATH_PREAD,
		      self->stream.data, self->stream.len,
		      MT_CUT_FIXED, 0, NULL);
	EXPECT_STATE(&self->other.d, MIG_STATE_RESUMING);
	test_cmd_device_reset(&self->other.d);
	EXPECT_STATE(&self->other.d, MIG_STATE_RUNNING);
	EXPECT_EQ(self->digest, mt_digest(&self->src));
}

TEST_F_TIMEOUT(mig_pair, stream_unknown_record_einval_stays_resuming, 120)
{
	CORRUPT(self, MIG_STATE_RESUMING, put32(b + MT_HDR_LEN, 0x99));
}

TEST_F_TIMEOUT(mig_pair, stream_unknown_record_after_pages_gives_error, 120)
{
	CORRUPT(self, MIG_STATE_ERROR, {
		size_t off = self->parsed.first_pages;

		off += MT_REC_LEN + le32toh(*(uint32_t *)(b + off + 4));
		put32(b + off, 0x99);
	});
}

TEST_F_TIMEOUT(mig_pair, stream_page_index_out_of_range_einval, 120)
{
	CORRUPT(self, MIG_STATE_RESUMING,
		put32(b + self->parsed.first_pages + MT_REC_LEN,
		      self->src.npages));
}

TEST_F_TIMEOUT(mig_pair, stream_page_run_past_the_end_einval, 120)
{
	CORRUPT(self, MIG_STATE_RESUMING, {
		size_t off = self->parsed.first_pages + MT_REC_LEN;
		uint32_t count = le32toh(*(uint32_t *)(b + off + 4));

		put32(b + off, self->src.npages - count + 1);
	});
}

TEST_F_TIMEOUT(mig_pair, stream_bad_record_length_einval, 120)
{
	CORRUPT(self, MIG_STATE_RESUMING, {
		uint8_t *len = b + self->parsed.first_pages + 4;

		put32(len, le32toh(*(uint32_t *)len) + 1);
	});
}

TEST_F_TIMEOUT(mig_pair, stream_bad_config_length_gives_error, 120)
{
	CORRUPT(self, MIG_STATE_ERROR,
		put32(b + self->parsed.off_config + 4,
		      MIG_MDEV_CONFIG_SIZE - 1));
}

TEST_F_TIMEOUT(mig_pair, stream_flipped_page_bit_gives_error, 120)
{
	CORRUPT(self, MIG_STATE_ERROR,
		b[self->parsed.first_pages + MT_REC_LEN +
		  sizeof(struct mig_rec_pages) + 100] ^= 0x10);
}

TEST_F_TIMEOUT(mig_pair, stream_bad_end_digest_gives_error, 120)
{
	CORRUPT(self, MIG_STATE_ERROR,
		b[self->parsed.off_end + MT_REC_LEN] ^= 0x01);
}

TEST_F_TIMEOUT(mig_pair, stream_bytes_after_end_marker_give_error, 120)
{
	CORRUPT(self, MIG_STATE_ERROR, b[blen++] = 0);
}

TEST_F_TIMEOUT(mig_pair, data_after_complete_stream_gives_error, 120)
{
	struct mig_dev *d = &self->dst.d;
	uint8_t zero = 0;

	pair_save(_metadata, self);
	test_cmd_set_state(d, MIG_STATE_RESUMING);
	test_cmd_feed(d, MIG_PATH_PREAD, self->stream.data,
		      self->stream.len, MT_CUT_FIXED, 0, NULL);
	test_err_feed(EINVAL, d, MIG_PATH_PREAD, &zero, 1, MT_CUT_FIXED,
		      0, NULL);
	EXPECT_STATE(d, MIG_STATE_ERROR);
	test_cmd_device_reset(d);
	EXPECT_STATE(d, MIG_STATE_RUNNING);
	EXPECT_EQ(self->digest, mt_digest(&self->src));
}

/*
 * Flips one bit at a time in every header byte of the stream and of its
 * record headers: the destination never ends RUNNING with another digest,
 * each failure is -EINVAL, and reset always recovers.
 */
static void flip_one(struct __test_metadata *_metadata,
		     FIXTURE_DATA(mig_pair) *self, uint8_t *b, size_t pos)
{
	struct mig_dev *d = &self->dst.d;
	uint32_t state;
	int ret;

	b[pos] ^= 0x04;
	test_cmd_set_state(d, MIG_STATE_RESUMING);
	ret = _test_cmd_feed(d, MIG_PATH_MMAP, b, self->stream.len,
			     MT_CUT_FIXED, 0, NULL);
	b[pos] ^= 0x04;
	state = mt_state(d);
	if (ret) {
		EXPECT_ERRNO(EINVAL, ret) TH_LOG("byte %zu", pos);
		EXPECT_TRUE(state == MIG_STATE_RESUMING ||
			    state == MIG_STATE_ERROR)
			TH_LOG("byte %zu: state %u", pos, state);
	} else if (!mig_set_state(d, MIG_STATE_STOP)) {
		/* Accepted: then it was a byte that does not matter. */
		EXPECT_EQ(self->digest, mt_digest(&self->dst))
			TH_LOG("byte %zu accepted with another digest", pos);
	} else {
		EXPECT_EQ(MIG_STATE_RESUMING, state) TH_LOG("byte %zu", pos);
	}
	test_cmd_device_reset(d);
	ASSERT_STATE(d, MIG_STATE_RUNNING);
}

TEST_F_TIMEOUT(mig_pair, stream_header_bit_flips_never_accepted_wrongly, 600)
{
	size_t recs[8] = { 0 }, nrec = 0, i, j;
	uint8_t *b;

	pair_save(_metadata, self);
	b = mt_dup(&self->stream);
	ASSERT_NE(NULL, b);
	for (i = 0; i < MT_HDR_LEN; i++)
		flip_one(_metadata, self, b, i);
	if (variant->stream_type == MIG_TYPE_SMALL) {
		recs[nrec++] = self->parsed.first_pages;
		recs[nrec++] = self->parsed.off_config;
		recs[nrec++] = self->parsed.off_regs;
		recs[nrec++] = self->parsed.off_engine;
		recs[nrec++] = self->parsed.off_end;
	}
	for (i = 0; i < nrec; i++)
		for (j = 0; j < MT_REC_LEN + 8; j++)
			flip_one(_metadata, self, b, recs[i] + j);
	free(b);
	EXPECT_EQ(self->digest, mt_digest(&self->src));
}

TEST_F_TIMEOUT(mig_pair, stream_truncated_cannot_leave_resuming, 120)
{
	struct mig_dev *d = &self->dst.d;
	size_t cut;

	pair_save(_metadata, self);
	cut = self->stream.len - 7;
	test_cmd_set_state(d, MIG_STATE_RESUMING);
	test_cmd_feed(d, MIG_PATH_PREAD, self->stream.data, cut,
		      MT_CUT_FIXED, 0, NULL);
	test_err_set_state(EINVAL, d, MIG_STATE_RUNNING);
	EXPECT_STATE(d, MIG_STATE_RESUMING);
	test_err_set_state(EINVAL, d, MIG_STATE_STOP);
	EXPECT_STATE(d, MIG_STATE_RESUMING);
	/* The rest of the stream completes it. */
	test_cmd_feed(d, MIG_PATH_PREAD, self->stream.data + cut,
		      self->stream.len - cut, MT_CUT_FIXED, 0, NULL);
	test_cmd_set_state(d, MIG_STATE_RUNNING);
	pair_check(_metadata, self);
}

TEST_F_TIMEOUT(mig_pair, stream_header_only_cannot_leave_resuming, 120)
{
	struct mig_dev *d = &self->dst.d;

	pair_save(_metadata, self);
	test_cmd_set_state(d, MIG_STATE_RESUMING);
	test_cmd_feed(d, MIG_PATH_PREAD, self->stream.data, MT_HDR_LEN,
		      MT_CUT_FIXED, 0, NULL);
	test_err_set_state(EINVAL, d, MIG_STATE_RUNNING);
	EXPECT_STATE(d, MIG_STATE_RESUMING);
	test_cmd_device_reset(d);
	EXPECT_STATE(d, MIG_STATE_RUNNING);
}

static void bad_data_size(struct __test_metadata *_metadata,
			  FIXTURE_DATA(mig_pair) *self, uint64_t size)
{
	struct mig_dev *d = &self->dst.d;

	pair_save(_metadata, self);
	test_cmd_set_state(d, MIG_STATE_RESUMING);
	ASSERT_EQ(d->data_offset, mt_data_offset(d));
	memcpy(d->section, self->stream.data, MT_HDR_LEN);
	test_err_set_data_size(EINVAL, d, size);
	EXPECT_STATE(d, MIG_STATE_RESUMING);
	test_cmd_feed(d, MIG_PATH_PREAD, self->stream.data,
		      self->stream.len, MT_CUT_FIXED, 0, NULL);
	test_cmd_set_state(d, MIG_STATE_RUNNING);
	pair_check(_metadata, self);
}

TEST_F_TIMEOUT(mig_pair, data_size_zero_einval, 120)
{
	bad_data_size(_metadata, self, 0);
}

TEST_F_TIMEOUT(mig_pair, data_size_over_section_einval, 120)
{
	bad_data_size(_metadata, self, self->dst.d.section_size + 1);
}

/* ================================================================ */
/* Many instances, many threads                                      */
/* ================================================================ */

FIXTURE(mig_multi) {
	int unused;
};

FIXTURE_SETUP(mig_multi)
{
	MT_SKIP_IF_NO_MODULE();
}

FIXTURE_TEARDOWN(mig_multi)
{
}

#define NR_PAIRS	8

struct pair_job {
	pthread_t thread;
	unsigned int seed;
	int ret;
	const char *step;
	uint64_t src_digest;
	uint64_t dst_digest;
};

static void *pair_thread(void *arg)
{
	struct pair_job *job = arg;
	struct mt_inst src, dst;
	struct mig_buf stream = { 0 };

	mt_inst_init(&src);
	mt_inst_init(&dst);
	job->step = "create source";
	job->ret = inst_setup(&src, "small", job->seed);
	if (job->ret)
		goto out;
	job->step = "create destination";
	job->ret = mt_inst_new(&dst, "small");
	if (job->ret)
		goto out;
	job->src_digest = mt_digest(&src);
	job->step = "save";
	job->ret = _test_cmd_save(&src.d, job->seed & 1 ? MIG_PATH_MMAP :
					  MIG_PATH_PREAD, &stream);
	if (job->ret)
		goto out;
	job->step = "resume";
	job->ret = mig_set_state(&dst.d, MIG_STATE_RESUMING);
	if (!job->ret)
		job->ret = _test_cmd_feed(&dst.d, MIG_PATH_MMAP, stream.data,
					  stream.len, MT_CUT_RANDOM,
					  job->seed, NULL);
	if (!job->ret)
		job->ret = mig_set_state(&dst.d, MIG_STATE_RUNNING);
	job->dst_digest = mt_digest(&dst);
out:
	mig_buf_free(&stream);
	mt_inst_del(&src);
	mt_inst_del(&dst);
	return NULL;
}

TEST_F_TIMEOUT(mig_multi, eight_pairs_in_parallel_give_equal_digests, 300)
{
	struct pair_job jobs[NR_PAIRS] = { 0 };
	int i;

	for (i = 0; i < NR_PAIRS; i++) {
		jobs[i].seed = 1000 + i;
		ASSERT_OK(pthread_create(&jobs[i].thread, NULL, pair_thread,
					 &jobs[i]));
	}
	for (i = 0; i < NR_PAIRS; i++)
		pthread_join(jobs[i].thread, NULL);
	for (i = 0; i < NR_PAIRS; i++) {
		EXPECT_EQ(0, jobs[i].ret)
			TH_LOG("pair %d: %s: %s", i, jobs[i].step,
			       strerror(-jobs[i].ret));
		EXPECT_NE(0, jobs[i].src_digest);
		EXPECT_EQ(jobs[i].src_digest, jobs[i].dst_digest);
	}
	/* Different seeds, different states. */
	EXPECT_NE(jobs[0].src_digest, jobs[1].src_digest);
}

struct race {
	struct mt_inst *in;
	atomic_bool stop;
	uint64_t ops;
};

static void *race_states(void *arg)
{
	struct race *r = arg;
	uint64_t seed = 0x1234567;

	while (!atomic_load(&r->stop)) {
		uint64_t x = mt_xorshift(&seed);
		uint32_t v = x & MIG_STATE_BITS;

		if (!(x & 0xf00))
			v |= 1U << (3 + (x >> 16) % 29);
		mig_set_state(&r->in->d, v);
		r->ops++;
	}
	return NULL;
}

static void *race_fields(void *arg)
{
	struct race *r = arg;
	struct mig_dev *d = &r->in->d;
	uint64_t seed = 0x7654321, v;

	while (!atomic_load(&r->stop)) {
		uint64_t x = mt_xorshift(&seed);

		switch (x % 6) {
		case 0:
			mig_get_pending(d, &v);
			break;
		case 1:
			mig_get_data_offset(d, &v);
			break;
		case 2:
			mig_get_data_size(d, &v);
			break;
		case 3:
			mig_set_data_size(d, (x >> 8) % (d->section_size + 2));
			break;
		case 4:
			memset(d->section, (int)(x >> 8), 64);
			break;
		default:
			_test_cmd_hdr_read(d, (x >> 8) % MIG_HDR_SIZE, &v,
					   1 << ((x >> 16) % 4));
			break;
		}
	}
	return NULL;
}

TEST_F_TIMEOUT(mig_multi, header_race_survives_and_reset_recovers, 120)
{
	struct race r = { 0 };
	struct mt_inst in;
	struct mig_buf stream = { 0 };
	pthread_t a, b;
	uint64_t digest;

	ASSERT_OK(inst_setup(&in, "small", 11));
	r.in = &in;
	ASSERT_OK(pthread_create(&a, NULL, race_states, &r));
	ASSERT_OK(pthread_create(&b, NULL, race_fields, &r));
	usleep(1500000);
	atomic_store(&r.stop, true);
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	EXPECT_GT(r.ops, 0);

	EXPECT_OK(mig_device_reset(&in.d));
	EXPECT_STATE(&in.d, MIG_STATE_RUNNING);
	/* Afterwards a whole save and resume works. */
	EXPECT_OK(_test_cmd_fill(&in, 12));
	digest = mt_digest(&in);
	EXPECT_OK(self_save(&in, &stream));
	EXPECT_OK(_test_cmd_resume(&in.d, stream.data, stream.len,
				   MIG_STATE_RUNNING));
	EXPECT_EQ(digest, mt_digest(&in));
	mig_buf_free(&stream);
	mt_inst_del(&in);
}

TEST_HARNESS_MAIN

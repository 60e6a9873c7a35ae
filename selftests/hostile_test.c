// SPDX-License-Identifier: GPL-2.0
/*
 * hostile_test: one test per finding of the hostile-input review (issue
 * 12), each of which failed (or crashed the kernel) before its fix.  The
 * rules are ../shared/PROTOCOL.md's "Hostile input", "Region" and "Reset
 * and close".  abuse_test walks the whole input space; this program pins
 * the specific holes.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include "kselftest_harness.h"
#include "mig_utils.h"
#include "mig_stream_utils.h"

#define ASSERT_STATE(d, s)	ASSERT_EQ((uint32_t)(s), mt_state(d))
#define EXPECT_STATE(d, s)	EXPECT_EQ((uint32_t)(s), mt_state(d))

/* Where region @index starts in the device fd (vfio-pci's encoding). */
#define REGION(index)		((off_t)(index) << 40)

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* A page of this process that every copy to or from user memory faults on. */
static void *fault_page(void)
{
	void *p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static bool all_zero(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t i;

	for (i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* pread of the whole data section into @buf (section_size bytes). */
static int read_section(struct mig_dev *d, void *buf)
{
	return mig_region_pread(d, d->mig_index, buf, d->section_size,
				d->data_offset);
}

FIXTURE(hostile) {
	struct mt_inst src;
	struct mt_inst dst;
	struct mig_buf stream;
	struct mt_stream parsed;
	char max_rate[32];
};

FIXTURE_SETUP(hostile)
{
	MT_SKIP_IF_NO_MODULE();
	mt_inst_init(&self->dst);
	ASSERT_OK(mt_inst_new(&self->src, "small"));
	test_cmd_fill(&self->src, 5);
	ASSERT_OK(mt_inst_new(&self->dst, "small"));
}

FIXTURE_TEARDOWN(hostile)
{
	if (self->max_rate[0])
		mig_param_write("engine_max_rate", self->max_rate);
	mt_stream_free(&self->parsed);
	mig_buf_free(&self->stream);
	mt_inst_del(&self->dst);
	mt_inst_del(&self->src);
}

/* Saves the source (stop-and-copy) into self->stream and parses it. */
static void save_src(struct __test_metadata *_metadata,
		     FIXTURE_DATA(hostile) *self)
{
	test_cmd_save(&self->src.d, MIG_PATH_PREAD, &self->stream);
	ASSERT_OK(mt_stream_parse(self->stream.data, self->stream.len,
				  &self->parsed))
		TH_LOG("stream: %s", self->parsed.why);
	test_cmd_set_state(&self->src.d, MIG_STATE_RUNNING);
}

/* Finding 1: config space divided by a step of 0. */
TEST_F(hostile, zero_length_access_to_any_region_is_einval)
{
	char buf[8];
	int index;

	for (index = 0; index <= MIG_MDEV_MIGRATION_REGION_INDEX + 1;
	     index++) {
		errno = 0;
		EXPECT_EQ(-1, pread(self->dst.d.fd, buf, 0, REGION(index)))
			TH_LOG("pread of 0 bytes of region %d", index);
		EXPECT_EQ(EINVAL, errno);
		errno = 0;
		EXPECT_EQ(-1, pwrite(self->dst.d.fd, buf, 0, REGION(index)))
			TH_LOG("pwrite of 0 bytes of region %d", index);
		EXPECT_EQ(EINVAL, errno);
	}
	/* The device is whole: it still migrates. */
	save_src(_metadata, self);
	test_cmd_resume(&self->dst.d, self->stream.data, self->stream.len,
			MIG_STATE_RUNNING);
	EXPECT_EQ(mt_digest(&self->src), mt_digest(&self->dst));
}

static int set_irqs_nodata(struct mig_dev *d, uint32_t flags, uint32_t start,
			   uint32_t count)
{
	struct vfio_irq_set set = {
		.argsz = sizeof(set),
		.flags = flags,
		.index = VFIO_PCI_INTX_IRQ_INDEX,
		.start = start,
		.count = count,
	};

	return ioctl(d->fd, VFIO_DEVICE_SET_IRQS, &set) ? -errno : 0;
}

/*
 * Finding 2: MASK/UNMASK with DATA_BOOL and count 0 read the NULL data the
 * core hands over, with the instance lock held.
 */
TEST_F(hostile, set_irqs_mask_or_unmask_with_count_zero_is_einval)
{
	static const uint32_t actions[] = {
		VFIO_IRQ_SET_ACTION_MASK, VFIO_IRQ_SET_ACTION_UNMASK,
	};
	static const uint32_t types[] = {
		VFIO_IRQ_SET_DATA_BOOL, VFIO_IRQ_SET_DATA_NONE,
	};
	unsigned int a, t;

	for (a = 0; a < ARRAY_SIZE(actions); a++) {
		for (t = 0; t < ARRAY_SIZE(types); t++) {
			EXPECT_ERRNO(EINVAL, set_irqs_nodata(&self->dst.d,
					actions[a] | types[t], 0, 0))
				TH_LOG("action %#x data %#x", actions[a],
				       types[t]);
		}
	}
	/* The vector exists only at start 0. */
	EXPECT_ERRNO(EINVAL, set_irqs_nodata(&self->dst.d,
					     VFIO_IRQ_SET_ACTION_MASK |
					     VFIO_IRQ_SET_DATA_NONE, 1, 0));
	EXPECT_OK(set_irqs_nodata(&self->dst.d, VFIO_IRQ_SET_ACTION_MASK |
				  VFIO_IRQ_SET_DATA_NONE, 0, 1));
	EXPECT_OK(set_irqs_nodata(&self->dst.d, VFIO_IRQ_SET_ACTION_UNMASK |
				  VFIO_IRQ_SET_DATA_NONE, 0, 1));
	/* The lock is free: the device answers, and closes. */
	EXPECT_STATE(&self->dst.d, MIG_STATE_RUNNING);
	mt_inst_close(&self->dst);
	ASSERT_OK(mt_inst_open(&self->dst));
	EXPECT_STATE(&self->dst.d, MIG_STATE_RUNNING);
}

/* Enables the engine from the device fd, as a guest driver does. */
static int guest_engine(struct mig_dev *d, uint32_t rate)
{
	int ret = _test_cmd_bar0_write(d, MIG_REG_ENGINE_RATE, rate);

	return ret ? ret : _test_cmd_bar0_write(d, MIG_REG_CONTROL,
						MIG_CTRL_ENGINE_EN);
}

/* Finding 3: a guest-written rate of 0xffffffff wrote all memory a tick. */
TEST_F(hostile, guest_engine_rate_is_capped_by_engine_max_rate)
{
	uint64_t c0, c1;
	uint32_t rate;

	ASSERT_OK(mig_param_read("engine_max_rate", self->max_rate,
				 sizeof(self->max_rate)));
	ASSERT_OK(mig_param_write("engine_max_rate", "1000"));
	ASSERT_OK(guest_engine(&self->dst.d, 0xffffffff));
	sleep_ms(100);
	c0 = mt_engine_count(&self->dst);
	sleep_ms(1000);
	c1 = mt_engine_count(&self->dst);
	/* The register keeps what the guest wrote; the cap applies. */
	test_cmd_bar0_read(&self->dst.d, MIG_REG_ENGINE_RATE, &rate);
	EXPECT_EQ(0xffffffff, rate);
	ASSERT_OK(guest_engine(&self->dst.d, 0));
	/*
	 * 1000 pages a second; the slack covers a tick's carry and the
	 * time the sysfs reads take.
	 */
	EXPECT_LT(0, c1 - c0);
	EXPECT_GE(1200, c1 - c0)
		TH_LOG("%llu pages in 1 s at a cap of 1000/s",
		       (unsigned long long)(c1 - c0));
	/* The parameter takes 1..1048576 pages per second. */
	EXPECT_NE(0, mig_param_write("engine_max_rate", "0"));
	EXPECT_NE(0, mig_param_write("engine_max_rate", "1048577"));
}

/* Finding 3: the engine went on writing after its fd holder was gone. */
TEST_F(hostile, engine_started_by_the_fd_holder_stops_on_close)
{
	uint64_t c0, d0;

	ASSERT_OK(guest_engine(&self->dst.d, 1000));
	sleep_ms(200);
	ASSERT_LT(0, mt_engine_count(&self->dst));
	mt_inst_close(&self->dst);
	c0 = mt_engine_count(&self->dst);
	d0 = mt_digest(&self->dst);
	sleep_ms(300);
	EXPECT_EQ(c0, mt_engine_count(&self->dst));
	EXPECT_EQ(d0, mt_digest(&self->dst));
	/* No state was lost: the next open finds the engine set up, running. */
	ASSERT_OK(mt_inst_open(&self->dst));
	sleep_ms(300);
	EXPECT_LT(c0, mt_engine_count(&self->dst));
}

TEST_F(hostile, engine_started_through_sysfs_runs_without_a_user)
{
	uint64_t c0;

	test_cmd_engine_rate(self->dst.uuid, 1000);
	mt_inst_close(&self->dst);
	c0 = mt_engine_count(&self->dst);
	sleep_ms(300);
	EXPECT_LT(c0, mt_engine_count(&self->dst));
	test_cmd_engine_rate(self->dst.uuid, 0);
}

/* Writes @len bytes of @p into the section and applies them as a chunk. */
static int feed_chunk(struct mig_dev *d, const void *p, size_t len,
		      uint64_t data_size)
{
	memcpy(d->section, p, len);
	return mig_set_data_size(d, data_size);
}

/*
 * Finding 4: an empty or oversized chunk after half a stream header was
 * refused, but the parser kept the half header, so the next valid stream
 * was refused too.
 */
TEST_F(hostile, refused_chunk_before_any_apply_starts_the_stream_over)
{
	struct mig_dev *d = &self->dst.d;
	const uint64_t bad[] = { 0, d->section_size + 1 };
	unsigned int i;

	save_src(_metadata, self);
	test_cmd_set_state(d, MIG_STATE_RESUMING);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		ASSERT_OK(feed_chunk(d, self->stream.data, 10, 10));
		test_err_set_data_size(EINVAL, d, bad[i])
			TH_LOG("data_size %llu", (unsigned long long)bad[i]);
		EXPECT_STATE(d, MIG_STATE_RESUMING);
	}
	test_cmd_feed(d, MIG_PATH_MMAP, self->stream.data,
		      self->stream.len, MT_CUT_FIXED, 0, NULL);
	test_cmd_set_state(d, MIG_STATE_RUNNING);
	EXPECT_EQ(mt_digest(&self->src), mt_digest(&self->dst));
}

/* Finding 4: the same chunk after bytes were applied left RESUMING as is. */
TEST_F(hostile, refused_chunk_after_an_apply_enters_error)
{
	struct mig_dev *d = &self->dst.d;
	const uint64_t bad[] = { 0, d->section_size + 1 };
	size_t part;
	unsigned int i;

	save_src(_metadata, self);
	ASSERT_NE(0, self->parsed.first_pages);
	/* The header, the first record's head and 100 bytes of page data. */
	part = self->parsed.first_pages + MT_REC_LEN +
	       sizeof(struct mig_rec_pages) + 100;
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		test_cmd_device_reset(d);
		test_cmd_set_state(d, MIG_STATE_RESUMING);
		ASSERT_OK(feed_chunk(d, self->stream.data, part, part));
		test_err_set_data_size(EINVAL, d, bad[i])
			TH_LOG("data_size %llu", (unsigned long long)bad[i]);
		EXPECT_STATE(d, MIG_STATE_ERROR);
	}
}

/* Finding 5: the section kept the last session's bytes. */
TEST_F(hostile, data_section_is_clear_after_close_and_reset)
{
	struct mig_dev *d = &self->src.d;
	uint8_t *buf = malloc(d->section_size);

	ASSERT_NE(NULL, buf);
	save_src(_metadata, self);
	ASSERT_OK(read_section(d, buf));
	ASSERT_FALSE(all_zero(buf, d->section_size));

	mt_inst_close(&self->src);
	ASSERT_OK(mt_inst_open(&self->src));
	ASSERT_OK(read_section(d, buf));
	EXPECT_TRUE(all_zero(buf, d->section_size));
	EXPECT_TRUE(all_zero(d->section, d->section_size));

	mig_buf_free(&self->stream);
	mt_stream_free(&self->parsed);
	save_src(_metadata, self);
	ASSERT_OK(read_section(d, buf));
	ASSERT_FALSE(all_zero(buf, d->section_size));
	test_cmd_device_reset(d);
	ASSERT_OK(read_section(d, buf));
	EXPECT_TRUE(all_zero(buf, d->section_size));
	free(buf);
}

TEST_F(hostile, data_section_is_clear_when_a_session_opens)
{
	struct mig_dev *d = &self->src.d;

	save_src(_metadata, self);
	ASSERT_FALSE(all_zero(d->section, d->section_size));
	test_cmd_set_state(d, MIG_STATE_RESUMING);
	EXPECT_TRUE(all_zero(d->section, d->section_size));
	test_cmd_device_reset(d);
	test_cmd_fill(&self->src, 6);
	test_cmd_set_state(d, MIG_STATE_SAVING);
	ASSERT_NE(0, mt_pending(d));
	ASSERT_EQ(d->data_offset, mt_data_offset(d));
	ASSERT_FALSE(all_zero(d->section, d->section_size));
	test_cmd_set_state(d, MIG_STATE_STOP);
	test_cmd_set_state(d, MIG_STATE_SAVING);
	EXPECT_TRUE(all_zero(d->section, d->section_size));
}

/* Read-only bits of config space a forged CONFIG record tries to change. */
static const struct {
	const char *what;
	unsigned int off;
	uint8_t flip;
} ro_bits[] = {
	{ "vendor ID", PCI_VENDOR_ID, 0x01 },
	{ "device ID", PCI_DEVICE_ID + 1, 0x80 },
	{ "class code", PCI_CLASS_DEVICE, 0x01 },
	{ "header type", PCI_HEADER_TYPE, 0x80 },
	{ "status: capability list", PCI_STATUS, PCI_STATUS_CAP_LIST },
	{ "capability pointer", PCI_CAPABILITY_LIST, 0x08 },
	{ "BAR0 type", PCI_BASE_ADDRESS_0, PCI_BASE_ADDRESS_MEM_TYPE_64 },
	{ "BAR0 size bits", PCI_BASE_ADDRESS_0 + 1, 0x01 },
	{ "BAR2 prefetch bit", PCI_BASE_ADDRESS_2,
	  PCI_BASE_ADDRESS_MEM_PREFETCH },
	{ "MSI capability ID", MIG_MDEV_MSI_CAP + PCI_CAP_LIST_ID, 0x01 },
	{ "MSI 64-bit flag", MIG_MDEV_MSI_CAP + PCI_MSI_FLAGS,
	  PCI_MSI_FLAGS_64BIT },
	{ "interrupt pin", PCI_INTERRUPT_PIN, 0x02 },
};

/*
 * Finding 6: a CONFIG record was copied into config space raw.  Fed up to
 * the end of the forged record, the stream is refused at that record and
 * config space keeps the device's own bits.
 */
TEST_F(hostile, config_record_with_changed_read_only_bits_is_refused)
{
	struct mig_dev *d = &self->dst.d;
	uint8_t *forged;
	size_t cfg, end;
	unsigned int i;
	uint8_t before, after;

	save_src(_metadata, self);
	ASSERT_NE(0, self->parsed.off_config);
	cfg = self->parsed.off_config + MT_REC_LEN;
	end = cfg + MIG_MDEV_CONFIG_SIZE;
	forged = malloc(end);
	ASSERT_NE(NULL, forged);
	for (i = 0; i < ARRAY_SIZE(ro_bits); i++) {
		memcpy(forged, self->stream.data, end);
		forged[cfg + ro_bits[i].off] ^= ro_bits[i].flip;
		test_cmd_device_reset(d);
		test_cmd_config_read(d, ro_bits[i].off, &before, 1);
		test_cmd_set_state(d, MIG_STATE_RESUMING);
		test_err_feed(EINVAL, d, MIG_PATH_PREAD, forged, end,
			      MT_CUT_FIXED, 0, NULL)
			TH_LOG("%s flipped", ro_bits[i].what);
		EXPECT_STATE(d, MIG_STATE_ERROR);
		test_cmd_config_read(d, ro_bits[i].off, &after, 1);
		EXPECT_EQ(before, after) TH_LOG("%s", ro_bits[i].what);
	}
	free(forged);
	/* The record as saved is taken. */
	test_cmd_device_reset(d);
	test_cmd_resume(d, self->stream.data, self->stream.len,
			MIG_STATE_RUNNING);
	EXPECT_EQ(mt_digest(&self->src), mt_digest(&self->dst));
}

static int hdr_read_to(struct mig_dev *d, uint64_t field, void *to)
{
	ssize_t n = pread(d->fd, to, 8, (off_t)(d->mig_offset + field));

	if (n < 0)
		return -errno;
	return n == 8 ? 0 : -EIO;
}

/* Finding 7: a data_offset read whose copy faulted still queued a chunk. */
TEST_F(hostile, data_offset_read_that_faults_queues_nothing)
{
	struct mig_dev *d = &self->src.d;
	void *bad = fault_page();
	uint64_t pending;

	ASSERT_NE(NULL, bad);
	test_cmd_set_state(d, MIG_STATE_SAVING);
	pending = mt_pending(d);
	ASSERT_NE(0, pending);
	EXPECT_ERRNO(EFAULT, hdr_read_to(d, MIG_HDR_DATA_OFFSET, bad));
	EXPECT_EQ(0, mt_data_size(d));
	EXPECT_EQ(pending, mt_pending(d));
	/* A good read queues the first chunk. */
	ASSERT_EQ(d->data_offset, mt_data_offset(d));
	EXPECT_LT(0, mt_data_size(d));
	munmap(bad, 4096);
}

/* Finding 7: a pending_bytes read whose copy faulted still retired one. */
TEST_F(hostile, pending_bytes_read_that_faults_retires_nothing)
{
	struct mig_dev *d = &self->src.d;
	void *bad = fault_page();
	uint64_t size;

	ASSERT_NE(NULL, bad);
	test_cmd_set_state(d, MIG_STATE_SAVING);
	ASSERT_NE(0, mt_pending(d));
	ASSERT_EQ(d->data_offset, mt_data_offset(d));
	size = mt_data_size(d);
	ASSERT_LT(0, size);
	EXPECT_ERRNO(EFAULT, hdr_read_to(d, MIG_HDR_PENDING_BYTES, bad));
	EXPECT_EQ(size, mt_data_size(d));
	/* A good read retires it. */
	mt_pending(d);
	EXPECT_EQ(0, mt_data_size(d));
	munmap(bad, 4096);
}

static unsigned int attr_mode(const char *uuid, const char *attr)
{
	char path[256];
	struct stat sb;

	snprintf(path, sizeof(path), MIG_SYSFS_DEVICES "/%s/%s", uuid, attr);
	if (stat(path, &sb))
		return 0;
	return sb.st_mode & 07777;
}

/* Finding 8: digest was world-readable; writes are root's alone. */
TEST_F(hostile, instance_attributes_are_root_only_where_they_should_be)
{
	static const struct {
		const char *attr;
		unsigned int mode;
	} modes[] = {
		{ "digest", 0400 },
		{ "engine_rate", 0644 },
		{ "engine_count", 0444 },
		{ "migration_state", 0444 },
		{ "section_size", 0444 },
	};
	unsigned int i, mode;

	for (i = 0; i < ARRAY_SIZE(modes); i++) {
		mode = attr_mode(self->dst.uuid, modes[i].attr);
		if (mode != modes[i].mode)
			ksft_print_msg("%s: mode %o, not %o\n", modes[i].attr,
				       mode, modes[i].mode);
		EXPECT_EQ(modes[i].mode, mode);
	}
}

TEST_HARNESS_MAIN

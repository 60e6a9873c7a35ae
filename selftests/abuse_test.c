// SPDX-License-Identifier: GPL-2.0
/*
 * Hostile clients (PROTOCOL.md "Hostile input"): whatever the holder of the
 * device fd sends, the kernel answers with the exact errno of the rules, or
 * the exact count, and the device still migrates afterwards.
 *
 *   region_walk  every region index (0..9 and past the last), access size
 *                (0 to SIZE_MAX) and offset at and past every end, pread
 *                and pwrite, in RUNNING, SAVING and RESUMING; the expected
 *                result of each case comes from a rule table
 *                (region_rule()), not from a list of cases
 *   ioctl        VFIO_DEVICE_GET_INFO, GET_REGION_INFO, GET_IRQ_INFO,
 *                SET_IRQS, RESET and unknown commands with every flag,
 *                index, action, start, count and argsz
 *   sysfs        garbage written to engine_rate, to the type's create and
 *                to an instance's remove; attribute modes
 *   stall        user copies stalled by userfaultfd block no one else
 *   hammer       two threads on one device fd, then a clean migration
 *
 * Each test is one group of cases; it ends by migrating the instance it
 * abused into a fresh one (check_migrates(): equal digests).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/pci_regs.h>
#include <linux/userfaultfd.h>
#include <linux/vfio.h>

/* See migration_test.c: the 6.1 harness and -Wextra. */
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"
#pragma GCC diagnostic pop
#include "mig_utils.h"

#ifndef offsetofend
#define offsetofend(T, m)	(offsetof(T, m) + sizeof(((T *)0)->m))
#endif

#define MT_MIG			MIG_MDEV_MIGRATION_REGION_INDEX
#define PAGE			4096UL

/* vfio-pci's layout of the device fd: region index in bits 40 and up. */
#define REGION_SHIFT		40
#define REGION_OFF_MASK		((1ULL << REGION_SHIFT) - 1)

/* The VFS clips every read and write to INT_MAX & PAGE_MASK bytes. */
#define MAX_RW_COUNT		0x7ffff000ULL
/* x86-64 TASK_SIZE_MAX: access_ok() refuses a buffer that goes past it. */
#define USER_TOP		((1ULL << 47) - PAGE)

/*
 * Every operation of another user must return within DEADLINE_MS.  The
 * clock is the wall clock of a TCG guest on a shared host, which now and
 * then stops for a moment: at most one run in LATE_RATIO may be late, and
 * none may take HARD_MS (a user blocked behind a stalled copy takes the
 * whole stall, STALL_MS).
 */
#define DEADLINE_MS		1000
#define LATE_RATIO		20
#define HARD_MS			5000
/* How long the userfaultfd tests keep a user copy stalled. */
#define STALL_MS		10000
#define HAMMER_MS		10000

/* The IRQ indexes and their vectors: INTx and MSI one, the others none. */
static uint32_t irq_vectors(uint32_t index)
{
	return index == VFIO_PCI_INTX_IRQ_INDEX ||
	       index == VFIO_PCI_MSI_IRQ_INDEX;
}

/* "count 4" or "-EINVAL", for logs. */
static const char *result_str(ssize_t r, char *buf, size_t len)
{
	const char *name;

	if (r >= 0) {
		snprintf(buf, len, "count %zd", r);
		return buf;
	}
	name = strerrorname_np((int)-r);
	snprintf(buf, len, "-%s", name ? name : "?");
	return buf;
}

/**
 * struct lat - how long the runs of a repeated operation took
 * @runs: how many
 * @late: how many took longer than DEADLINE_MS
 * @max_ms: the slowest
 */
struct lat {
	uint64_t runs;
	uint64_t late;
	uint64_t max_ms;
};

static void lat_add(struct lat *l, uint64_t ms)
{
	l->runs++;
	l->late += ms > DEADLINE_MS;
	if (ms > l->max_ms)
		l->max_ms = ms;
}

/* The runs kept to the deadline: DEADLINE_MS, LATE_RATIO, HARD_MS. */
#define EXPECT_TIMELY(l, what)						\
	do {								\
		EXPECT_LT(0, (l).runs) TH_LOG("%s never ran", what);	\
		EXPECT_GE((l).runs / LATE_RATIO, (l).late)		\
			TH_LOG("%s: %" PRIu64 " of %" PRIu64		\
			       " runs over %u ms", what, (l).late,	\
			       (l).runs, DEADLINE_MS);			\
		EXPECT_GE(HARD_MS, (l).max_ms)				\
			TH_LOG("%s took %" PRIu64 " ms", what,		\
			       (l).max_ms);				\
	} while (0)

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* ================================================================ */
/* Instances and the closing check                                   */
/* ================================================================ */

/**
 * struct insts - what a test abuses
 * @a: the instance the cases go to (filled with a pattern)
 * @b: a fresh instance, the destination of the closing migration
 * @c: created by a test that needs a third (closed) instance
 */
struct insts {
	struct mt_inst a;
	struct mt_inst b;
	struct mt_inst c;
};

static void insts_teardown(struct insts *in)
{
	mt_inst_del(&in->a);
	mt_inst_del(&in->b);
	mt_inst_del(&in->c);
}

/* Creates @a (filled with the pattern of @seed) and @b; undoes it on error. */
static int insts_setup(struct insts *in, uint64_t seed)
{
	int ret;

	mt_inst_init(&in->a);
	mt_inst_init(&in->b);
	mt_inst_init(&in->c);
	ret = mt_inst_new(&in->a, "small");
	if (!ret)
		ret = _test_cmd_fill(&in->a, seed);
	if (!ret)
		ret = mt_inst_new(&in->b, "small");
	if (ret)
		insts_teardown(in);
	return ret;
}

/*
 * The closing check of every group: @src, whatever the cases did to it,
 * saves from STOP, and its stream resumes into the fresh @dst with the same
 * digest.  @src must be in RUNNING or STOP.
 */
static void check_migrates(struct __test_metadata *_metadata,
			   struct mt_inst *src, struct mt_inst *dst)
{
	struct mig_buf stream = { 0 };
	uint64_t digest = 0;
	const char *step = "engine_rate 0";
	int ret;

	ret = _test_cmd_engine_rate(src->uuid, 0);
	if (!ret) {
		step = "save";
		ret = _test_cmd_save(&src->d, MIG_PATH_PREAD, &stream);
	}
	if (!ret) {
		step = "resume";
		digest = mt_digest(src);
		ret = _test_cmd_resume(&dst->d, stream.data, stream.len,
				       MIG_STATE_RUNNING);
	}
	mig_buf_free(&stream);
	ASSERT_OK(ret)
		TH_LOG("the device no longer migrates: %s: %s", step,
		       strerror(-ret));
	EXPECT_NE(0, digest);
	EXPECT_EQ(digest, mt_digest(dst));
}

/* ================================================================ */
/* Region walk: the rule table                                        */
/* ================================================================ */

/* What accesses a region takes (PROTOCOL.md "Region", the errno policy). */
enum shape {
	SHAPE_NONE,	/* size 0, or no such region: every access -EINVAL */
	SHAPE_BAR0,	/* 4 bytes, 4-aligned; writes -EBUSY while SAVING */
	SHAPE_BAR2,	/* 1/2/4/8 bytes naturally aligned, or > 8 anywhere
			 * inside; writes -EBUSY while SAVING or RESUMING
			 */
	SHAPE_CONFIG,	/* 1/2/4 bytes naturally aligned, or a multiple of 4
			 * at a 4-aligned offset; writes -EBUSY while SAVING
			 */
	SHAPE_MIG,	/* the native header fields; any length inside the
			 * data section
			 */
};

/**
 * struct rules - what the rule table needs to know of the instance
 * @bar2_size: device memory
 * @data_offset: start of the data section in the migration region
 * @mig_size: size of the migration region
 * @state: device_state during the walk
 */
struct rules {
	uint64_t bar2_size;
	uint64_t data_offset;
	uint64_t mig_size;
	uint32_t state;
};

static void rules_init(struct rules *r, const struct mt_inst *in,
		       uint32_t state)
{
	r->bar2_size = in->mem_size;
	r->data_offset = in->d.data_offset;
	r->mig_size = in->d.data_offset + in->d.section_size;
	r->state = state;
}

static enum shape region_shape(uint64_t index)
{
	switch (index) {
	case VFIO_PCI_BAR0_REGION_INDEX:
		return SHAPE_BAR0;
	case VFIO_PCI_BAR2_REGION_INDEX:
		return SHAPE_BAR2;
	case VFIO_PCI_CONFIG_REGION_INDEX:
		return SHAPE_CONFIG;
	case MT_MIG:
		return SHAPE_MIG;
	default:
		return SHAPE_NONE;
	}
}

static uint64_t region_size(const struct rules *r, uint64_t index)
{
	switch (region_shape(index)) {
	case SHAPE_BAR0:
		return MIG_MDEV_BAR0_SIZE;
	case SHAPE_BAR2:
		return r->bar2_size;
	case SHAPE_CONFIG:
		return MIG_MDEV_CONFIG_SIZE;
	case SHAPE_MIG:
		return r->mig_size;
	default:
		return 0;
	}
}

/* A nonempty access wholly inside [0, size). */
static bool fits(uint64_t off, uint64_t count, uint64_t size)
{
	return count && off < size && count <= size - off;
}

/* A power of two up to @max, at a multiple of itself. */
static bool natural(uint64_t off, uint64_t count, uint64_t max)
{
	return count && count <= max && !(count & (count - 1)) &&
	       !(off % count);
}

/*
 * The rule table: the result of a @count-byte access at @off of region
 * @index as the driver must give it, @count already clipped by the VFS.
 * A malformed access is -EINVAL before any state is looked at; a
 * well-formed write the state forbids is -EBUSY.  The walk writes the
 * current state to device_state (a no-op) and 0 to every other header
 * field, so data_size is refused in every state (0, or not RESUMING).
 */
static ssize_t region_rule(const struct rules *r, uint64_t index,
			   uint64_t off, uint64_t count, bool write)
{
	uint64_t size = region_size(r, index);
	bool saving = r->state == MIG_STATE_SAVING;
	bool resuming = r->state == MIG_STATE_RESUMING;

	switch (region_shape(index)) {
	case SHAPE_BAR0:
		if (!fits(off, count, size) || count != 4 || off % 4)
			return -EINVAL;
		return write && saving ? -EBUSY : (ssize_t)count;
	case SHAPE_BAR2:
		if (!fits(off, count, size) ||
		    (count <= 8 && !natural(off, count, 8)))
			return -EINVAL;
		return write && (saving || resuming) ? -EBUSY : (ssize_t)count;
	case SHAPE_CONFIG:
		if (!fits(off, count, size) ||
		    !(natural(off, count, 4) || (!(count % 4) && !(off % 4))))
			return -EINVAL;
		return write && saving ? -EBUSY : (ssize_t)count;
	case SHAPE_MIG:
		if (off >= r->data_offset)
			return fits(off, count, size) ? (ssize_t)count : -EINVAL;
		if (!mig_hdr_native(off, count))
			return -EINVAL;
		if (write && off != MIG_HDR_DEVICE_STATE &&
		    off != MIG_HDR_RESERVED)
			return -EINVAL;
		return count;
	default:
		return -EINVAL;
	}
}

/*
 * What the VFS does before the driver sees the access (ksys_pread64(),
 * vfs_read(), rw_verify_area(), the same for writes), then the rule table.
 */
static ssize_t access_rule(const struct rules *r, const void *buf,
			   uint64_t index, uint64_t off, uint64_t count,
			   bool write)
{
	uint64_t pos = index << REGION_SHIFT | off;

	if ((int64_t)pos < 0)
		return -EINVAL;		/* a negative file offset */
	if (count > USER_TOP - (uintptr_t)buf)
		return -EFAULT;		/* access_ok() */
	if ((int64_t)(pos + count) < 0)
		return -EINVAL;		/* the offset would overflow */
	if (count > MAX_RW_COUNT)
		count = MAX_RW_COUNT;
	return region_rule(r, index, off, count, write);
}

/* Region indexes: all of vfio-pci's, ours, and past the last. */
static const uint64_t walk_indexes[] = {
	VFIO_PCI_BAR0_REGION_INDEX, VFIO_PCI_BAR1_REGION_INDEX,
	VFIO_PCI_BAR2_REGION_INDEX, VFIO_PCI_BAR3_REGION_INDEX,
	VFIO_PCI_BAR4_REGION_INDEX, VFIO_PCI_BAR5_REGION_INDEX,
	VFIO_PCI_ROM_REGION_INDEX, VFIO_PCI_CONFIG_REGION_INDEX,
	VFIO_PCI_VGA_REGION_INDEX, MT_MIG,
	MT_MIG + 1, MT_MIG + 2, 0xff,
	0x7fffff,	/* the top index with a positive file offset */
	0xffffff,	/* the top of the encoding: a negative file offset */
};

/*
 * Access sizes: 0, every width and its neighbours, longer runs, and huge
 * ones: 1 GiB, the VFS's MAX_RW_COUNT, 2^46 (clipped to MAX_RW_COUNT by the
 * VFS) and SIZE_MAX (past the user address space).
 */
static const uint64_t walk_counts[] = {
	0, 1, 2, 3, 4, 5, 7, 8, 16, 256, 4096,
	1ULL << 30, MAX_RW_COUNT, 1ULL << 46, SIZE_MAX,
};

#define WALK_MAX_OFFS		48

/* The walk's user buffer: low (so that 2^46 bytes pass access_ok()). */
#define WALK_BUF_SIZE		(2 * PAGE)

static void add_off(uint64_t *offs, unsigned int *n, uint64_t off)
{
	if (off <= REGION_OFF_MASK && *n < WALK_MAX_OFFS)
		offs[(*n)++] = off;
}

/*
 * Offsets for @count-byte accesses to @index: the start and the header
 * fields, around every end of the region (end - 1, end, end + 1, and the
 * last @count bytes before the end), and the top of the 40-bit offset.
 */
static unsigned int walk_offsets(const struct rules *r, uint64_t index,
				 uint64_t count, uint64_t *offs)
{
	static const uint64_t fixed[] = {
		0, 1, 2, 3, 4, 8, 16, 24, 32, 1ULL << 39, REGION_OFF_MASK,
	};
	uint64_t ends[3];
	unsigned int n = 0, nends = 0, i;

	for (i = 0; i < ARRAY_SIZE(fixed); i++)
		add_off(offs, &n, fixed[i]);
	if (count && count <= REGION_OFF_MASK)
		add_off(offs, &n, REGION_OFF_MASK + 1 - count);
	switch (region_shape(index)) {
	case SHAPE_NONE:
		break;
	case SHAPE_MIG:
		ends[nends++] = MIG_HDR_SIZE;
		ends[nends++] = r->data_offset;
		ends[nends++] = r->mig_size;
		break;
	default:
		ends[nends++] = region_size(r, index);
		break;
	}
	for (i = 0; i < nends; i++) {
		add_off(offs, &n, ends[i] - 1);
		add_off(offs, &n, ends[i]);
		add_off(offs, &n, ends[i] + 1);
		if (count && count <= ends[i]) {
			add_off(offs, &n, ends[i] - count);
			add_off(offs, &n, ends[i] - count + 1);
		}
	}
	return n;
}

/* Cases walked, those well-formed (legal, or refused by the state), wrong. */
struct walk_tally {
	unsigned int cases;
	unsigned int formed;
	unsigned int bad;
};

static void walk_case(struct __test_metadata *_metadata, int fd,
		      const struct rules *r, uint8_t *buf, uint64_t index,
		      uint64_t off, uint64_t count, bool write,
		      struct walk_tally *t)
{
	off_t pos = (off_t)(index << REGION_SHIFT | off);
	ssize_t want = access_rule(r, buf, index, off, count, write), got;
	char s1[32], s2[32];

	if (write) {
		memset(buf, 0, 8);
		if (index == MT_MIG && off == MIG_HDR_DEVICE_STATE)
			memcpy(buf, &r->state, sizeof(r->state));
	}
	if (want > (ssize_t)WALK_BUF_SIZE) {
		/* The table never allows more than the buffer holds. */
		TH_LOG("rule table bug: %zd bytes allowed", want);
		t->bad++;
		return;
	}
	got = write ? pwrite(fd, buf, count, pos) : pread(fd, buf, count, pos);
	if (got < 0)
		got = -errno;
	t->cases++;
	if (want >= 0 || want == -EBUSY)
		t->formed++;
	if (got == want)
		return;
	if (t->bad++ < 24)
		TH_LOG("%s region %#" PRIx64 " offset %#" PRIx64 " count %#"
		       PRIx64 ": got %s, want %s", write ? "pwrite" : "pread",
		       index, off, count, result_str(got, s1, sizeof(s1)),
		       result_str(want, s2, sizeof(s2)));
}

static void walk_all(struct __test_metadata *_metadata, int fd,
		     const struct rules *r, uint8_t *buf, bool write)
{
	struct walk_tally t = { 0 };
	uint64_t offs[WALK_MAX_OFFS];
	unsigned int i, j, k, n;

	for (i = 0; i < ARRAY_SIZE(walk_indexes); i++) {
		for (j = 0; j < ARRAY_SIZE(walk_counts); j++) {
			n = walk_offsets(r, walk_indexes[i], walk_counts[j],
					 offs);
			for (k = 0; k < n; k++)
				walk_case(_metadata, fd, r, buf,
					  walk_indexes[i], offs[k],
					  walk_counts[j], write, &t);
		}
	}
	TH_LOG("%u %s cases, %u well-formed, %u wrong", t.cases,
	       write ? "pwrite" : "pread", t.formed, t.bad);
	EXPECT_EQ(0, t.bad);
	EXPECT_LT(100, t.formed);
}

/*
 * A user buffer at a low fixed address, with an inaccessible page after
 * it, so that a huge access the kernel wrongly took faults there.
 */
static uint8_t *walk_buf_map(void)
{
	uint64_t addr;

	for (addr = 1ULL << 40; addr < 1ULL << 44; addr <<= 1) {
		uint8_t *p = mmap((void *)addr, WALK_BUF_SIZE + PAGE,
				  PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS |
				  MAP_FIXED_NOREPLACE, -1, 0);

		if (p == MAP_FAILED)
			continue;
		if (p == (void *)addr &&
		    !mprotect(p + WALK_BUF_SIZE, PAGE, PROT_NONE))
			return p;
		munmap(p, WALK_BUF_SIZE + PAGE);
	}
	return NULL;
}

FIXTURE(region_walk) {
	struct insts in;
	struct mig_buf stream;
	uint64_t digest;
	uint8_t *buf;
	struct rules rules;
};

FIXTURE_VARIANT(region_walk) {
	uint32_t state;
};

FIXTURE_VARIANT_ADD(region_walk, running) {
	.state = MIG_STATE_RUNNING,
};

FIXTURE_VARIANT_ADD(region_walk, saving) {
	.state = MIG_STATE_SAVING,
};

FIXTURE_VARIANT_ADD(region_walk, resuming) {
	.state = MIG_STATE_RESUMING,
};

static void walk_cleanup(FIXTURE_DATA(region_walk) *self)
{
	insts_teardown(&self->in);
	mig_buf_free(&self->stream);
	if (self->buf)
		munmap(self->buf, WALK_BUF_SIZE + PAGE);
	self->buf = NULL;
}

/*
 * Puts @a in @state.  RESUMING: first a save of @a itself, to feed it
 * after the walk.
 */
static int walk_enter(FIXTURE_DATA(region_walk) *self, uint32_t state)
{
	struct mig_dev *d = &self->in.a.d;
	int ret;

	self->buf = walk_buf_map();
	if (!self->buf)
		return -ENOMEM;
	ret = insts_setup(&self->in, 2);
	if (ret)
		return ret;
	rules_init(&self->rules, &self->in.a, state);
	switch (state) {
	case MIG_STATE_SAVING:
		ret = mig_set_state(d, MIG_STATE_STOP);
		return ret ? ret : mig_set_state(d, MIG_STATE_SAVING);
	case MIG_STATE_RESUMING:
		ret = _test_cmd_save(d, MIG_PATH_PREAD, &self->stream);
		if (ret)
			return ret;
		self->digest = mt_digest(&self->in.a);
		return mig_set_state(d, MIG_STATE_RESUMING);
	default:
		return 0;
	}
}

FIXTURE_SETUP(region_walk)
{
	int ret;

	MT_SKIP_IF_NO_MODULE();
	ret = walk_enter(self, variant->state);
	if (ret)
		walk_cleanup(self);
	ASSERT_OK(ret) TH_LOG("setup: %s", strerror(-ret));
}

FIXTURE_TEARDOWN(region_walk)
{
	walk_cleanup(self);
}

/*
 * After the walk: the state did not change; leave it the ordinary way
 * (SAVING: end the save; RESUMING: take the stream saved before, which
 * must verify), then the closing migration.
 */
static void walk_leave(struct __test_metadata *_metadata,
		       FIXTURE_DATA(region_walk) *self)
{
	struct mig_dev *d = &self->in.a.d;

	ASSERT_EQ(self->rules.state, mt_state(d));
	if (self->rules.state == MIG_STATE_SAVING) {
		test_cmd_set_state(d, MIG_STATE_STOP);
	}
	if (self->rules.state == MIG_STATE_RESUMING) {
		test_cmd_feed(d, MIG_PATH_PREAD, self->stream.data,
			      self->stream.len, MT_CUT_FIXED, 0, NULL);
		test_cmd_set_state(d, MIG_STATE_RUNNING);
		EXPECT_EQ(self->digest, mt_digest(&self->in.a));
	}
	check_migrates(_metadata, &self->in.a, &self->in.b);
}

TEST_F_TIMEOUT(region_walk, preads_get_the_rule_table_result, 120)
{
	walk_all(_metadata, self->in.a.d.fd, &self->rules, self->buf, false);
	walk_leave(_metadata, self);
}

TEST_F_TIMEOUT(region_walk, pwrites_get_the_rule_table_result, 120)
{
	walk_all(_metadata, self->in.a.d.fd, &self->rules, self->buf, true);
	walk_leave(_metadata, self);
}

/* ================================================================ */
/* ioctls                                                            */
/* ================================================================ */

FIXTURE(ioctl) {
	struct insts in;
	int efd;
};

FIXTURE_SETUP(ioctl)
{
	int ret;

	MT_SKIP_IF_NO_MODULE();
	self->efd = -1;
	ret = insts_setup(&self->in, 3);
	ASSERT_OK(ret) TH_LOG("setup: %s", strerror(-ret));
	self->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ASSERT_LE(0, self->efd);
}

FIXTURE_TEARDOWN(ioctl)
{
	if (self->efd >= 0)
		close(self->efd);
	insts_teardown(&self->in);
}

TEST_F(ioctl, get_info_short_argsz_einval_else_answers)
{
	const uint32_t minsz = offsetofend(struct vfio_device_info, num_irqs);
	const uint32_t argszs[] = { 0, 1, minsz - 1, minsz,
				    sizeof(struct vfio_device_info), PAGE,
				    UINT32_MAX };
	const uint32_t flags[] = { 0, UINT32_MAX };
	int fd = self->in.a.d.fd;
	unsigned int i, j;

	for (i = 0; i < ARRAY_SIZE(argszs); i++) {
		for (j = 0; j < ARRAY_SIZE(flags); j++) {
			struct vfio_device_info info;
			int want = argszs[i] < minsz ? -EINVAL : 0, ret;

			memset(&info, 0xa5, sizeof(info));
			info.argsz = argszs[i];
			info.flags = flags[j];
			ret = _test_cmd_ioctl(fd, VFIO_DEVICE_GET_INFO, &info);
			EXPECT_EQ(want, ret)
				TH_LOG("argsz %u flags %#x", argszs[i],
				       flags[j]);
			if (ret)
				continue;
			EXPECT_EQ(argszs[i], info.argsz);
			EXPECT_EQ(VFIO_DEVICE_FLAGS_PCI |
				  VFIO_DEVICE_FLAGS_RESET, info.flags);
			EXPECT_EQ(VFIO_PCI_NUM_REGIONS + 1, info.num_regions);
			EXPECT_EQ(VFIO_PCI_NUM_IRQS, info.num_irqs);
		}
	}
	check_migrates(_metadata, &self->in.a, &self->in.b);
}

/* argsz GET_REGION_INFO asks for the migration region's capabilities. */
static uint32_t caps_argsz(int fd)
{
	struct vfio_region_info ri = { .argsz = sizeof(ri), .index = MT_MIG };

	if (_test_cmd_ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &ri))
		return 0;
	return ri.argsz;
}

TEST_F(ioctl, get_region_info_bad_index_or_short_argsz_einval_else_answers)
{
	const uint32_t minsz = offsetofend(struct vfio_region_info, offset);
	const uint32_t rw = VFIO_REGION_INFO_FLAG_READ |
			    VFIO_REGION_INFO_FLAG_WRITE;
	const uint32_t indexes[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
				     0xff, UINT32_MAX };
	int fd = self->in.a.d.fd;
	uint32_t need = caps_argsz(fd);
	const uint32_t argszs[] = { 0, 1, minsz - 1, minsz, need - 1, need,
				    PAGE, UINT32_MAX };
	uint8_t buf[2 * PAGE] __attribute__((aligned(8)));
	struct vfio_region_info *ri = (void *)buf;
	struct rules rules;
	unsigned int i, j;

	ASSERT_LT(sizeof(*ri), need);
	ASSERT_GT(PAGE, need);
	rules_init(&rules, &self->in.a, MIG_STATE_RUNNING);
	for (i = 0; i < ARRAY_SIZE(indexes); i++) {
		for (j = 0; j < ARRAY_SIZE(argszs); j++) {
			uint32_t idx = indexes[i], argsz = argszs[j];
			int want = argsz < minsz || idx > MT_MIG ? -EINVAL : 0;
			uint64_t size;
			int ret;

			memset(buf, 0xa5, sizeof(buf));
			ri->argsz = argsz;
			ri->index = idx;
			ri->flags = UINT32_MAX;
			ret = _test_cmd_ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, ri);
			EXPECT_EQ(want, ret)
				TH_LOG("index %#x argsz %u", idx, argsz);
			if (ret)
				continue;
			size = region_size(&rules, idx);
			EXPECT_EQ((uint64_t)idx << REGION_SHIFT, ri->offset);
			EXPECT_EQ(size, ri->size) TH_LOG("index %u", idx);
			if (idx != MT_MIG) {
				EXPECT_EQ(size ? rw : 0, ri->flags);
				EXPECT_EQ(argsz, ri->argsz);
				EXPECT_EQ(0, ri->cap_offset);
				continue;
			}
			EXPECT_EQ(rw | VFIO_REGION_INFO_FLAG_MMAP |
				  VFIO_REGION_INFO_FLAG_CAPS, ri->flags);
			if (argsz < need) {
				EXPECT_EQ(need, ri->argsz);
				EXPECT_EQ(0, ri->cap_offset);
			} else {
				EXPECT_EQ(argsz, ri->argsz);
				EXPECT_EQ(sizeof(*ri), ri->cap_offset);
				EXPECT_NE(NULL, mig_region_cap(ri,
					  VFIO_REGION_INFO_CAP_SPARSE_MMAP));
			}
		}
	}
	check_migrates(_metadata, &self->in.a, &self->in.b);
}

TEST_F(ioctl, get_irq_info_bad_index_or_short_argsz_einval_else_answers)
{
	const uint32_t minsz = offsetofend(struct vfio_irq_info, count);
	const uint32_t indexes[] = { 0, 1, 2, 3, 4, 5, 0xff, UINT32_MAX };
	const uint32_t argszs[] = { 0, 1, minsz - 1, minsz, PAGE, UINT32_MAX };
	int fd = self->in.a.d.fd;
	unsigned int i, j;

	for (i = 0; i < ARRAY_SIZE(indexes); i++) {
		for (j = 0; j < ARRAY_SIZE(argszs); j++) {
			struct vfio_irq_info info;
			uint32_t idx = indexes[i];
			int want = argszs[j] < minsz ||
				   idx >= VFIO_PCI_NUM_IRQS ? -EINVAL : 0;
			int ret;

			memset(&info, 0xa5, sizeof(info));
			info.argsz = argszs[j];
			info.index = idx;
			ret = _test_cmd_ioctl(fd, VFIO_DEVICE_GET_IRQ_INFO, &info);
			EXPECT_EQ(want, ret)
				TH_LOG("index %#x argsz %u", idx, argszs[j]);
			if (ret)
				continue;
			EXPECT_EQ(irq_vectors(idx), info.count);
			if (irq_vectors(idx)) {
				EXPECT_TRUE(info.flags & VFIO_IRQ_INFO_EVENTFD);
			} else {
				EXPECT_EQ(0, info.flags);
			}
		}
	}
	check_migrates(_metadata, &self->in.a, &self->in.b);
}

/**
 * struct irq_set - a VFIO_DEVICE_SET_IRQS argument with room for data
 * @hdr: the header
 * @data: up to two BOOLs or eventfds
 */
struct irq_set {
	struct vfio_irq_set hdr;
	uint8_t data[16];
};

#define IRQ_SET_MINSZ	offsetofend(struct vfio_irq_set, count)
#define IRQ_DATA_MASK	VFIO_IRQ_SET_DATA_TYPE_MASK
#define IRQ_ACTION_MASK	VFIO_IRQ_SET_ACTION_TYPE_MASK

static size_t irq_data_size(uint32_t flags)
{
	switch (flags & IRQ_DATA_MASK) {
	case VFIO_IRQ_SET_DATA_BOOL:
		return 1;
	case VFIO_IRQ_SET_DATA_EVENTFD:
		return 4;
	default:
		return 0;
	}
}

/*
 * The rule table of SET_IRQS.  The core (vfio_set_irqs_validate_and_
 * prepare()) refuses a short argsz, an index past VFIO_PCI_NUM_IRQS,
 * flags outside the data and action masks, start/count past the index's
 * vectors or overflowing, not exactly one data type, data shorter than
 * count items.  Then the driver: exactly one action; MASK and UNMASK only
 * on INTx with start 0, count 1 and no eventfd; TRIGGER with count 0 only
 * with DATA_NONE (it disables), else start 0 and count 1.
 */
static int set_irqs_rule(uint32_t argsz, uint32_t flags, uint32_t index,
			 uint32_t start, uint32_t count)
{
	uint32_t data = flags & IRQ_DATA_MASK, action = flags & IRQ_ACTION_MASK;
	uint32_t vecs = irq_vectors(index);

	if (argsz < IRQ_SET_MINSZ || index >= VFIO_PCI_NUM_IRQS ||
	    flags & ~(IRQ_DATA_MASK | IRQ_ACTION_MASK))
		return -EINVAL;
	if (start >= vecs || (uint64_t)start + count > vecs)
		return -EINVAL;
	if (data != VFIO_IRQ_SET_DATA_NONE && data != VFIO_IRQ_SET_DATA_BOOL &&
	    data != VFIO_IRQ_SET_DATA_EVENTFD)
		return -EINVAL;
	if (argsz - IRQ_SET_MINSZ < (uint64_t)count * irq_data_size(flags))
		return -EINVAL;
	switch (action) {
	case VFIO_IRQ_SET_ACTION_MASK:
	case VFIO_IRQ_SET_ACTION_UNMASK:
		if (index != VFIO_PCI_INTX_IRQ_INDEX || count != 1 ||
		    data == VFIO_IRQ_SET_DATA_EVENTFD)
			return -EINVAL;
		return 0;
	case VFIO_IRQ_SET_ACTION_TRIGGER:
		if (!count)
			return data == VFIO_IRQ_SET_DATA_NONE ? 0 : -EINVAL;
		return 0;
	default:
		return -EINVAL;
	}
}

/* A SET_IRQS call; BOOL data is 1, eventfd data is @efd. */
static int set_irqs(int fd, uint32_t argsz, uint32_t flags, uint32_t index,
		    uint32_t start, uint32_t count, int32_t efd)
{
	struct irq_set s;

	memset(&s, 0, sizeof(s));
	s.hdr.argsz = argsz;
	s.hdr.flags = flags;
	s.hdr.index = index;
	s.hdr.start = start;
	s.hdr.count = count;
	if ((flags & IRQ_DATA_MASK) == VFIO_IRQ_SET_DATA_EVENTFD) {
		memcpy(s.data, &efd, sizeof(efd));
		memcpy(s.data + 4, &efd, sizeof(efd));
	} else {
		memset(s.data, 1, sizeof(s.data));
	}
	return _test_cmd_ioctl(fd, VFIO_DEVICE_SET_IRQS, &s);
}

/* Triggers off, INTx unmasked: what a test leaves behind. */
static int irqs_off(int fd)
{
	const uint32_t trig = VFIO_IRQ_SET_ACTION_TRIGGER |
			      VFIO_IRQ_SET_DATA_NONE;
	int ret;

	ret = set_irqs(fd, IRQ_SET_MINSZ, trig, VFIO_PCI_INTX_IRQ_INDEX, 0, 0,
		       -1);
	if (!ret)
		ret = set_irqs(fd, IRQ_SET_MINSZ, trig, VFIO_PCI_MSI_IRQ_INDEX,
			       0, 0, -1);
	if (!ret)
		ret = set_irqs(fd, IRQ_SET_MINSZ, VFIO_IRQ_SET_ACTION_UNMASK |
			       VFIO_IRQ_SET_DATA_NONE, VFIO_PCI_INTX_IRQ_INDEX,
			       0, 1, -1);
	return ret;
}

/* Every index, start, count and argsz with @flags; returns the wrong ones. */
static unsigned int set_irqs_sweep(struct __test_metadata *_metadata, int fd,
				   int efd, uint32_t flags, unsigned int *cases,
				   unsigned int *legal)
{
	const uint32_t indexes[] = { 0, 1, 2, 3, 4, 5, UINT32_MAX };
	const uint32_t starts[] = { 0, 1, UINT32_MAX };
	const uint32_t counts[] = { 0, 1, 2, UINT32_MAX };
	unsigned int i, c, a, bad = 0;

	for (i = 0; i < ARRAY_SIZE(indexes) * ARRAY_SIZE(starts); i++) {
		uint32_t index = indexes[i / ARRAY_SIZE(starts)];
		uint32_t start = starts[i % ARRAY_SIZE(starts)];

		for (c = 0; c < ARRAY_SIZE(counts); c++) {
			uint64_t exact = IRQ_SET_MINSZ + (uint64_t)counts[c] *
					 irq_data_size(flags);
			const uint32_t argszs[] = {
				0, IRQ_SET_MINSZ - 1, IRQ_SET_MINSZ,
				exact > UINT32_MAX ? UINT32_MAX : exact,
				UINT32_MAX,
			};

			for (a = 0; a < ARRAY_SIZE(argszs); a++) {
				int want = set_irqs_rule(argszs[a], flags,
							 index, start,
							 counts[c]);
				int got = set_irqs(fd, argszs[a], flags, index,
						   start, counts[c], efd);

				(*cases)++;
				*legal += !want;
				if (got == want || bad++ >= 8)
					continue;
				TH_LOG("flags %#x index %#x start %#x count %#x argsz %#x: got %d, want %d",
				       flags, index, start, counts[c],
				       argszs[a], got, want);
			}
		}
	}
	return bad;
}

TEST_F_TIMEOUT(ioctl, set_irqs_follow_the_rule_table, 120)
{
	/* Every combination of the data and action bits, then stray bits. */
	const uint32_t stray[] = { VFIO_IRQ_SET_ACTION_TRIGGER | 0x40,
				   VFIO_IRQ_SET_ACTION_TRIGGER | 1U << 31 };
	unsigned int f, cases = 0, legal = 0, bad = 0;
	int fd = self->in.a.d.fd;

	for (f = 0; f <= (IRQ_DATA_MASK | IRQ_ACTION_MASK); f++)
		bad += set_irqs_sweep(_metadata, fd, self->efd, f, &cases,
				      &legal);
	for (f = 0; f < ARRAY_SIZE(stray); f++)
		bad += set_irqs_sweep(_metadata, fd, self->efd, stray[f],
				      &cases, &legal);
	TH_LOG("%u SET_IRQS cases, %u legal, %u wrong", cases, legal, bad);
	EXPECT_EQ(0, bad);
	EXPECT_LT(10, legal);
	ASSERT_OK(irqs_off(fd));
	check_migrates(_metadata, &self->in.a, &self->in.b);
}

TEST_F(ioctl, set_irqs_count_0_only_disables_a_trigger_without_data)
{
	const uint32_t actions[] = { VFIO_IRQ_SET_ACTION_MASK,
				     VFIO_IRQ_SET_ACTION_UNMASK,
				     VFIO_IRQ_SET_ACTION_TRIGGER };
	const uint32_t datas[] = { VFIO_IRQ_SET_DATA_NONE,
				   VFIO_IRQ_SET_DATA_BOOL,
				   VFIO_IRQ_SET_DATA_EVENTFD };
	int fd = self->in.a.d.fd;
	unsigned int i, j;

	for (i = 0; i < ARRAY_SIZE(actions); i++) {
		for (j = 0; j < ARRAY_SIZE(datas); j++) {
			bool ok = actions[i] == VFIO_IRQ_SET_ACTION_TRIGGER &&
				  datas[j] == VFIO_IRQ_SET_DATA_NONE;

			/* argsz with and without room for one item */
			EXPECT_EQ(ok ? 0 : -EINVAL,
				  set_irqs(fd, IRQ_SET_MINSZ,
					   actions[i] | datas[j],
					   VFIO_PCI_INTX_IRQ_INDEX, 0, 0,
					   self->efd))
				TH_LOG("flags %#x", actions[i] | datas[j]);
			EXPECT_EQ(ok ? 0 : -EINVAL,
				  set_irqs(fd, IRQ_SET_MINSZ + 4,
					   actions[i] | datas[j],
					   VFIO_PCI_INTX_IRQ_INDEX, 0, 0,
					   self->efd))
				TH_LOG("flags %#x", actions[i] | datas[j]);
		}
	}
	ASSERT_OK(irqs_off(fd));
	check_migrates(_metadata, &self->in.a, &self->in.b);
}

static int set_trigger_fd(int fd, uint32_t index, int32_t efd)
{
	return set_irqs(fd, IRQ_SET_MINSZ + 4, VFIO_IRQ_SET_ACTION_TRIGGER |
			VFIO_IRQ_SET_DATA_EVENTFD, index, 0, 1, efd);
}

TEST_F(ioctl, set_irqs_eventfd_that_is_no_fd_is_ebadf)
{
	int fd = self->in.a.d.fd, closed = dup(self->efd);
	uint32_t i;

	ASSERT_LE(0, closed);
	close(closed);
	for (i = 0; i < 2; i++) {
		EXPECT_ERRNO(EBADF, set_trigger_fd(fd, i, closed));
		EXPECT_ERRNO(EBADF, set_trigger_fd(fd, i, INT32_MAX));
	}
	check_migrates(_metadata, &self->in.a, &self->in.b);
}

TEST_F(ioctl, set_irqs_eventfd_that_is_no_eventfd_is_einval)
{
	int fd = self->in.a.d.fd, pipefd[2], null;
	uint32_t i;

	ASSERT_OK(pipe2(pipefd, O_CLOEXEC));
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, null);
	for (i = 0; i < 2; i++) {
		EXPECT_ERRNO(EINVAL, set_trigger_fd(fd, i, fd));
		EXPECT_ERRNO(EINVAL, set_trigger_fd(fd, i, pipefd[0]));
		EXPECT_ERRNO(EINVAL, set_trigger_fd(fd, i, null));
	}
	close(null);
	close(pipefd[0]);
	close(pipefd[1]);
	check_migrates(_metadata, &self->in.a, &self->in.b);
}

/* Counts on @efd after a doorbell (0 if none within 200 ms). */
static int64_t doorbell_count(struct mig_dev *d, int efd)
{
	struct pollfd p = { .fd = efd, .events = POLLIN };
	uint64_t cnt;

	if (_test_cmd_bar0_write(d, MIG_REG_DOORBELL, 1))
		return -1;
	if (poll(&p, 1, 200) != 1)
		return 0;
	if (read(efd, &cnt, sizeof(cnt)) != sizeof(cnt))
		return -1;
	return (int64_t)cnt;
}

TEST_F(ioctl, set_irqs_negative_eventfd_disables_the_trigger)
{
	const int32_t fds[] = { -1, -2, INT32_MIN };
	struct mig_dev *d = &self->in.a.d;
	unsigned int i;

	test_cmd_bar0_write(d, MIG_REG_CONTROL, MIG_CTRL_IRQ_EN);
	for (i = 0; i < ARRAY_SIZE(fds); i++) {
		ASSERT_OK(set_trigger_fd(d->fd, VFIO_PCI_INTX_IRQ_INDEX,
					 self->efd));
		ASSERT_EQ(1, doorbell_count(d, self->efd));
		EXPECT_OK(set_trigger_fd(d->fd, VFIO_PCI_INTX_IRQ_INDEX,
					 fds[i]));
		EXPECT_EQ(0, doorbell_count(d, self->efd))
			TH_LOG("fd %d left the trigger in place", fds[i]);
	}
	test_cmd_bar0_write(d, MIG_REG_CONTROL, 0);
	check_migrates(_metadata, &self->in.a, &self->in.b);
}

/* A page that reads but does not write, and an inaccessible one after it. */
struct bad_mem {
	uint8_t *rw;	/* readable and writable, with PROT_NONE after it */
	uint8_t *ro;	/* read only */
};

static int bad_mem_map(struct bad_mem *m)
{
	uint8_t *p = mmap(NULL, 3 * PAGE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return -errno;
	m->rw = p;
	m->ro = p + 2 * PAGE;
	if (mprotect(p + PAGE, PAGE, PROT_NONE))
		return -errno;
	return 0;
}

TEST_F(ioctl, arguments_in_bad_memory_are_efault)
{
	const unsigned long reqs[] = { VFIO_DEVICE_GET_INFO,
				       VFIO_DEVICE_GET_REGION_INFO,
				       VFIO_DEVICE_GET_IRQ_INFO,
				       VFIO_DEVICE_SET_IRQS };
	int fd = self->in.a.d.fd;
	struct vfio_region_info *ri;
	struct vfio_irq_set *set;
	struct bad_mem m;
	unsigned int i;

	ASSERT_OK(bad_mem_map(&m));
	for (i = 0; i < ARRAY_SIZE(reqs); i++) {
		test_err_ioctl(EFAULT, fd, reqs[i], NULL);
		test_err_ioctl(EFAULT, fd, reqs[i], m.rw + PAGE);
	}

	/* Valid requests the answer of which cannot be written. */
	memset(m.ro, 0, PAGE);
	((struct vfio_device_info *)m.ro)->argsz = PAGE;
	ASSERT_OK(mprotect(m.ro, PAGE, PROT_READ));
	test_err_ioctl(EFAULT, fd, VFIO_DEVICE_GET_INFO, m.ro);
	test_err_ioctl(EFAULT, fd, VFIO_DEVICE_GET_REGION_INFO, m.ro);
	test_err_ioctl(EFAULT, fd, VFIO_DEVICE_GET_IRQ_INFO, m.ro);
	ASSERT_OK(mprotect(m.ro, PAGE, PROT_READ | PROT_WRITE));
	((struct vfio_region_info *)m.ro)->index = MT_MIG;
	ASSERT_OK(mprotect(m.ro, PAGE, PROT_READ));
	test_err_ioctl(EFAULT, fd, VFIO_DEVICE_GET_REGION_INFO, m.ro);

	/* The capability chain runs into the inaccessible page. */
	ri = (void *)(m.rw + PAGE - sizeof(*ri));
	memset(ri, 0, sizeof(*ri));
	ri->argsz = PAGE;
	ri->index = MT_MIG;
	test_err_ioctl(EFAULT, fd, VFIO_DEVICE_GET_REGION_INFO, ri);

	/* SET_IRQS whose eventfd lies in the inaccessible page. */
	set = (void *)(m.rw + PAGE - IRQ_SET_MINSZ);
	set->argsz = IRQ_SET_MINSZ + 4;
	set->flags = VFIO_IRQ_SET_ACTION_TRIGGER | VFIO_IRQ_SET_DATA_EVENTFD;
	set->index = VFIO_PCI_INTX_IRQ_INDEX;
	set->start = 0;
	set->count = 1;
	test_err_ioctl(EFAULT, fd, VFIO_DEVICE_SET_IRQS, set);

	munmap(m.rw, 3 * PAGE);
	check_migrates(_metadata, &self->in.a, &self->in.b);
}

TEST_F(ioctl, reset_ignores_its_argument_and_gives_power_on_state)
{
	const uint32_t states[] = { MIG_STATE_STOP, MIG_STATE_SAVING,
				    MIG_STATE_PRECOPY, MIG_STATE_RESUMING,
				    MIG_STATE_RUNNING };
	struct mig_dev *d = &self->in.a.d;
	uint64_t fresh = mt_digest(&self->in.b);
	struct bad_mem m;
	unsigned long args[4];
	unsigned int i;

	ASSERT_OK(bad_mem_map(&m));
	args[0] = 0;
	args[1] = ULONG_MAX;
	args[2] = (unsigned long)(m.rw + PAGE);
	args[3] = (unsigned long)m.rw;
	ASSERT_NE(0, fresh);
	for (i = 0; i < ARRAY_SIZE(args); i++) {
		uint32_t s = states[i % ARRAY_SIZE(states)];

		if (s != MIG_STATE_RUNNING) {
			if (s == MIG_STATE_SAVING) {
				test_cmd_set_state(d, MIG_STATE_STOP);
			}
			test_cmd_set_state(d, s);
		}
		EXPECT_OK(ioctl(d->fd, VFIO_DEVICE_RESET, args[i]))
			TH_LOG("arg %#lx: %s", args[i], strerror(errno));
		EXPECT_EQ(MIG_STATE_RUNNING, mt_state(d));
		EXPECT_EQ(fresh, mt_digest(&self->in.a));
		test_cmd_fill(&self->in.a, 30 + i);
	}
	munmap(m.rw, 3 * PAGE);
	check_migrates(_metadata, &self->in.a, &self->in.b);
}

TEST_F(ioctl, unknown_commands_are_enotty)
{
	/*
	 * Container, group and vfio-pci-only commands sent to this device,
	 * numbers next to ours, GET_INFO's number with size bits, and others.
	 * Not VFIO_DEVICE_FEATURE and the iommufd ones: the core answers them.
	 */
	const unsigned long cmds[] = {
		VFIO_GET_API_VERSION, VFIO_CHECK_EXTENSION, VFIO_SET_IOMMU,
		VFIO_GROUP_GET_STATUS, VFIO_GROUP_SET_CONTAINER,
		VFIO_GROUP_UNSET_CONTAINER, VFIO_GROUP_GET_DEVICE_FD,
		VFIO_DEVICE_GET_PCI_HOT_RESET_INFO, VFIO_DEVICE_PCI_HOT_RESET,
		VFIO_DEVICE_QUERY_GFX_PLANE, VFIO_DEVICE_GET_GFX_DMABUF,
		VFIO_DEVICE_IOEVENTFD, _IO(VFIO_TYPE, VFIO_BASE + 99),
		_IO(VFIO_TYPE, VFIO_BASE + 50),
		_IOR(VFIO_TYPE, VFIO_BASE + 7, struct vfio_device_info),
		_IOWR(VFIO_TYPE, VFIO_BASE + 11, uint64_t),
		_IO('a', 1), 0, 0xffffffffUL,
	};
	uint8_t buf[PAGE] __attribute__((aligned(8)));
	int fd = self->in.a.d.fd;
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(cmds); i++) {
		memset(buf, 0, sizeof(buf));
		*(uint32_t *)buf = sizeof(buf);
		test_err_ioctl(ENOTTY, fd, cmds[i], buf)
			TH_LOG("cmd %#lx", cmds[i]);
	}
	EXPECT_EQ(MIG_STATE_RUNNING, mt_state(&self->in.a.d));
	check_migrates(_metadata, &self->in.a, &self->in.b);
}

/* ================================================================ */
/* sysfs                                                             */
/* ================================================================ */

FIXTURE(sysfs) {
	struct insts in;
	char *big;
};

#define BIG_LEN		(16 * PAGE)

FIXTURE_SETUP(sysfs)
{
	int ret;

	MT_SKIP_IF_NO_MODULE();
	ret = insts_setup(&self->in, 4);
	ASSERT_OK(ret) TH_LOG("setup: %s", strerror(-ret));
	self->big = malloc(BIG_LEN);
	ASSERT_NE(NULL, self->big);
}

FIXTURE_TEARDOWN(sysfs)
{
	free(self->big);
	insts_teardown(&self->in);
}

/* One write(2) of @len bytes: the count written, or -errno (open too). */
static ssize_t sysfs_put(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, buf, len);
	if (n < 0)
		n = -errno;
	close(fd);
	return n;
}

static void attr_path(char *path, size_t len, const char *uuid,
		      const char *attr)
{
	snprintf(path, len, "%s/%s/%s", MIG_SYSFS_DEVICES, uuid, attr);
}

static int64_t rate_of(struct mt_inst *in)
{
	char buf[64];

	if (mig_attr_read(in->uuid, "engine_rate", buf, sizeof(buf)))
		return -1;
	return strtoll(buf, NULL, 10);
}

/**
 * struct garbage - bytes written to an attribute, and the errno they get
 * @what: what they are
 * @bytes: the bytes (may hold NULs)
 * @len: how many
 * @err: the errno the write fails with
 */
struct garbage {
	const char *what;
	const char *bytes;
	size_t len;
	int err;
};

#define G(what, str, err)	{ what, str, sizeof(str) - 1, err }

/* kstrtou32(): what it refuses, and how. */
static const struct garbage rate_garbage[] = {
	G("a newline only", "\n", EINVAL),
	G("a word", "fast", EINVAL),
	G("a negative number", "-1", EINVAL),
	G("minus zero", "-0", EINVAL),
	G("a fraction", "1.5", EINVAL),
	G("a leading space", " 5", EINVAL),
	G("a trailing space", "5 ", EINVAL),
	G("two newlines", "5\n\n", EINVAL),
	G("a bad octal digit", "08", EINVAL),
	G("a bare hex prefix", "0x", EINVAL),
	G("u32 max + 1", "4294967296", ERANGE),
	G("u64 max + 1", "18446744073709551616", ERANGE),
	G("hex past u32", "0x100000000", ERANGE),
	G("a NUL first", "\0" "5", EINVAL),
	G("binary bytes", "\xff\xfe\x01\x80", EINVAL),
};

TEST_F(sysfs, engine_rate_garbage_gets_its_errno_and_keeps_the_rate)
{
	struct mt_inst *a = &self->in.a;
	char path[256], s1[32], s2[32];
	unsigned int i;
	ssize_t got;

	attr_path(path, sizeof(path), a->uuid, "engine_rate");
	test_cmd_engine_rate(a->uuid, 3);
	for (i = 0; i < ARRAY_SIZE(rate_garbage); i++) {
		const struct garbage *g = &rate_garbage[i];

		got = sysfs_put(path, g->bytes, g->len);
		EXPECT_EQ(-g->err, got)
			TH_LOG("%s: got %s, want %s", g->what,
			       result_str(got, s1, sizeof(s1)),
			       result_str(-g->err, s2, sizeof(s2)));
		EXPECT_EQ(3, rate_of(a)) TH_LOG("after %s", g->what);
	}
	/* Longer than a page: the kernel takes the first page of it. */
	memset(self->big, 'x', BIG_LEN);
	EXPECT_ERRNO(EINVAL, sysfs_put(path, self->big, BIG_LEN));
	memset(self->big, '9', BIG_LEN);
	EXPECT_ERRNO(ERANGE, sysfs_put(path, self->big, BIG_LEN));
	EXPECT_EQ(3, rate_of(a));
	check_migrates(_metadata, a, &self->in.b);
}

TEST_F(sysfs, engine_rate_empty_write_changes_nothing)
{
	struct mt_inst *a = &self->in.a;
	char path[256];

	attr_path(path, sizeof(path), a->uuid, "engine_rate");
	test_cmd_engine_rate(a->uuid, 3);
	EXPECT_EQ(0, sysfs_put(path, "", 0));
	EXPECT_EQ(3, rate_of(a));
	check_migrates(_metadata, a, &self->in.b);
}

TEST_F(sysfs, engine_rate_takes_a_u32_in_any_base)
{
	static const struct {
		const char *val;
		int64_t rate;
	} ok[] = {
		{ "5\n", 5 }, { "+7", 7 }, { "0x10", 16 }, { "0X11", 17 },
		{ "010", 8 }, { "4294967295", 4294967295LL }, { "0", 0 },
	};
	struct mt_inst *a = &self->in.a;
	char path[256];
	unsigned int i;

	attr_path(path, sizeof(path), a->uuid, "engine_rate");
	for (i = 0; i < ARRAY_SIZE(ok); i++) {
		EXPECT_EQ((ssize_t)strlen(ok[i].val),
			  sysfs_put(path, ok[i].val, strlen(ok[i].val)))
			TH_LOG("'%s'", ok[i].val);
		EXPECT_EQ(ok[i].rate, rate_of(a)) TH_LOG("'%s'", ok[i].val);
	}
	check_migrates(_metadata, a, &self->in.b);
}

TEST_F(sysfs, engine_rate_u32_max_keeps_the_instance_responsive)
{
	struct mt_inst *a = &self->in.a;
	struct lat lat = { 0 };
	uint64_t t0, t, c0, c1;
	uint32_t id;

	c0 = mt_engine_count(a);
	ASSERT_OK(mig_attr_write(a->uuid, "engine_rate", "4294967295"));
	t0 = mt_now_ms();
	while (mt_now_ms() - t0 < 2000) {
		t = mt_now_ms();
		EXPECT_NE(0, mt_digest(a));
		EXPECT_OK(_test_cmd_bar0_read(&a->d, MIG_REG_ID, &id));
		EXPECT_EQ(MIG_STATE_RUNNING, mt_state(&a->d));
		lat_add(&lat, mt_now_ms() - t);
	}
	c1 = mt_engine_count(a);
	TH_LOG("engine wrote %" PRIu64 " pages in 2 s; %" PRIu64
	       " rounds, slowest %" PRIu64 " ms", c1 - c0, lat.runs,
	       lat.max_ms);
	EXPECT_TIMELY(lat, "digest, BAR0 and device_state");
	EXPECT_LT(c0, c1);
	check_migrates(_metadata, a, &self->in.b);
}

TEST_F(sysfs, engine_rate_while_saving_or_resuming_is_ebusy)
{
	struct mt_inst *a = &self->in.a;
	struct mig_buf stream = { 0 };
	char path[256];

	attr_path(path, sizeof(path), a->uuid, "engine_rate");
	test_cmd_set_state(&a->d, MIG_STATE_STOP);
	test_cmd_set_state(&a->d, MIG_STATE_SAVING);
	EXPECT_ERRNO(EBUSY, sysfs_put(path, "5", 1));
	EXPECT_ERRNO(EINVAL, sysfs_put(path, "x", 1));
	ASSERT_OK(mig_save_loop(&a->d, MIG_PATH_PREAD, 0, mig_buf_sink,
				&stream, NULL));
	test_cmd_set_state(&a->d, MIG_STATE_RUNNING);
	test_cmd_set_state(&a->d, MIG_STATE_RESUMING);
	EXPECT_ERRNO(EBUSY, sysfs_put(path, "5", 1));
	EXPECT_ERRNO(EINVAL, sysfs_put(path, "x", 1));
	EXPECT_EQ(0, rate_of(a));
	test_cmd_feed(&a->d, MIG_PATH_PREAD, stream.data, stream.len,
		      MT_CUT_FIXED, 0, NULL);
	mig_buf_free(&stream);
	test_cmd_set_state(&a->d, MIG_STATE_RUNNING);
	check_migrates(_metadata, a, &self->in.b);
}

static unsigned int type_instances(const char *type)
{
	char path[256];
	struct dirent *de;
	unsigned int n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "%s/mig_mdev-%s/devices", MIG_SYSFS_TYPES,
		 type);
	dir = opendir(path);
	if (!dir)
		return UINT_MAX;
	while ((de = readdir(dir)))
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n;
}

static bool instance_exists(const char *uuid)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", MIG_SYSFS_DEVICES, uuid);
	return access(path, F_OK) == 0;
}

TEST_F(sysfs, create_garbage_is_einval_and_creates_nothing)
{
	char path[256], uuid[MIG_UUID_LEN + 1], s1[32];
	char bad[8][MIG_UUID_LEN + 4];
	unsigned long avail0, avail;
	unsigned int n0, i;
	ssize_t got;

	snprintf(path, sizeof(path), "%s/mig_mdev-small/create",
		 MIG_SYSFS_TYPES);
	ASSERT_OK(mig_uuid_gen(uuid));
	n0 = type_instances("small");
	ASSERT_OK(mig_type_available("small", &avail0));

	/* 36 or 37 bytes that are no UUID. */
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		memcpy(bad[i], uuid, MIG_UUID_LEN + 1);
	bad[0][3] = 'g';			/* not hex */
	bad[1][8] = '0';			/* a dash missing */
	bad[2][7] = '-';			/* a dash misplaced */
	bad[3][35] = '\n';			/* a digit short */
	memset(bad[4], 0, MIG_UUID_LEN);	/* NULs */
	memset(bad[5], 0xff, MIG_UUID_LEN);	/* binary */
	bad[6][0] = ' ';			/* a leading space */
	memset(bad[7], '-', MIG_UUID_LEN);	/* dashes */
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		got = sysfs_put(path, bad[i], MIG_UUID_LEN);
		EXPECT_ERRNO(EINVAL, got)
			TH_LOG("36 bytes #%u: got %s", i,
			       result_str(got, s1, sizeof(s1)));
	}

	/* Too short or too long for a UUID, whatever they hold. */
	EXPECT_ERRNO(EINVAL, sysfs_put(path, "\n", 1));
	EXPECT_ERRNO(EINVAL, sysfs_put(path, "-1", 2));
	EXPECT_ERRNO(EINVAL, sysfs_put(path, uuid, MIG_UUID_LEN - 1));
	memcpy(bad[0], uuid, MIG_UUID_LEN);
	memcpy(bad[0] + MIG_UUID_LEN, "\n\n", 2);
	EXPECT_ERRNO(EINVAL, sysfs_put(path, bad[0], MIG_UUID_LEN + 2));
	memset(self->big, 'a', BIG_LEN);
	EXPECT_ERRNO(EINVAL, sysfs_put(path, self->big, BIG_LEN));
	memcpy(self->big, uuid, MIG_UUID_LEN);
	EXPECT_ERRNO(EINVAL, sysfs_put(path, self->big, BIG_LEN));
	EXPECT_EQ(0, sysfs_put(path, "", 0));

	EXPECT_EQ(n0, type_instances("small"));
	ASSERT_OK(mig_type_available("small", &avail));
	EXPECT_EQ(avail0, avail);
	if (instance_exists(uuid))
		mig_instance_remove(uuid);
	check_migrates(_metadata, &self->in.a, &self->in.b);
}

/* kstrtoul(): what remove refuses (its errors all become -EINVAL). */
static const struct garbage remove_garbage[] = {
	G("a newline only", "\n", EINVAL),
	G("a word", "yes", EINVAL),
	G("a negative number", "-1", EINVAL),
	G("a fraction", "1.0", EINVAL),
	G("a leading space", " 1", EINVAL),
	G("a bare hex prefix", "0x", EINVAL),
	G("past u64", "18446744073709551616", EINVAL),
	G("a NUL first", "\0" "1", EINVAL),
	G("binary bytes", "\x01\xff", EINVAL),
};

/* A third, closed instance for remove to be tried on. */
static void third_instance(struct __test_metadata *_metadata,
			   struct mt_inst *c)
{
	mt_inst_init(c);
	ASSERT_OK(mt_inst_create(c, "small"));
}

TEST_F(sysfs, remove_garbage_is_einval_and_removes_nothing)
{
	struct mt_inst *c = &self->in.c;
	char path[256], s1[32];
	unsigned int i;
	ssize_t got;

	third_instance(_metadata, c);
	attr_path(path, sizeof(path), c->uuid, "remove");
	for (i = 0; i < ARRAY_SIZE(remove_garbage); i++) {
		const struct garbage *g = &remove_garbage[i];

		got = sysfs_put(path, g->bytes, g->len);
		EXPECT_EQ(-g->err, got)
			TH_LOG("%s: got %s", g->what,
			       result_str(got, s1, sizeof(s1)));
		ASSERT_TRUE(instance_exists(c->uuid)) TH_LOG("%s", g->what);
	}
	memset(self->big, 'z', BIG_LEN);
	EXPECT_ERRNO(EINVAL, sysfs_put(path, self->big, BIG_LEN));
	ASSERT_TRUE(instance_exists(c->uuid));
	ASSERT_OK(mt_inst_open(c));
	test_cmd_fill(c, 40);
	check_migrates(_metadata, c, &self->in.b);
}

TEST_F(sysfs, remove_zero_removes_nothing)
{
	static const char * const zeros[] = { "0", "0\n", "00", "0x0" };
	struct mt_inst *c = &self->in.c;
	char path[256];
	unsigned int i;

	third_instance(_metadata, c);
	attr_path(path, sizeof(path), c->uuid, "remove");
	for (i = 0; i < ARRAY_SIZE(zeros); i++) {
		EXPECT_EQ((ssize_t)strlen(zeros[i]),
			  sysfs_put(path, zeros[i], strlen(zeros[i])));
		ASSERT_TRUE(instance_exists(c->uuid)) TH_LOG("'%s'", zeros[i]);
	}
	EXPECT_EQ(0, sysfs_put(path, "", 0));
	ASSERT_TRUE(instance_exists(c->uuid));
	ASSERT_OK(mt_inst_open(c));
	test_cmd_fill(c, 41);
	check_migrates(_metadata, c, &self->in.b);
}

TEST_F(sysfs, read_only_attributes_refuse_write_open_with_eacces)
{
	static const char * const ro[] = { "digest", "engine_count",
					    "migration_state", "section_size" };
	static const char * const type_ro[] = { "name", "description",
						 "device_api",
						 "available_instances" };
	char path[256];
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(ro); i++) {
		attr_path(path, sizeof(path), self->in.a.uuid, ro[i]);
		EXPECT_ERRNO(EACCES, sysfs_put(path, "1", 1))
			TH_LOG("%s", ro[i]);
	}
	for (i = 0; i < ARRAY_SIZE(type_ro); i++) {
		snprintf(path, sizeof(path), "%s/mig_mdev-small/%s",
			 MIG_SYSFS_TYPES, type_ro[i]);
		EXPECT_ERRNO(EACCES, sysfs_put(path, "1", 1))
			TH_LOG("%s", type_ro[i]);
	}
	/* And the write-only ones do not open for reading. */
	attr_path(path, sizeof(path), self->in.a.uuid, "remove");
	EXPECT_EQ(-1, open(path, O_RDONLY | O_CLOEXEC));
	EXPECT_EQ(EACCES, errno);
	snprintf(path, sizeof(path), "%s/mig_mdev-small/create",
		 MIG_SYSFS_TYPES);
	EXPECT_EQ(-1, open(path, O_RDONLY | O_CLOEXEC));
	EXPECT_EQ(EACCES, errno);
	EXPECT_TRUE(instance_exists(self->in.a.uuid));
}

/* In a child with uid/gid nobody: 0, or the errno of opening @path. */
static int open_as_nobody(const char *path)
{
	pid_t pid = fork();
	int status, fd;

	if (pid < 0)
		return -errno;
	if (!pid) {
		if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
			_exit(255);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		_exit(fd < 0 ? (errno & 0x7f) : 0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -ECHILD;
	return WEXITSTATUS(status) == 255 ? -EPERM : WEXITSTATUS(status);
}

TEST_F(sysfs, digest_is_0400_and_unreadable_for_others)
{
	char path[256];
	struct stat st;

	attr_path(path, sizeof(path), self->in.a.uuid, "digest");
	ASSERT_OK(stat(path, &st));
	EXPECT_EQ(0400, st.st_mode & 07777) TH_LOG("digest is %04o",
						   st.st_mode & 07777);
	EXPECT_EQ(EACCES, open_as_nobody(path));
	/* Others can read what is theirs to read: the check has teeth. */
	attr_path(path, sizeof(path), self->in.a.uuid, "engine_count");
	EXPECT_OK(open_as_nobody(path));
	EXPECT_NE(0, mt_digest(&self->in.a));
}

/* Counts the files under @dir (not following links) that others can write. */
static unsigned int world_writable(struct __test_metadata *_metadata,
				   const char *dir, int depth,
				   unsigned int *files)
{
	char path[512];
	struct dirent *de;
	struct stat st;
	unsigned int bad = 0;
	DIR *d = opendir(dir);

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (lstat(path, &st))
			continue;
		if (S_ISDIR(st.st_mode) && depth > 0) {
			bad += world_writable(_metadata, path, depth - 1,
					      files);
			continue;
		}
		if (!S_ISREG(st.st_mode))
			continue;
		(*files)++;
		if (st.st_mode & S_IWOTH) {
			TH_LOG("%s is %04o", path, st.st_mode & 07777);
			bad++;
		}
	}
	closedir(d);
	return bad;
}

TEST_F(sysfs, no_attribute_is_world_writable)
{
	char inst[256], real[PATH_MAX];
	unsigned int files = 0, bad = 0;

	snprintf(inst, sizeof(inst), "%s/%s", MIG_SYSFS_DEVICES,
		 self->in.a.uuid);
	ASSERT_NE(NULL, realpath(inst, real));
	bad += world_writable(_metadata, real, 2, &files);
	/* The parent: its types and their create, and the instances. */
	ASSERT_NE(NULL, realpath(MIG_SYSFS_PARENT, real));
	bad += world_writable(_metadata, real, 3, &files);
	bad += world_writable(_metadata, "/sys/module/mig_mdev/parameters", 0,
			      &files);
	TH_LOG("%u files", files);
	EXPECT_LT(20, files);
	EXPECT_EQ(0, bad);
}

/* ================================================================ */
/* A user copy stalled by userfaultfd                                 */
/* ================================================================ */

/**
 * struct stall_call - a pread or pwrite whose user buffer stalls
 * @name: for logs
 * @index: region
 * @off: offset in the region
 * @len: bytes
 * @write: pwrite
 * @fill: the bytes the fault is served with
 * @fd: the device fd
 * @page: the user buffer, a userfaultfd-registered page
 * @ret: the count, or -errno
 * @done: the call returned
 * @faulted: its page faulted (the call reached its user copy)
 * @stalled: it had faulted by the end of the stall
 * @served: its page was served
 * @early: it returned before its page was served
 * @thread: the thread that makes the call
 */
struct stall_call {
	const char *name;
	uint32_t index;
	uint64_t off;
	size_t len;
	bool write;
	uint8_t fill;
	int fd;
	uint8_t *page;
	ssize_t ret;
	atomic_bool done;
	bool faulted;
	bool stalled;
	bool served;
	bool early;
	pthread_t thread;
};

#define STALL(n, i, o, l, w, f) \
	{ .name = n, .index = i, .off = o, .len = l, .write = w, .fill = f }

static void *stall_run(void *arg)
{
	struct stall_call *c = arg;
	off_t pos = (off_t)((uint64_t)c->index << REGION_SHIFT | c->off);
	ssize_t n;

	if (c->write)
		n = pwrite(c->fd, c->page, c->len, pos);
	else
		n = pread(c->fd, c->page, c->len, pos);
	c->ret = n < 0 ? -errno : n;
	atomic_store(&c->done, true);
	return NULL;
}

/*
 * What other users do meanwhile, each in a thread of its own so that one
 * that blocks hides none of the others; each run must return within
 * DEADLINE_MS.
 */
enum probe_op {
	PROBE_RATE_WRITE, PROBE_DIGEST, PROBE_RATE, PROBE_STATE_ATTR,
	PROBE_COUNT, PROBE_HDR_STATE, PROBE_HDR_PENDING, PROBE_HDR_OFFSET,
	PROBE_HDR_SIZE, PROBE_BAR0, PROBE_B_BAR0, PROBE_B_CONFIG,
	PROBE_B_DIGEST,
	PROBE_NR
};

static const char * const probe_names[PROBE_NR] = {
	[PROBE_RATE_WRITE] = "sysfs engine_rate write",
	[PROBE_DIGEST] = "sysfs digest",
	[PROBE_RATE] = "sysfs engine_rate",
	[PROBE_STATE_ATTR] = "sysfs migration_state",
	[PROBE_COUNT] = "sysfs engine_count",
	[PROBE_HDR_STATE] = "header device_state",
	[PROBE_HDR_PENDING] = "header pending_bytes",
	[PROBE_HDR_OFFSET] = "header data_offset",
	[PROBE_HDR_SIZE] = "header data_size",
	[PROBE_BAR0] = "BAR0 register read",
	[PROBE_B_BAR0] = "second instance BAR0",
	[PROBE_B_CONFIG] = "second instance config",
	[PROBE_B_DIGEST] = "second instance digest",
};

/**
 * struct probe - one operation another user repeats during the stall
 * @op: which
 * @a: the instance with the stalled calls
 * @b: another instance
 * @stop: set by the test when the stall is over
 * @done: the thread finished
 * @blocked: it had not finished when the stall ended
 * @lat: how long its runs took
 * @err: the first error
 * @first: PROBE_COUNT: the first engine_count read
 * @last: and the last
 * @thread: the thread
 */
struct probe {
	enum probe_op op;
	struct mt_inst *a;
	struct mt_inst *b;
	atomic_bool *stop;
	atomic_bool done;
	bool blocked;
	struct lat lat;
	int err;
	uint64_t first;
	uint64_t last;
	pthread_t thread;
};

static int probe_one(struct probe *p, uint32_t round)
{
	char buf[64];
	uint32_t v32;
	uint64_t v;
	int ret;

	switch (p->op) {
	case PROBE_RATE_WRITE:
		return _test_cmd_engine_rate(p->a->uuid, 1000);
	case PROBE_DIGEST:
		return mig_digest(p->a->uuid, &v);
	case PROBE_RATE:
		return mig_attr_read(p->a->uuid, "engine_rate", buf,
				     sizeof(buf));
	case PROBE_STATE_ATTR:
		ret = mig_attr_read(p->a->uuid, "migration_state", buf,
				    sizeof(buf));
		return ret ? ret : strcmp(buf, "RUNNING") ? -EPROTO : 0;
	case PROBE_COUNT:
		v = mt_engine_count(p->a);
		if (v == UINT64_MAX)
			return -EIO;
		if (!p->lat.runs)
			p->first = v;
		p->last = v;
		return 0;
	case PROBE_HDR_STATE:
		ret = mig_get_state(&p->a->d, &v32);
		return ret ? ret : v32 != MIG_STATE_RUNNING ? -EPROTO : 0;
	case PROBE_HDR_PENDING:
		return mig_get_pending(&p->a->d, &v);
	case PROBE_HDR_OFFSET:
		return mig_get_data_offset(&p->a->d, &v);
	case PROBE_HDR_SIZE:
		return mig_get_data_size(&p->a->d, &v);
	case PROBE_BAR0:
		ret = _test_cmd_bar0_read(&p->a->d, MIG_REG_ID, &v32);
		return ret ? ret : v32 != MIG_REG_ID_VALUE ? -EPROTO : 0;
	case PROBE_B_BAR0:
		ret = _test_cmd_bar0_write(&p->b->d, MIG_REG_SCRATCH0, round);
		if (!ret)
			ret = _test_cmd_bar0_read(&p->b->d, MIG_REG_SCRATCH0,
						  &v32);
		return ret ? ret : v32 != round ? -EPROTO : 0;
	case PROBE_B_CONFIG:
		return _test_cmd_config_read(&p->b->d, PCI_VENDOR_ID, &v32, 4);
	case PROBE_B_DIGEST:
		return mig_digest(p->b->uuid, &v);
	default:
		return -EINVAL;
	}
}

static void *probe_run(void *arg)
{
	struct probe *p = arg;
	uint32_t round = 0;
	uint64_t t;
	int ret;

	while (!atomic_load(p->stop)) {
		t = mt_now_ms();
		ret = probe_one(p, ++round);
		lat_add(&p->lat, mt_now_ms() - t);
		if (ret && !p->err)
			p->err = ret;
		sleep_ms(20);
	}
	/* Stop the engine before the stalled writes land. */
	if (p->op == PROBE_RATE_WRITE)
		_test_cmd_engine_rate(p->a->uuid, 0);
	atomic_store(&p->done, true);
	return NULL;
}

static int uffd_open(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	int fd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, UFFDIO_API, &api)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

static int uffd_serve(int uffd, struct stall_call *c)
{
	static uint8_t src[PAGE] __attribute__((aligned(PAGE)));
	struct uffdio_copy copy = { 0 };

	if (c->served)
		return 0;
	c->early = atomic_load(&c->done);
	memset(src, c->fill, sizeof(src));
	copy.dst = (uintptr_t)c->page;
	copy.src = (uintptr_t)src;
	copy.len = PAGE;
	if (ioctl(uffd, UFFDIO_COPY, &copy) && errno != EEXIST)
		return -errno;
	c->served = true;
	return 0;
}

static bool all_faulted(struct stall_call *c, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (!c[i].faulted)
			return false;
	return true;
}

static bool all_done(struct stall_call *c, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++)
		if (!atomic_load(&c[i].done))
			return false;
	return true;
}

/*
 * Takes page faults off @uffd until @deadline (or until every call faulted,
 * or with @serve until every call returned); with @serve, serves each fault
 * as it comes.
 */
static void uffd_events(int uffd, struct stall_call *c, unsigned int n,
			uint8_t *base, uint64_t deadline, bool serve)
{
	struct uffd_msg msg;

	for (;;) {
		struct pollfd pfd = { .fd = uffd, .events = POLLIN };
		uint64_t now = mt_now_ms();

		if (now >= deadline || (serve ? all_done(c, n) :
					all_faulted(c, n)))
			return;
		poll(&pfd, 1, deadline - now < 50 ? (int)(deadline - now) : 50);
		while (read(uffd, &msg, sizeof(msg)) == sizeof(msg)) {
			uint64_t i;

			if (msg.event != UFFD_EVENT_PAGEFAULT)
				continue;
			i = (msg.arg.pagefault.address - (uintptr_t)base) /
			    PAGE;
			if (i >= n)
				continue;
			c[i].faulted = true;
			if (serve)
				uffd_serve(uffd, &c[i]);
		}
	}
}

FIXTURE(stall) {
	struct insts in;
	int uffd;
	uint8_t *pages;
};

FIXTURE_SETUP(stall)
{
	int ret;

	MT_SKIP_IF_NO_MODULE();
	self->uffd = -1;
	ret = insts_setup(&self->in, 5);
	ASSERT_OK(ret) TH_LOG("setup: %s", strerror(-ret));
}

FIXTURE_TEARDOWN(stall)
{
	if (self->uffd >= 0)
		close(self->uffd);
	insts_teardown(&self->in);
}

TEST_F_TIMEOUT(stall, user_copy_stalled_by_userfaultfd_blocks_no_one_else,
	       120)
{
	struct mt_inst *a = &self->in.a;
	uint64_t doff = a->d.data_offset;
	struct stall_call c[] = {
		STALL("config read", MT_CONFIG, PCI_VENDOR_ID, 4, false, 0xee),
		STALL("config write", MT_CONFIG, PCI_INTERRUPT_LINE, 4, true,
		      0x0b),
		STALL("BAR2 read", MT_BAR2, 0, PAGE, false, 0xee),
		STALL("BAR2 write", MT_BAR2, 2 * PAGE, PAGE, true, 0xa5),
		STALL("section read", MT_MIG, doff, PAGE, false, 0xee),
		STALL("section write", MT_MIG, doff + PAGE, PAGE, true, 0x5a),
	};
	const unsigned int n = ARRAY_SIZE(c);
	struct uffdio_register reg = { 0 };
	struct uffdio_range all;
	struct probe p[PROBE_NR];
	atomic_bool stop = false;
	uint8_t want[PAGE], got[PAGE];
	uint64_t t0, grace;
	unsigned int i;
	uint32_t id;

	self->uffd = uffd_open();
	if (self->uffd < 0)
		SKIP(return, "no userfaultfd: %s", strerror(-self->uffd));
	self->pages = mmap(NULL, n * PAGE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->pages);
	reg.range.start = (uintptr_t)self->pages;
	reg.range.len = n * PAGE;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING;
	if (ioctl(self->uffd, UFFDIO_REGISTER, &reg))
		SKIP(return, "UFFDIO_REGISTER: %s", strerror(errno));
	test_cmd_bar0_read(&a->d, MIG_REG_ID, &id);

	/* The stalled calls, then the other users. */
	t0 = mt_now_ms();
	for (i = 0; i < n; i++) {
		c[i].fd = a->d.fd;
		c[i].page = self->pages + i * PAGE;
		ASSERT_OK(pthread_create(&c[i].thread, NULL, stall_run,
					 &c[i]));
	}
	uffd_events(self->uffd, c, n, self->pages, t0 + 3000, false);
	memset(p, 0, sizeof(p));
	for (i = 0; i < PROBE_NR; i++) {
		p[i].op = i;
		p[i].a = a;
		p[i].b = &self->in.b;
		p[i].stop = &stop;
		ASSERT_OK(pthread_create(&p[i].thread, NULL, probe_run,
					 &p[i]));
	}
	uffd_events(self->uffd, c, n, self->pages, t0 + STALL_MS, false);
	sleep_ms(t0 + STALL_MS > mt_now_ms() ? t0 + STALL_MS - mt_now_ms() : 0);

	/* The stall is over: no other user may still be stuck behind it. */
	atomic_store(&stop, true);
	grace = mt_now_ms() + 3000;
	for (i = 0; i < PROBE_NR; i++) {
		while (!atomic_load(&p[i].done) && mt_now_ms() < grace)
			sleep_ms(20);
		p[i].blocked = !atomic_load(&p[i].done);
	}
	for (i = 0; i < n; i++) {
		c[i].stalled = c[i].faulted;
		if (c[i].faulted)
			uffd_serve(self->uffd, &c[i]);
	}
	uffd_events(self->uffd, c, n, self->pages, mt_now_ms() + 10000, true);
	if (!all_done(c, n)) {
		/* Serve what never faulted, wake everyone. */
		for (i = 0; i < n; i++)
			uffd_serve(self->uffd, &c[i]);
		all.start = (uintptr_t)self->pages;
		all.len = n * PAGE;
		ioctl(self->uffd, UFFDIO_WAKE, &all);
	}
	for (i = 0; i < n; i++)
		pthread_join(c[i].thread, NULL);
	for (i = 0; i < PROBE_NR; i++)
		pthread_join(p[i].thread, NULL);
	test_cmd_engine_rate(a->uuid, 0);

	for (i = 0; i < n; i++) {
		EXPECT_TRUE(c[i].stalled)
			TH_LOG("%s: never reached its user copy while the others stalled",
			       c[i].name);
		EXPECT_FALSE(c[i].early)
			TH_LOG("%s: returned before its fault was served",
			       c[i].name);
		EXPECT_EQ((ssize_t)c[i].len, c[i].ret)
			TH_LOG("%s: %zd", c[i].name, c[i].ret);
	}
	for (i = 0; i < PROBE_NR; i++) {
		EXPECT_FALSE(p[i].blocked)
			TH_LOG("%s: still blocked when the stall ended",
			       probe_names[i]);
		EXPECT_EQ(0, p[i].err) TH_LOG("%s: %s", probe_names[i],
					      strerror(-p[i].err));
		EXPECT_TIMELY(p[i].lat, probe_names[i]);
	}
	EXPECT_LT(p[PROBE_COUNT].first, p[PROBE_COUNT].last)
		TH_LOG("the engine did not run during the stall");

	/* What the stalled calls moved. */
	test_cmd_config_read(&a->d, PCI_VENDOR_ID, &id, 4);
	EXPECT_EQ(0, memcmp(&id, c[0].page, 4));
	test_cmd_config_read(&a->d, PCI_INTERRUPT_LINE, got, 1);
	EXPECT_EQ(0x0b, got[0]);
	memset(want, 0xa5, PAGE);
	test_cmd_mem_read(&a->d, 2 * PAGE, got, PAGE);
	EXPECT_EQ(0, memcmp(want, got, PAGE));
	EXPECT_EQ(0, memcmp(a->d.section, c[4].page, PAGE));
	memset(want, 0x5a, PAGE);
	EXPECT_EQ(0, memcmp(want, (uint8_t *)a->d.section + PAGE, PAGE));
	munmap(self->pages, n * PAGE);
	check_migrates(_metadata, a, &self->in.b);
}

/* ================================================================ */
/* Two threads on one fd                                             */
/* ================================================================ */

/**
 * struct hammer - one of the two threads
 * @d: the device
 * @stop: set when time is up
 * @seed: its xorshift state
 * @buf: a section-sized buffer
 * @ops: operations done
 * @refused: operations refused with -EINVAL (allowed for writes)
 * @odd: operations that failed otherwise
 * @odd_ret: the first of those
 * @odd_what: and what it was
 */
struct hammer {
	struct mig_dev *d;
	atomic_bool *stop;
	uint64_t seed;
	uint8_t *buf;
	uint64_t ops;
	uint64_t refused;
	uint64_t odd;
	int odd_ret;
	const char *odd_what;
};

static void hammer_note(struct hammer *h, const char *what, int ret,
			bool may_refuse)
{
	h->ops++;
	if (!ret)
		return;
	if (ret == -EINVAL && may_refuse) {
		h->refused++;
		return;
	}
	if (!h->odd++) {
		h->odd_ret = ret;
		h->odd_what = what;
	}
}

/* A window of the section: offset and length (at most 64 KiB). */
static void hammer_window(struct mig_dev *d, uint64_t r, uint64_t *off,
			  size_t *len)
{
	uint64_t max;

	*off = r % d->section_size;
	max = d->section_size - *off;
	if (max > 65536)
		max = 65536;
	*len = 1 + (r >> 24) % max;
}

static void hammer_step(struct hammer *h, uint64_t x)
{
	static const struct { uint32_t off, width; } fields[] = {
		{ MIG_HDR_DEVICE_STATE, 4 }, { MIG_HDR_RESERVED, 4 },
		{ MIG_HDR_PENDING_BYTES, 8 }, { MIG_HDR_DATA_OFFSET, 8 },
		{ MIG_HDR_DATA_SIZE, 8 },
	};
	struct mig_dev *d = h->d;
	uint64_t r = x >> 4, off, v;
	uint8_t *sec = d->section;
	uint32_t s;
	size_t len;

	switch (x % 16) {
	case 0: case 1: case 2: case 3:
		v = r % ARRAY_SIZE(fields);
		hammer_note(h, "header read",
			    _test_cmd_hdr_read(d, fields[v].off, h->buf,
					       fields[v].width), false);
		break;
	case 4: case 5:
		hammer_window(d, r, &off, &len);
		hammer_note(h, "section pread", _test_cmd_hdr_read(d,
			    d->data_offset + off, h->buf, len), false);
		break;
	case 6: case 7:
		hammer_window(d, r, &off, &len);
		memcpy(h->buf, sec + off, len);
		h->ops++;
		break;
	case 8: case 9: case 10:
		s = r & MIG_STATE_BITS;
		if (!(r & 0x700))
			s |= 1U << (3 + (r >> 11) % 29);
		hammer_note(h, "device_state write",
			    _test_cmd_hdr_write(d, MIG_HDR_DEVICE_STATE, &s, 4),
			    true);
		break;
	case 11:
		hammer_note(h, "reset", mig_device_reset(d), false);
		break;
	case 12: case 13: {
		const uint64_t sizes[] = { 0, 1 + r % d->section_size,
					   d->section_size,
					   d->section_size + 1, UINT64_MAX };

		v = sizes[(r >> 32) % ARRAY_SIZE(sizes)];
		hammer_note(h, "data_size write",
			    _test_cmd_hdr_write(d, MIG_HDR_DATA_SIZE, &v, 8),
			    true);
		break;
	}
	case 14:
		hammer_window(d, r, &off, &len);
		memset(h->buf, (int)r, len);
		hammer_note(h, "section pwrite", _test_cmd_hdr_write(d,
			    d->data_offset + off, h->buf, len), false);
		break;
	default:
		hammer_window(d, r, &off, &len);
		memset(sec + off, (int)(r >> 8), len);
		h->ops++;
		break;
	}
}

static void *hammer_run(void *arg)
{
	struct hammer *h = arg;

	while (!atomic_load(h->stop))
		hammer_step(h, mt_xorshift(&h->seed));
	return NULL;
}

FIXTURE(hammer) {
	struct insts in;
	uint8_t *buf[2];
};

FIXTURE_SETUP(hammer)
{
	int ret;

	MT_SKIP_IF_NO_MODULE();
	ret = insts_setup(&self->in, 6);
	ASSERT_OK(ret) TH_LOG("setup: %s", strerror(-ret));
	self->buf[0] = malloc(65536);
	self->buf[1] = malloc(65536);
	ASSERT_NE(NULL, self->buf[0]);
	ASSERT_NE(NULL, self->buf[1]);
}

FIXTURE_TEARDOWN(hammer)
{
	free(self->buf[0]);
	free(self->buf[1]);
	insts_teardown(&self->in);
}

TEST_F_TIMEOUT(hammer, two_threads_on_one_fd_then_reset_migrates, 120)
{
	struct mt_inst *a = &self->in.a;
	atomic_bool stop = false;
	struct hammer h[2];
	pthread_t t[2];
	unsigned int i;

	for (i = 0; i < 2; i++) {
		memset(&h[i], 0, sizeof(h[i]));
		h[i].d = &a->d;
		h[i].stop = &stop;
		h[i].seed = 0x9e3779b97f4a7c15ULL * (i + 1);
		h[i].buf = self->buf[i];
		ASSERT_OK(pthread_create(&t[i], NULL, hammer_run, &h[i]));
	}
	sleep_ms(HAMMER_MS);
	atomic_store(&stop, true);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i < 2; i++) {
		TH_LOG("thread %u: %" PRIu64 " operations, %" PRIu64
		       " refused", i, h[i].ops, h[i].refused);
		EXPECT_LT(100, h[i].ops);
		EXPECT_EQ(0, h[i].odd)
			TH_LOG("thread %u: %s: %s (%" PRIu64 " such)", i,
			       h[i].odd_what, strerror(-h[i].odd_ret),
			       h[i].odd);
	}

	/* From a clean state the device migrates. */
	test_cmd_device_reset(&a->d);
	EXPECT_EQ(MIG_STATE_RUNNING, mt_state(&a->d));
	test_cmd_fill(a, 7);
	check_migrates(_metadata, a, &self->in.b);
}

TEST_HARNESS_MAIN

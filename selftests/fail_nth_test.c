// SPDX-License-Identifier: GPL-2.0
/*
 * Fault-injection sweep of mig-mdev's error paths, after the model of
 * tools/testing/selftests/iommu/iommufd_fail_nth.c.
 *
 * Short sequences of steps that succeed, each defined with FN_SEQUENCE()
 * and swept by a test of its own (fail_nth.<sequence>), so that a failure
 * names its sequence and no step is swept twice:
 *  - create_open: create an instance through sysfs, open it, close it,
 *    remove it;
 *  - regions_irqs: GET_REGION_INFO of every region, mmap the data section,
 *    SET_IRQS with an eventfd, ring the doorbell, IRQ off;
 *  - save: STOP -> SAVING -> the data loop -> STOP on a filled instance;
 *  - resume: RESUMING, write the saved stream, RUNNING, compare digests;
 *  - v2_save: protocol v2, pre-copy where offered, STOP_COPY, the data_fd
 *    read to its end, STOP;
 *  - v2_resume: protocol v2, RESUMING, the saved stream written to the
 *    data_fd, RUNNING, compare digests;
 *  - dma: on an instance whose type1 container maps a buffer, bus
 *    mastering on, program the DMA ring, enable, wait for records, then
 *    (where the v2 DMA log is offered) DMA_LOGGING_START on the ring,
 *    records, REPORT, STOP; disable;
 *  - zerocopy_save: on a filled instance created with the module parameter
 *    zerocopy on, GET_REGION_INFO (two sparse-mmap areas), mmap of the
 *    window, STOP -> SAVING -> the data loop, every page in place through
 *    the window -> STOP.
 * Each is set up with nothing armed (a created, opened, filled instance;
 * a stream saved once per test; the DMA buffer mapped), then its steps
 * run again and again with /proc/thread-self/fail-nth armed at 1, 2,
 * 3, ...: the Nth fault-injection point the kernel reaches in this thread
 * (failslab, fail_page_alloc) fails.  When the file reads back "0" the
 * failure was injected and the next N follows; otherwise the steps ran
 * below N points, and every point has been swept.
 *
 * After each injected failure:
 *  - the step that failed (if any) got a clean errno: ENOMEM, or the one
 *    other outcome the kernel core is known to cause (fn_explained());
 *  - every device still open recovers with VFIO_DEVICE_RESET and reads
 *    RUNNING;
 *  - everything is closed and removed: no instance is left in sysfs and the
 *    memory budget (available_instances) is back where it was;
 *  - a clean run of the sequence, set-up included, works (every
 *    MIG_FAIL_NTH_CLEAN iterations, default every one).
 * The kernel log (KASAN, lockdep, kmemleak, WARN) is checked by the VM
 * machinery after the run.
 *
 * Without CONFIG_FAULT_INJECTION (Debian's 6.1) the sweeps SKIP; fail_nth.clean
 * (every sequence once, timed) runs everywhere.
 *
 * Environment: MIG_FAIL_NTH_MAX (iteration cap, default 20000),
 * MIG_FAIL_NTH_CLEAN (clean run every N failures, 0 never, default 1),
 * MIG_FAIL_NTH_START (first N, default 1), MIG_FAIL_NTH_LAST (stop after
 * this N), MIG_FAIL_NTH_VERBOSE=1 (one line per iteration); each applies to
 * every sequence swept.  MIG_FAIL_NTH_SEQ=<sequence> sweeps that one only
 * (the other sweeps SKIP).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>

#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"
#pragma GCC diagnostic pop
#include "mig_utils.h"
#include "dma_utils.h"

#define FN_PROC		"/proc/thread-self/fail-nth"
#define FN_DEBUGFS	"/sys/kernel/debug"
#define FN_TYPE		"small"
#define FN_MAX_STEPS	32

/*
 * The dma sequence's "guest memory": FN_DMA_PAGES pages at FN_DMA_IOVA,
 * the ring being the first FN_RING_PAGES of them.  At FN_DMA_RATE records
 * a second a page of the ring fills in about 8 ms.
 */
#define FN_PG		4096ULL
#define FN_DMA_IOVA	0x40000000ULL
#define FN_DMA_PAGES	8
#define FN_RING_PAGES	4
#define FN_DMA_RATE	8000

/* ---------------------------------------------------------------- */
/* Fault injection set-up                                            */
/* ---------------------------------------------------------------- */

static int fn_writeat(int dfd, const char *name, const char *val)
{
	ssize_t n;
	int fd;

	fd = openat(dfd, name, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	close(fd);
	return n == (ssize_t)strlen(val) ? 0 : -EIO;
}

/*
 * Let every allocation be failed (by default failslab and fail_page_alloc
 * skip the ones that may sleep) and keep the log quiet: we look for
 * splats, not for the injection reports.  Not undone afterwards: with
 * probability 0 these settings only matter to fail-nth users.
 * Returns NULL or why fault injection cannot be used.
 */
static const char *fn_setup_injection(void)
{
	struct dirent *de;
	DIR *dir;

	if (access(FN_PROC, R_OK | W_OK))
		return "no " FN_PROC ": kernel without CONFIG_FAULT_INJECTION";
	dir = opendir(FN_DEBUGFS);
	if (!dir)
		return "debugfs is not mounted at " FN_DEBUGFS;
	if (fn_writeat(dirfd(dir), "failslab/ignore-gfp-wait", "N")) {
		closedir(dir);
		return "no failslab in debugfs: kernel without CONFIG_FAILSLAB or CONFIG_FAULT_INJECTION_DEBUG_FS";
	}
	fn_writeat(dirfd(dir), "fail_page_alloc/ignore-gfp-wait", "N");
	fn_writeat(dirfd(dir), "fail_page_alloc/ignore-gfp-highmem", "N");
	while ((de = readdir(dir))) {
		char name[300];

		if (strncmp(de->d_name, "fail", 4))
			continue;
		snprintf(name, sizeof(name), "%s/verbose", de->d_name);
		fn_writeat(dirfd(dir), name, "0");
	}
	closedir(dir);
	return NULL;
}

/* ---------------------------------------------------------------- */
/* fail-nth                                                          */
/* ---------------------------------------------------------------- */

static int fn_nth_open(void)
{
	return open(FN_PROC, O_RDWR | O_CLOEXEC);
}

static int fn_nth_arm(int fd, unsigned int n)
{
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%u", n);

	return pwrite(fd, buf, len, 0) == len ? 0 : -errno;
}

/*
 * Disarm; true if the armed failure was injected.  The file counts down
 * and reads "0" once the Nth point failed.  Reading or disarming may hit
 * the point itself: then the sequence had fewer than N points.
 */
static bool fn_nth_disarm(int fd)
{
	char buf[32] = "";
	ssize_t n;
	bool hit;

	n = pread(fd, buf, sizeof(buf) - 1, 0);
	hit = n == 2 && buf[0] == '0' && buf[1] == '\n';
	if (pwrite(fd, "0", 1, 0) != 1) {
		hit = false;
		if (pwrite(fd, "0", 1, 0) != 1)
			abort();	/* still armed: nothing sane can follow */
	}
	return hit;
}

/* ---------------------------------------------------------------- */
/* The sequence                                                      */
/* ---------------------------------------------------------------- */

/**
 * struct fn_seq - one run of a sequence and everything it holds
 * @src: the source instance
 * @dst: the destination instance
 * @efd: the eventfd of the source's INTx, or -1
 * @mem_size: device memory of a small instance, bytes
 * @fill: what goes into the source's memory (pre-faulted)
 * @stream: the saved stream (pre-allocated, pre-faulted)
 * @stream_cap: its capacity
 * @stream_len: bytes in it
 * @saved: @stream holds a whole stream of @fill (kept across runs)
 * @digest: the source's digest after the fill
 * @dma_buf: the dma sequence's guest memory (pre-faulted)
 * @dma_log: the instance offers the v2 DMA log (found by the set-up)
 * @step: the step that failed, or NULL
 * @err: its negative errno
 */
struct fn_seq {
	struct mt_inst src, dst;
	int efd;
	uint64_t mem_size;
	uint8_t *fill;
	uint8_t *stream;
	size_t stream_cap;
	size_t stream_len;
	bool saved;
	uint64_t digest;
	uint8_t *dma_buf;
	bool dma_log;
	const char *step;
	int err;
};

/**
 * struct fn_sequence - a sequence the sweep runs with fail-nth armed
 * @name: its name, also the name of the test that sweeps it
 * @setup: brings @s to where the sequence starts, with nothing armed;
 *	   NULL when it starts from nothing
 * @body: the steps swept, each through FN_STEP()
 */
struct fn_sequence {
	const char *name;
	int (*setup)(struct fn_seq *s);
	int (*body)(struct fn_seq *s);
};

/* Every FN_SEQUENCE(), in the order of the file (the "clean" test). */
static const struct fn_sequence *fn_sequences[FN_MAX_STEPS];
static unsigned int fn_nsequences;

static void fn_register(const struct fn_sequence *q)
{
	if (fn_nsequences < FN_MAX_STEPS)
		fn_sequences[fn_nsequences++] = q;
}

/* With fn_timing set, the steps note when each ended. */
static bool fn_timing;
static double fn_step_end[FN_MAX_STEPS];
static const char *fn_step_name[FN_MAX_STEPS];
static unsigned int fn_nsteps;

static double fn_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void fn_note(const char *name)
{
	if (fn_timing && fn_nsteps < FN_MAX_STEPS) {
		fn_step_name[fn_nsteps] = name;
		fn_step_end[fn_nsteps++] = fn_now();
	}
}

#define FN_STEP(s, name, expr) do {					\
	int _r = (expr);						\
									\
	fn_note(name);							\
	if (_r) {							\
		(s)->step = (name);					\
		(s)->err = _r;						\
		return _r;						\
	}								\
} while (0)

static int fn_sink(void *opaque, const void *buf, size_t len)
{
	struct fn_seq *s = opaque;

	if (len > s->stream_cap - s->stream_len)
		return -EMSGSIZE;	/* never: sized for a whole stream */
	memcpy(s->stream + s->stream_len, buf, len);
	s->stream_len += len;
	return 0;
}

static int fn_create(struct mt_inst *in)
{
	return mt_inst_create(in, FN_TYPE);
}

static int fn_open(struct mt_inst *in)
{
	return mig_dev_open(&in->d, in->uuid);
}

/* GET_REGION_INFO of every region; the migration region has its caps. */
static int fn_region_infos(struct mig_dev *d)
{
	uint32_t i;

	if (d->mig_index < 0)
		return -ENODEV;
	for (i = 0; i < d->num_regions; i++) {
		struct vfio_region_info *ri;
		int ret = mig_get_region_info(d, (int)i, &ri);

		if (ret)
			return ret;
		if ((int)i == d->mig_index &&
		    (!(ri->flags & VFIO_REGION_INFO_FLAG_CAPS) ||
		     !ri->cap_offset))
			ret = -EPROTO;
		free(ri);
		if (ret)
			return ret;
	}
	return 0;
}

static int fn_eventfd(struct fn_seq *s)
{
	s->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	return s->efd < 0 ? -errno : 0;
}

/* INTx trigger: @fd an eventfd, or -1 to tear it down. */
static int fn_set_irq(struct mig_dev *d, int32_t fd)
{
	struct {
		struct vfio_irq_set set;
		int32_t fd;
	} irq = {
		.set = {
			.argsz = sizeof(irq),
			.flags = VFIO_IRQ_SET_DATA_EVENTFD |
				 VFIO_IRQ_SET_ACTION_TRIGGER,
			.index = VFIO_PCI_INTX_IRQ_INDEX,
			.start = 0,
			.count = 1,
		},
		.fd = fd,
	};

	return ioctl(d->fd, VFIO_DEVICE_SET_IRQS, &irq) ? -errno : 0;
}

/* IRQ_EN, ring the doorbell, the eventfd counts one. */
static int fn_doorbell(struct fn_seq *s)
{
	uint64_t count = 0;
	int ret;

	ret = _test_cmd_bar0_write(&s->src.d, MIG_REG_CONTROL, MIG_CTRL_IRQ_EN);
	if (!ret)
		ret = _test_cmd_bar0_write(&s->src.d, MIG_REG_DOORBELL, 1);
	if (ret)
		return ret;
	if (read(s->efd, &count, sizeof(count)) != sizeof(count))
		return -errno;
	return count ? 0 : -EPROTO;
}

static int fn_save_data(struct fn_seq *s)
{
	s->stream_len = 0;
	return mig_save_loop(&s->src.d, MIG_PATH_MMAP, 0, fn_sink, s, NULL);
}

static int fn_write_stream(struct fn_seq *s)
{
	return mig_resume_write(&s->dst.d, MIG_PATH_PREAD, s->stream,
				s->stream_len, 0);
}

static int fn_same_digest(struct fn_seq *s)
{
	uint64_t v;
	int ret = mig_digest(s->dst.uuid, &v);

	if (ret)
		return ret;
	return v == s->digest ? 0 : -EBADMSG;
}

static int fn_remove(struct mt_inst *in)
{
	int ret = mig_instance_remove(in->uuid);

	if (!ret)
		in->created = false;
	return ret;
}

/* ---------------------------------------------------------------- */
/* Set-ups: run with nothing armed, so each must succeed              */
/* ---------------------------------------------------------------- */

static int fn_setup_source(struct fn_seq *s)
{
	int ret = fn_create(&s->src);

	return ret ?: fn_open(&s->src);
}

/* The pattern in the open source's memory, and its digest. */
static int fn_fill_source(struct fn_seq *s)
{
	int ret = mig_region_pwrite(&s->src.d, MT_BAR2, s->fill, s->mem_size,
				    0);

	return ret ?: mig_digest(s->src.uuid, &s->digest);
}

/* A source with the pattern in its memory, and its digest. */
static int fn_setup_filled_source(struct fn_seq *s)
{
	return fn_setup_source(s) ?: fn_fill_source(s);
}

/*
 * An open destination, and the stream of a filled source: saved once per
 * test (the source is gone again), kept in @s across runs.
 */
static int fn_setup_destination(struct fn_seq *s)
{
	int ret;

	if (!s->saved) {
		ret = fn_setup_filled_source(s);
		if (!ret)
			ret = mig_set_state(&s->src.d, MIG_STATE_STOP);
		if (!ret)
			ret = mig_set_state(&s->src.d, MIG_STATE_SAVING);
		if (!ret)
			ret = fn_save_data(s);
		if (!ret)
			ret = mig_set_state(&s->src.d, MIG_STATE_STOP);
		mig_dev_close(&s->src.d);
		if (!ret)
			ret = fn_remove(&s->src);
		if (ret)
			return ret;
		s->saved = true;
	}
	ret = fn_create(&s->dst);
	return ret ?: fn_open(&s->dst);
}

/* Forget the last run; keep the buffers and the saved stream. */
static void fn_seq_init(struct fn_seq *s)
{
	mt_inst_init(&s->src);
	mt_inst_init(&s->dst);
	s->src.type = FN_TYPE;
	s->dst.type = FN_TYPE;
	s->efd = -1;
	s->dma_log = false;
	s->step = NULL;
	s->err = 0;
}

static bool fn_exists(const char *uuid)
{
	char path[PATH_MAX];

	if (!*uuid)
		return false;
	snprintf(path, sizeof(path), "%s/%s", MIG_SYSFS_DEVICES, uuid);
	return access(path, F_OK) == 0;
}

/*
 * Close and remove whatever the sequence left.  Returns 0, or -EEXIST if
 * an instance could not be removed.
 */
static int fn_cleanup(struct fn_seq *s)
{
	struct mt_inst *in[] = { &s->src, &s->dst };
	int ret = 0;
	unsigned int i;

	if (s->efd >= 0)
		close(s->efd);
	s->efd = -1;
	for (i = 0; i < ARRAY_SIZE(in); i++) {
		mig_dev_close(&in[i]->d);
		/* Created, or a create that "failed" but left it behind. */
		if (fn_exists(in[i]->uuid))
			mig_instance_remove(in[i]->uuid);
		in[i]->created = false;
		if (fn_exists(in[i]->uuid))
			ret = -EEXIST;
	}
	return ret;
}

/*
 * A failure that is not ENOMEM but is explained by a failure the kernel
 * core absorbed earlier in the same run, or NULL.  One is known, and it is
 * driver-core behaviour rather than a bug (patches/README.md): device_add()
 * ignores devtmpfs_create_node() failing, since /dev belongs to udev, which
 * would make the node from the uevent; the allocation in
 * device_get_devnode() runs in the creating task, so fail-nth reaches it.
 * Then a create succeeds with the group's /dev/vfio/N missing (the guest
 * has no udev), and the open that follows gets ENOENT.  Accepted only when
 * the node is exactly what is missing; anything else counts as bad.
 */
static const char *fn_explained(const struct fn_seq *s)
{
	const struct mt_inst *in;
	char link[PATH_MAX], target[256], node[300];
	const char *grp;
	ssize_t n;

	/* Only create_open opens with fail-nth armed (the set-ups do not). */
	if (s->err != -ENOENT || !s->step || strcmp(s->step, "open"))
		return NULL;
	in = &s->src;
	snprintf(link, sizeof(link), "%s/%s/iommu_group", MIG_SYSFS_DEVICES,
		 in->uuid);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return NULL;
	target[n] = '\0';
	grp = strrchr(target, '/');
	snprintf(node, sizeof(node), "/dev/vfio/%s", grp ? grp + 1 : target);
	if (access(node, F_OK) == 0 || errno != ENOENT)
		return NULL;
	return "the group's /dev node is missing (devtmpfs failure absorbed by the driver core)";
}

/* ---------------------------------------------------------------- */
/* The tests                                                         */
/* ---------------------------------------------------------------- */

static unsigned long fn_env(const char *name, unsigned long def)
{
	const char *v = getenv(name);

	return v && *v ? strtoul(v, NULL, 0) : def;
}

/* Failure points seen per failing step and errno. */
struct fn_tally {
	const char *step;
	int err;
	unsigned int count;
	unsigned int first;
};

static void fn_tally(struct fn_tally *t, unsigned int *nt, const char *step,
		     int err, unsigned int nth)
{
	unsigned int i;

	for (i = 0; i < *nt; i++)
		if (t[i].err == err && !strcmp(t[i].step, step))
			break;
	if (i == *nt) {
		if (*nt == FN_MAX_STEPS)
			return;
		t[i] = (struct fn_tally){ step, err, 0, nth };
		(*nt)++;
	}
	t[i].count++;
}

FIXTURE(fail_nth) {
	struct fn_seq s;
	unsigned long avail;
};

FIXTURE_SETUP(fail_nth)
{
	char buf[32];
	unsigned long mb;

	MT_SKIP_IF_NO_MODULE();
	fn_seq_init(&self->s);
	self->s.stream_len = 0;
	self->s.saved = false;
	ASSERT_OK(mig_param_read(FN_TYPE "_mem_mb", buf, sizeof(buf)));
	mb = strtoul(buf, NULL, 10);
	ASSERT_NE(0, mb);
	self->s.mem_size = (uint64_t)mb << 20;
	/* A page record head every 64 pages, the header and the tail. */
	self->s.stream_cap = self->s.mem_size + self->s.mem_size / 64 +
			     (1 << 20);
	self->s.fill = malloc(self->s.mem_size);
	self->s.stream = malloc(self->s.stream_cap);
	self->s.dma_buf = mt_dma_buf_new(FN_DMA_PAGES * FN_PG);
	ASSERT_NE(NULL, self->s.fill);
	ASSERT_NE(NULL, self->s.stream);
	ASSERT_NE(NULL, self->s.dma_buf);
	/* Pre-fault: a failed user page fault would be an EFAULT. */
	mt_pattern(0x5eed, 0, self->s.fill, self->s.mem_size);
	memset(self->s.stream, 0, self->s.stream_cap);
	ASSERT_OK(mig_type_available(FN_TYPE, &self->avail));
	ASSERT_LE(1, self->avail) TH_LOG("a free " FN_TYPE " instance needed");
}

FIXTURE_TEARDOWN(fail_nth)
{
	fn_cleanup(&self->s);
	free(self->s.fill);
	free(self->s.stream);
	if (self->s.dma_buf)
		munmap(self->s.dma_buf, FN_DMA_PAGES * FN_PG);
}

/* Recovery after a failure: reset whatever is open, it reads RUNNING. */
static void fn_recover(struct __test_metadata *_metadata,
		       const struct fn_sequence *q, struct fn_seq *s,
		       unsigned int nth)
{
	struct mt_inst *in[] = { &s->src, &s->dst };
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(in); i++) {
		if (in[i]->d.fd < 0 || in[i]->d.mig_index < 0)
			continue;
		test_cmd_device_reset(&in[i]->d)
			TH_LOG("%s nth %u (%s): reset of the %s failed",
			       q->name, nth, s->step ?: "-",
			       i ? "destination" : "source");
		ASSERT_EQ(MIG_STATE_RUNNING, mt_state(&in[i]->d))
			TH_LOG("%s nth %u (%s): the %s does not read RUNNING after a reset",
			       q->name, nth, s->step ?: "-",
			       i ? "destination" : "source");
	}
	ASSERT_OK(fn_cleanup(s))
		TH_LOG("%s nth %u (%s): an instance cannot be removed",
		       q->name, nth, s->step ?: "-");
}

/* One run of @q without fault injection: set-up, body, clean-up. */
static int fn_run(const struct fn_sequence *q, struct fn_seq *s)
{
	int ret = 0;

	fn_seq_init(s);
	if (q->setup)
		ret = q->setup(s);
	if (ret) {
		s->step = "set-up";
		s->err = ret;
	} else {
		ret = q->body(s);
	}
	return ret ?: fn_cleanup(s);
}

/*
 * Every failure point of @q's body, one at a time: set it up with nothing
 * armed, arm fail-nth at N, run the body, disarm, check what it left
 * (fn_recover(), the memory budget), then a clean run of the whole
 * sequence (every MIG_FAIL_NTH_CLEAN failures); N + 1, until the body
 * runs below N points.
 */
static void fn_sweep(struct __test_metadata *_metadata,
		     FIXTURE_DATA(fail_nth) *self,
		     const struct fn_sequence *q)
{
	unsigned long max = fn_env("MIG_FAIL_NTH_MAX", 20000);
	unsigned long clean = fn_env("MIG_FAIL_NTH_CLEAN", 1);
	unsigned long verbose = fn_env("MIG_FAIL_NTH_VERBOSE", 0);
	unsigned int nth = fn_env("MIG_FAIL_NTH_START", 1);
	unsigned long last = fn_env("MIG_FAIL_NTH_LAST", 0);
	unsigned int injected = 0, absorbed = 0, bad = 0, core = 0, nt = 0;
	unsigned int i;
	struct fn_tally tally[FN_MAX_STEPS];
	struct fn_seq *s = &self->s;
	const char *why, *failed_step, *only;
	unsigned long avail;
	double t0;
	int fd, ret;

	only = getenv("MIG_FAIL_NTH_SEQ");
	if (only && *only && strcmp(only, q->name))
		SKIP(return, "MIG_FAIL_NTH_SEQ=%s", only);
	why = fn_setup_injection();
	if (why)
		SKIP(return, "%s", why);
	fd = fn_nth_open();
	ASSERT_LE(0, fd) TH_LOG("%s: %s", FN_PROC, strerror(errno));

	/* Iteration 0: a clean run, which also faults in everything. */
	ASSERT_OK(fn_run(q, s))
		TH_LOG("%s: clean run: step %s failed: %s", q->name, s->step,
		       strerror(-s->err));
	t0 = fn_now();

	for (;; nth++) {
		bool hit;

		ASSERT_GT(max, nth)
			TH_LOG("%s: more than %lu failure points: raise MIG_FAIL_NTH_MAX",
			       q->name, max);
		fn_seq_init(s);
		if (q->setup)
			ASSERT_OK(q->setup(s))
				TH_LOG("%s nth %u: the set-up failed with nothing armed",
				       q->name, nth);
		ASSERT_OK(fn_nth_arm(fd, nth));
		ret = q->body(s);
		hit = fn_nth_disarm(fd);
		if (verbose)
			ksft_print_msg("%s nth %u: %s, %s %s\n", q->name, nth,
				       hit ? "injected" : "not reached",
				       s->step ?: "no step failed",
				       ret ? strerror(-ret) : "");
		if (!hit) {
			/* Fewer than nth points: the run was a clean one. */
			ASSERT_OK(ret)
				TH_LOG("%s nth %u not reached, yet step %s failed: %s",
				       q->name, nth, s->step, strerror(-ret));
			ASSERT_OK(fn_cleanup(s));
			break;
		}
		injected++;
		if (!ret) {
			absorbed++;
		} else {
			fn_tally(tally, &nt, s->step, ret, nth);
			why = ret == -ENOMEM ? NULL : fn_explained(s);
			if (why) {
				core++;
				ksft_print_msg("%s nth %u: step %s failed with %s: %s\n",
					       q->name, nth, s->step,
					       strerror(-ret), why);
			} else if (ret != -ENOMEM) {
				bad++;
				ksft_print_msg("%s nth %u: step %s failed with %s (%d), not ENOMEM\n",
					       q->name, nth, s->step,
					       strerror(-ret), ret);
			}
		}
		failed_step = s->step ?: "no step";
		fn_recover(_metadata, q, s, nth);
		ASSERT_OK(mig_type_available(FN_TYPE, &avail));
		ASSERT_EQ(self->avail, avail)
			TH_LOG("%s nth %u (%s): the memory budget leaked",
			       q->name, nth, s->step ?: "-");
		if (clean && !(injected % clean))
			ASSERT_OK(fn_run(q, s))
				TH_LOG("%s nth %u (%s): the clean run after it failed at %s: %s",
				       q->name, nth, failed_step, s->step,
				       strerror(-s->err));
		if (last && nth >= last)
			break;	/* replaying a few points */
		if (!(nth % 100))
			ksft_print_msg("%s: %u points in %.0fs\n", q->name,
				       nth, fn_now() - t0);
	}
	close(fd);

	ksft_print_msg("%s: swept %u failure points in %.0fs: %u failed a step (%u explained by the kernel core), %u absorbed\n",
		       q->name, injected, fn_now() - t0, injected - absorbed,
		       core, absorbed);
	for (i = 0; i < nt; i++)
		ksft_print_msg("%s:   %-20s %-24s x%u (first at nth %u)\n",
			       q->name, tally[i].step,
			       strerror(-tally[i].err), tally[i].count,
			       tally[i].first);
	ASSERT_NE(0, injected)
		TH_LOG("%s: no failure was injected at all", q->name);
	EXPECT_EQ(0, bad)
		TH_LOG("%s: %u failures gave another errno than ENOMEM",
		       q->name, bad);
}

/* Every sequence without fault injection (runs on 6.1 too), timed. */
TEST_F_TIMEOUT(fail_nth, clean, 600)
{
	unsigned long avail;
	unsigned int i, j;
	double t0;

	ASSERT_NE(0, fn_nsequences);
	for (i = 0; i < fn_nsequences; i++) {
		const struct fn_sequence *q = fn_sequences[i];

		fn_seq_init(&self->s);
		if (q->setup)
			ASSERT_OK(q->setup(&self->s))
				TH_LOG("%s: set-up failed", q->name);
		fn_timing = true;
		fn_nsteps = 0;
		t0 = fn_now();
		ASSERT_OK(q->body(&self->s))
			TH_LOG("%s: step %s failed: %s", q->name,
			       self->s.step, strerror(-self->s.err));
		fn_timing = false;
		ASSERT_OK(fn_cleanup(&self->s));
		ASSERT_OK(mig_type_available(FN_TYPE, &avail));
		ASSERT_EQ(self->avail, avail)
			TH_LOG("%s: the memory budget leaked", q->name);
		ksft_print_msg("%s: %.3fs (steps and clean-up)\n", q->name,
			       fn_now() - t0);
		for (j = 0; j < fn_nsteps; j++)
			ksft_print_msg("%s:   %-20s %.3fs\n", q->name,
				       fn_step_name[j],
				       fn_step_end[j] -
				       (j ? fn_step_end[j - 1] : t0));
	}
}

/*
 * FN_SEQUENCE(seq, setup) { steps } defines a sequence and the test
 * fail_nth.seq that sweeps it (fn_sweep()): @setup (a function, or NULL)
 * runs first with nothing armed, then the steps with fail-nth armed.
 * Each step is an FN_STEP(s, "what", call) returning 0 or -errno; the
 * body returns 0 at its end.  Keep sequences short: each failure point
 * costs a set-up, the body up to that point, a recovery and a clean run,
 * so a step belongs to one sequence only and set-ups do the rest.
 */
#define FN_SEQUENCE(seq, setup_fn)					\
	static int fn_body_##seq(struct fn_seq *s);			\
	static const struct fn_sequence fn_seq_##seq = {		\
		.name = #seq,						\
		.setup = setup_fn,					\
		.body = fn_body_##seq,					\
	};								\
	static void __attribute__((constructor)) fn_register_##seq(void) \
	{								\
		fn_register(&fn_seq_##seq);				\
	}								\
	TEST_F_TIMEOUT(fail_nth, seq, 3600)				\
	{								\
		fn_sweep(_metadata, self, &fn_seq_##seq);		\
	}								\
	static int fn_body_##seq(struct fn_seq *s)

/*
 * The one-shot module parameter test_core_dev_set, set before each run:
 * the instance's vfio device set is left to the core's registration, so
 * that the sweep reaches the core's allocation of it.  A kernel without
 * patches/6.12/0002-* registers the device with no set when that
 * allocation fails, and the open dereferences NULL (a KASAN report, which
 * fails the run); with the fix the create fails with ENOMEM.  The module's
 * own allocation of the set, which every other instance takes, is one
 * point whose failure leaves mig_probe() by the same label as a failed
 * registration, which this sweep reaches.
 */
static int fn_setup_core_dev_set(struct fn_seq *s __attribute__((unused)))
{
	return mig_param_write("test_core_dev_set", "1");
}

/* An instance's life: create it, open it, close it, remove it. */
FN_SEQUENCE(create_open, fn_setup_core_dev_set)
{
	FN_STEP(s, "create", fn_create(&s->src));
	FN_STEP(s, "open", fn_open(&s->src));
	mig_dev_close(&s->src.d);
	FN_STEP(s, "remove", fn_remove(&s->src));
	return 0;
}

/* Regions and the interrupt path of an open instance. */
FN_SEQUENCE(regions_irqs, fn_setup_source)
{
	FN_STEP(s, "region info", fn_region_infos(&s->src.d));
	FN_STEP(s, "mmap section", mig_dev_map(&s->src.d));
	FN_STEP(s, "eventfd", fn_eventfd(s));
	FN_STEP(s, "set irqs", fn_set_irq(&s->src.d, s->efd));
	FN_STEP(s, "doorbell", fn_doorbell(s));
	FN_STEP(s, "irq off", fn_set_irq(&s->src.d, -1));
	return 0;
}

/* v1 save of a filled instance, through the mmap'ed data section. */
FN_SEQUENCE(save, fn_setup_filled_source)
{
	FN_STEP(s, "stop", mig_set_state(&s->src.d, MIG_STATE_STOP));
	FN_STEP(s, "saving", mig_set_state(&s->src.d, MIG_STATE_SAVING));
	FN_STEP(s, "save data", fn_save_data(s));
	FN_STEP(s, "stop after save", mig_set_state(&s->src.d,
						    MIG_STATE_STOP));
	return 0;
}

/* v1 resume of a saved stream (pread/pwrite path), then its digest. */
FN_SEQUENCE(resume, fn_setup_destination)
{
	FN_STEP(s, "resuming", mig_set_state(&s->dst.d, MIG_STATE_RESUMING));
	FN_STEP(s, "write stream", fn_write_stream(s));
	FN_STEP(s, "running", mig_set_state(&s->dst.d, MIG_STATE_RUNNING));
	FN_STEP(s, "compare digests", fn_same_digest(s));
	return 0;
}

/* Protocol v2: a live save through the data_fd, pre-copy where offered. */
/* The v2 saves only read: the stream in @s is the resume sequences'. */
static int fn_discard(void *opaque __attribute__((unused)),
		      const void *buf __attribute__((unused)),
		      size_t len __attribute__((unused)))
{
	return 0;
}

static int fn_v2_save_data(struct fn_seq *s)
{
	uint64_t bytes;

	return libmig_save_pass(&s->src.d, MIG_PATH_MMAP, 0, fn_discard, NULL,
				&bytes);
}

static int fn_v2_precopy(struct fn_seq *s)
{
	if (!libmig_has_precopy(&s->src.d))
		return libmig_stop(&s->src.d);
	return libmig_precopy_begin(&s->src.d) ?: fn_v2_save_data(s);
}

FN_SEQUENCE(v2_save, fn_setup_filled_source)
{
	FN_STEP(s, "use v2", libmig_use(&s->src.d, LIBMIG_PROTO_V2));
	FN_STEP(s, "pre-copy", fn_v2_precopy(s));
	FN_STEP(s, "stop-copy", libmig_stopcopy_begin(&s->src.d));
	FN_STEP(s, "save data", fn_v2_save_data(s));
	FN_STEP(s, "save end", libmig_save_end(&s->src.d));
	return 0;
}

/* Protocol v2: resume the saved stream through the data_fd and run. */
FN_SEQUENCE(v2_resume, fn_setup_destination)
{
	FN_STEP(s, "use v2", libmig_use(&s->dst.d, LIBMIG_PROTO_V2));
	FN_STEP(s, "resume begin", libmig_resume_begin(&s->dst.d));
	FN_STEP(s, "write stream", libmig_resume_feed(&s->dst.d,
						      MIG_PATH_PREAD,
						      s->stream,
						      s->stream_len));
	FN_STEP(s, "resume end", libmig_resume_end(&s->dst.d, true));
	FN_STEP(s, "compare digests", fn_same_digest(s));
	return 0;
}

/* ---- the DMA engine and the v2 DMA log ---- */

/* An open source whose type1 container maps the guest memory. */
static int fn_setup_dma(struct fn_seq *s)
{
	int ret = fn_setup_source(s);

	if (!ret)
		ret = _test_cmd_dma_map(&s->src.d, s->dma_buf, FN_DMA_IOVA,
					FN_DMA_PAGES * FN_PG);
	if (!ret)
		s->dma_log = mt_dma_log_offered(&s->src.d);
	return ret;
}

static int fn_dma_enable(struct fn_seq *s)
{
	return _test_cmd_bar0_write(&s->src.d, MIG_REG_DMA_CONTROL,
				    MIG_DMA_CTRL_EN);
}

/*
 * Half a page of the ring more than HEAD holds now, the ring emptied first
 * (TAIL = HEAD): the engine stops at a full ring (FN_RING_PAGES pages, 32
 * ms at FN_DMA_RATE), which a slow kernel reaches between two steps.
 */
static int fn_dma_records(struct fn_seq *s)
{
	uint64_t head;
	int ret;

	ret = _test_cmd_dma_head(&s->src.d, &head);
	ret = ret ?: _test_cmd_dma_set_tail(&s->src.d, head);
	return ret ?: _test_cmd_dma_wait_records(&s->src.d,
						 MIG_DMA_RECS_PER_PAGE / 2);
}

static int fn_dma_log_start(struct fn_seq *s)
{
	return _test_cmd_dma_log_start(&s->src.d, FN_DMA_IOVA,
				       FN_RING_PAGES * FN_PG, FN_PG, 1);
}

/* REPORT of the ring, after records logged: a page of the ring is in. */
static int fn_dma_log_report(struct fn_seq *s)
{
	uint64_t bm[1];
	int ret;

	ret = _test_cmd_dma_log_report(&s->src.d, FN_DMA_IOVA,
				       FN_RING_PAGES * FN_PG, FN_PG, bm);
	if (ret)
		return ret;
	return bm[0] & ((1ULL << FN_RING_PAGES) - 1) ? 0 : -ENODATA;
}

/*
 * The DMA engine on a type1 container (set-up: an open instance, the
 * guest memory mapped): bus mastering, the ring, enable, records; the v2
 * DMA log of the ring where the kernel offers it; disable.
 */
FN_SEQUENCE(dma, fn_setup_dma)
{
	struct mig_dev *d = &s->src.d;

	FN_STEP(s, "bus master", _test_cmd_bus_master(d, true));
	FN_STEP(s, "program ring", _test_cmd_dma_ring(d, FN_DMA_IOVA,
						      FN_RING_PAGES,
						      FN_DMA_RATE));
	FN_STEP(s, "enable", fn_dma_enable(s));
	FN_STEP(s, "records", fn_dma_records(s));
	if (s->dma_log) {
		FN_STEP(s, "log start", fn_dma_log_start(s));
		FN_STEP(s, "records logged", fn_dma_records(s));
		FN_STEP(s, "log report", fn_dma_log_report(s));
		FN_STEP(s, "log stop", _test_cmd_dma_log_stop(d));
	}
	FN_STEP(s, "disable", _test_cmd_dma_stop(d));
	return 0;
}

/* ---- the zero-copy v1 save through the window ---- */

/*
 * Create with the module parameter zerocopy on (it is read at creation),
 * then put the parameter back as it was.
 */
static int fn_create_zerocopy(struct mt_inst *in)
{
	char old[16];
	int ret;

	ret = mig_param_read("zerocopy", old, sizeof(old));
	if (!ret)
		ret = mig_param_write("zerocopy", "1");
	if (ret)
		return ret;
	ret = fn_create(in);
	if (mig_param_write("zerocopy", old) && !ret)
		ret = -EIO;
	return ret;
}

/* A filled source with the window (zerocopy on at its creation). */
static int fn_setup_zerocopy_source(struct fn_seq *s)
{
	int ret = fn_create_zerocopy(&s->src);

	ret = ret ?: fn_open(&s->src);
	return ret ?: fn_fill_source(s);
}

/*
 * GET_REGION_INFO of the migration region: two sparse-mmap areas, the
 * second the window libmig found at open.
 */
static int fn_window_areas(struct mig_dev *d)
{
	struct vfio_region_info_cap_sparse_mmap *sp;
	struct vfio_region_info *ri;
	int ret;

	if (d->mig_index < 0)
		return -ENODEV;
	ret = mig_get_region_info(d, d->mig_index, &ri);
	if (ret)
		return ret;
	sp = (void *)mig_region_cap(ri, VFIO_REGION_INFO_CAP_SPARSE_MMAP);
	if (!sp || sp->nr_areas != 2 || !d->window_size ||
	    sp->areas[1].offset != d->window_offset ||
	    sp->areas[1].size != d->window_size)
		ret = -EPROTO;
	free(ri);
	return ret;
}

/* mmap of the whole window, through libmig (which saves through it). */
static int fn_map_window(struct mig_dev *d)
{
	const void *p;

	return mig_chunk_map(d, d->window_offset, d->window_size, &p);
}

/* The save data loop; every page of device memory came in place. */
static int fn_zerocopy_save_data(struct fn_seq *s)
{
	uint64_t inplace = mig_copies.inplace;
	int ret = fn_save_data(s);

	if (ret)
		return ret;
	return mig_copies.inplace - inplace == s->mem_size ? 0 : -EPROTO;
}

/*
 * The zero-copy v1 save (set-up: a filled instance created with zerocopy
 * on): region info with both areas, mmap of the window, STOP -> SAVING ->
 * the data loop (page data through the window) -> STOP.
 */
FN_SEQUENCE(zerocopy_save, fn_setup_zerocopy_source)
{
	struct mig_dev *d = &s->src.d;

	FN_STEP(s, "region info", fn_window_areas(d));
	FN_STEP(s, "mmap window", fn_map_window(d));
	FN_STEP(s, "stop", mig_set_state(d, MIG_STATE_STOP));
	FN_STEP(s, "saving", mig_set_state(d, MIG_STATE_SAVING));
	FN_STEP(s, "save data", fn_zerocopy_save_data(s));
	FN_STEP(s, "stop after save", mig_set_state(d, MIG_STATE_STOP));
	return 0;
}

TEST_HARNESS_MAIN

// SPDX-License-Identifier: GPL-2.0
/*
 * mig-mdev through the vfio device cdev and iommufd (Linux 6.6 and later):
 * the instance is bound to an iommufd with the core's emulated-IOMMU
 * helpers, attached to an IOAS, and then migrates exactly as it does
 * through the legacy group/container path.
 *
 * Kernels without the cdev (Debian 6.1) or without /dev/iommu skip, saying
 * why.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"
#pragma GCC diagnostic pop
#include "mig_utils.h"
#include "cdev_utils.h"

FIXTURE(cdev) {
	char src[MIG_UUID_LEN + 1];
	char dst[MIG_UUID_LEN + 1];
	int iommufd;
	struct mig_dev s;
	struct mig_dev d;
	bool s_open, d_open;
	struct mig_buf stream;
};

FIXTURE_SETUP(cdev)
{
	char path[300];
	int fd;

	self->iommufd = -1;
	MT_SKIP_IF_NO_MODULE();
	if (access("/dev/iommu", F_OK))
		MT_SKIP_SETUP("no /dev/iommu: this kernel has no iommufd");
	ASSERT_OK(mig_instance_create("small", self->src));
	ASSERT_OK(mig_instance_create("small", self->dst));
	if (cdev_path(self->src, path, sizeof(path))) {
		mig_instance_remove(self->src);
		mig_instance_remove(self->dst);
		MT_SKIP_SETUP("no vfio device cdev (CONFIG_VFIO_DEVICE_CDEV)");
	}
	self->iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->iommufd);
	ASSERT_OK(cdev_open(self->src, self->iommufd, &fd, NULL));
	ASSERT_OK(mig_dev_open_fd(&self->s, fd, self->src));
	self->s_open = true;
	ASSERT_OK(cdev_open(self->dst, self->iommufd, &fd, NULL));
	ASSERT_OK(mig_dev_open_fd(&self->d, fd, self->dst));
	self->d_open = true;
}

FIXTURE_TEARDOWN(cdev)
{
	if (self->s_open)
		mig_dev_close(&self->s);
	if (self->d_open)
		mig_dev_close(&self->d);
	if (self->iommufd >= 0)
		close(self->iommufd);
	mig_instance_remove(self->src);
	mig_instance_remove(self->dst);
	mig_buf_free(&self->stream);
}

/* The cdev path finds the same migration region the group path does. */
TEST_F(cdev, migration_region_found)
{
	EXPECT_EQ(MIG_MDEV_MIGRATION_REGION_INDEX, self->s.mig_index);
	EXPECT_LT(0, self->s.section_size);
	EXPECT_EQ(self->s.mig_size, self->s.data_offset + self->s.section_size);
}

/* A save through one cdev resumes through another with an equal digest. */
TEST_F(cdev, save_and_resume_give_equal_digest)
{
	struct mig_save_stats st;
	uint64_t a, b, pattern = 0x5a5a1234abcd0001ULL;
	uint32_t state;

	ASSERT_OK(mig_region_pwrite(&self->s, VFIO_PCI_BAR2_REGION_INDEX,
				    &pattern, sizeof(pattern), 4096));
	ASSERT_OK(mig_dev_map(&self->s));
	ASSERT_OK(mig_dev_map(&self->d));
	test_cmd_set_state(&self->s, MIG_STATE_SAVING);
	ASSERT_OK(mig_save_loop(&self->s, MIG_PATH_MMAP, 0, mig_buf_sink,
				&self->stream, &st));
	EXPECT_EQ(0, st.last_pending);
	test_cmd_set_state(&self->s, MIG_STATE_STOP);

	test_cmd_set_state(&self->d, MIG_STATE_RESUMING);
	ASSERT_OK(mig_resume_write(&self->d, MIG_PATH_MMAP, self->stream.data,
				   self->stream.len, 0));
	test_cmd_set_state(&self->d, MIG_STATE_RUNNING);
	ASSERT_OK(mig_get_state(&self->d, &state));
	EXPECT_EQ(MIG_STATE_RUNNING, state);

	ASSERT_OK(mig_digest(self->src, &a));
	ASSERT_OK(mig_digest(self->dst, &b));
	EXPECT_EQ(a, b);
}

/*
 * Protocol v2 through the cdevs: a live save (PRE_COPY, the engine
 * running, then STOP_COPY) through one device's data_fd resumes through
 * the other's, digests equal.
 */
TEST_F(cdev, v2_live_save_and_resume_give_equal_digest)
{
	uint64_t a, b, bytes, pending, pattern = 0x5a5a1234abcd0002ULL;
	uint32_t state;

	ASSERT_TRUE(libmig_offers(&self->s, LIBMIG_PROTO_V2));
	ASSERT_TRUE(libmig_has_precopy(&self->s));
	ASSERT_OK(libmig_use(&self->s, LIBMIG_PROTO_V2));
	ASSERT_OK(libmig_use(&self->d, LIBMIG_PROTO_V2));
	ASSERT_OK(mig_region_pwrite(&self->s, VFIO_PCI_BAR2_REGION_INDEX,
				    &pattern, sizeof(pattern), 4096));
	test_cmd_engine_rate(self->src, 200);

	ASSERT_OK(libmig_precopy_begin(&self->s));
	ASSERT_OK(libmig_save_pass(&self->s, MIG_PATH_MMAP, 0, mig_buf_sink,
				   &self->stream, &bytes));
	EXPECT_LT(0, bytes);
	ASSERT_OK(libmig_pending(&self->s, &pending, NULL));
	ASSERT_OK(libmig_stopcopy_begin(&self->s));
	ASSERT_OK(libmig_save_pass(&self->s, MIG_PATH_MMAP, 0, mig_buf_sink,
				   &self->stream, &bytes));
	ASSERT_OK(mig_digest(self->src, &a));
	ASSERT_OK(libmig_save_end(&self->s));

	ASSERT_OK(libmig_resume_begin(&self->d));
	ASSERT_OK(libmig_resume_feed(&self->d, MIG_PATH_PREAD,
				     self->stream.data, self->stream.len));
	ASSERT_OK(libmig_resume_end(&self->d, false));
	ASSERT_OK(libmig_get_state(&self->d, &state));
	EXPECT_EQ(VFIO_DEVICE_STATE_STOP, state);
	ASSERT_OK(mig_digest(self->dst, &b));
	EXPECT_EQ(a, b);
	test_cmd_engine_rate(self->src, 0);
}

TEST_HARNESS_MAIN

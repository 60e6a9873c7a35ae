/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The vfio device cdev and iommufd (Linux 6.6 and later), for the selftests
 * that open an instance that way: find its cdev, bind it to an iommufd and
 * attach it to a new IOAS, and map user memory into that IOAS.  Include
 * after mig_utils.h.
 */
#ifndef CDEV_UTILS_H
#define CDEV_UTILS_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/*
 * The uapi of the cdev path, for user-space headers older than the kernel
 * (Debian 12's are 6.1): values from Linux 6.12 include/uapi.
 */
#ifndef VFIO_DEVICE_BIND_IOMMUFD
struct vfio_device_bind_iommufd {
	__u32 argsz;
	__u32 flags;
	__s32 iommufd;
	__u32 out_devid;
};
#define VFIO_DEVICE_BIND_IOMMUFD	_IO(VFIO_TYPE, VFIO_BASE + 18)

struct vfio_device_attach_iommufd_pt {
	__u32 argsz;
	__u32 flags;
	__u32 pt_id;
};
#define VFIO_DEVICE_ATTACH_IOMMUFD_PT	_IO(VFIO_TYPE, VFIO_BASE + 19)
#endif

#ifndef IOMMU_IOAS_ALLOC
struct iommu_ioas_alloc {
	__u32 size;
	__u32 flags;
	__u32 out_ioas_id;
};
#define IOMMU_IOAS_ALLOC		_IO(';', 0x81)

struct iommu_ioas_map {
	__u32 size;
	__u32 flags;
	__u32 ioas_id;
	__u32 __reserved;
	__aligned_u64 user_va;
	__aligned_u64 length;
	__aligned_u64 iova;
};
#define IOMMU_IOAS_MAP_FIXED_IOVA	(1 << 0)
#define IOMMU_IOAS_MAP_WRITEABLE	(1 << 1)
#define IOMMU_IOAS_MAP_READABLE		(1 << 2)
#define IOMMU_IOAS_MAP			_IO(';', 0x85)

struct iommu_ioas_unmap {
	__u32 size;
	__u32 ioas_id;
	__aligned_u64 iova;
	__aligned_u64 length;
};
#define IOMMU_IOAS_UNMAP		_IO(';', 0x86)
#endif

/* /dev/vfio/devices/vfioN of an instance, from its vfio-dev directory. */
static inline int cdev_path(const char *uuid, char *path, size_t len)
{
	char dir[256];
	struct dirent *e;
	DIR *dp;
	int ret = -ENOENT;

	snprintf(dir, sizeof(dir), MIG_SYSFS_DEVICES "/%s/vfio-dev", uuid);
	dp = opendir(dir);
	if (!dp)
		return -errno;
	while ((e = readdir(dp))) {
		if (strncmp(e->d_name, "vfio", 4))
			continue;
		snprintf(path, len, "/dev/vfio/devices/%s", e->d_name);
		ret = 0;
		break;
	}
	closedir(dp);
	return ret;
}

/*
 * Open @uuid's cdev, bind it to @iommufd and attach it to a new IOAS,
 * whose id goes to *@ioasp when @ioasp is not NULL.
 */
static inline int cdev_open(const char *uuid, int iommufd, int *fdp,
			    uint32_t *ioasp)
{
	struct vfio_device_bind_iommufd bind = {
		.argsz = sizeof(bind), .iommufd = iommufd,
	};
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	struct vfio_device_attach_iommufd_pt attach = {
		.argsz = sizeof(attach),
	};
	char path[300];
	int fd, ret;

	ret = cdev_path(uuid, path, sizeof(path));
	if (ret)
		return ret;
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, VFIO_DEVICE_BIND_IOMMUFD, &bind) ||
	    ioctl(iommufd, IOMMU_IOAS_ALLOC, &ioas)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	attach.pt_id = ioas.out_ioas_id;
	if (ioctl(fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach)) {
		ret = -errno;
		close(fd);
		return ret;
	}
	if (ioasp)
		*ioasp = ioas.out_ioas_id;
	*fdp = fd;
	return 0;
}

/* Map @len bytes at @va into IOAS @ioas at @iova, read and write. */
static inline int cdev_ioas_map(int iommufd, uint32_t ioas, void *va,
				uint64_t iova, uint64_t len)
{
	struct iommu_ioas_map m = {
		.size = sizeof(m),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_WRITEABLE |
			 IOMMU_IOAS_MAP_READABLE,
		.ioas_id = ioas, .user_va = (uintptr_t)va, .length = len,
		.iova = iova,
	};

	return ioctl(iommufd, IOMMU_IOAS_MAP, &m) ? -errno : 0;
}

static inline int cdev_ioas_unmap(int iommufd, uint32_t ioas, uint64_t iova,
				  uint64_t len)
{
	struct iommu_ioas_unmap u = {
		.size = sizeof(u), .ioas_id = ioas, .iova = iova, .length = len,
	};

	return ioctl(iommufd, IOMMU_IOAS_UNMAP, &u) ? -errno : 0;
}

#endif /* CDEV_UTILS_H */

// SPDX-License-Identifier: GPL-2.0
/*
 * migctl: devices.
 *
 * Opening a device (by mdev UUID or sysfs path) through libmig, choosing
 * its protocol (--protocol) and data path, and what migctl learns of it
 * (PCI IDs, region type, mdev type); the few sysfs attributes it reads;
 * and the protocol-neutral helpers that request states and report a
 * failed step, with the remedy when the device went to ERROR.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include "migctl.h"

/* ------------------------------------------------------------------ */
/* Devices                                                             */
/* ------------------------------------------------------------------ */

/* Copy a string into @len bytes, cut if needed, always terminated. */
static void copy_str(char *out, const char *in, size_t len)
{
	size_t n = strnlen(in, len - 1);

	memcpy(out, in, n);
	out[n] = '\0';
}

static bool is_sysfs_path(const char *name)
{
	return strchr(name, '/');
}

static void sysfs_dev_path(const char *name, char *buf, size_t len)
{
	if (is_sysfs_path(name))
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "%s/%s", MIG_SYSFS_DEVICES, name);
}

/* The mdev type of a device: the last part of its mdev_type link. */
static void read_dev_type(const char *name, char *out, size_t len)
{
	char path[PATH_MAX], target[PATH_MAX], *base;
	ssize_t n;

	out[0] = '\0';
	sysfs_dev_path(name, path, sizeof(path));
	strncat(path, "/mdev_type", sizeof(path) - strlen(path) - 1);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return;
	target[n] = '\0';
	base = strrchr(target, '/');
	copy_str(out, base ? base + 1 : target, len);
}

/* A sysfs attribute of the device, "" when it has none. */
int read_attr(const char *name, const char *attr, char *buf, size_t len)
{
	char path[PATH_MAX];

	sysfs_dev_path(name, path, sizeof(path));
	strncat(path, "/", sizeof(path) - strlen(path) - 1);
	strncat(path, attr, sizeof(path) - strlen(path) - 1);
	buf[0] = '\0';
	return mig_sysfs_read(path, buf, len);
}

bool read_digest(const char *name, uint64_t *digest)
{
	char buf[64], *end;

	if (read_attr(name, "digest", buf, sizeof(buf)) || !buf[0])
		return false;
	*digest = strtoull(buf, &end, 16);
	return end != buf;
}

/* The protocol asked for: --mmap and --pread are v1's data paths. */
enum libmig_proto mc_want(void)
{
	if (opt.proto == LIBMIG_PROTO_AUTO && opt.path_given)
		return LIBMIG_PROTO_V1;
	return opt.proto;
}

/*
 * Choose the protocol of an open device (--protocol, default v2 when the
 * device offers it, else v1); exit 2 with what it does offer if not.
 */
static int mc_use_protocol(struct mc_dev *m)
{
	enum libmig_proto want = mc_want();
	bool v1 = libmig_offers(&m->d, LIBMIG_PROTO_V1);
	bool v2 = libmig_offers(&m->d, LIBMIG_PROTO_V2);

	if (!libmig_use(&m->d, want))
		return EX_OK;
	if (!v1 && !v2)
		return fail(EX_NODEV, "%s: no migration: no region of type 3 subtype 1 among its %u regions (protocol v1), and VFIO_DEVICE_FEATURE_MIGRATION: %s (protocol v2)",
			    m->name, m->d.num_regions, strerror(-m->d.v2_err));
	if (want == LIBMIG_PROTO_V2)
		return fail(EX_NODEV, "%s: does not offer migration protocol v2 (VFIO_DEVICE_FEATURE_MIGRATION: %s); it offers v1: use --protocol v1 or auto",
			    m->name, strerror(-m->d.v2_err));
	return fail(EX_NODEV, "%s: does not offer migration protocol v1 (no region of type 3 subtype 1 among its %u regions)%s; it offers v2: use --protocol v2 or auto",
		    m->name, m->d.num_regions,
		    opt.path_given ? ", which --mmap and --pread need" : "");
}

int mc_open(struct mc_dev *m, const char *name)
{
	struct vfio_region_info *ri;
	struct vfio_region_info_cap_type *ct;
	uint32_t id = 0, sub = 0;
	char path[PATH_MAX];
	int ret;

	memset(m, 0, sizeof(*m));
	m->name = name;
	sysfs_dev_path(name, path, sizeof(path));
	ret = mig_dev_open_path(&m->d, path);
	if (ret == -ENOENT || ret == -ENODEV || ret == -EINVAL)
		return fail(EX_NODEV, "%s: no such device (%s)", name, path);
	if (ret == -EBUSY)
		return fail(EX_NODEV, "%s: busy: another process (QEMU?) has its vfio group open",
			    name);
	if (ret)
		return fail(EX_NODEV, "%s: cannot open through vfio: %s", name,
			    strerror(-ret));
	ret = mc_use_protocol(m);
	if (ret) {
		mig_dev_close(&m->d);
		return ret;
	}
	if (m->d.mig_index >= 0) {
		ret = mig_get_region_info(&m->d, m->d.mig_index, &ri);
		if (ret) {
			mig_dev_close(&m->d);
			return fail(EX_IO, "%s: VFIO_DEVICE_GET_REGION_INFO: %s",
				    name, strerror(-ret));
		}
		m->flags = ri->flags;
		ct = (void *)mig_region_cap(ri, VFIO_REGION_INFO_CAP_TYPE);
		if (ct) {
			m->rtype = ct->type;
			m->rsubtype = ct->subtype;
		}
		m->has_sparse = mig_region_cap(ri,
					       VFIO_REGION_INFO_CAP_SPARSE_MMAP) &&
				(ri->flags & VFIO_REGION_INFO_FLAG_MMAP);
		free(ri);
	}

	if (!mig_region_pread(&m->d, VFIO_PCI_CONFIG_REGION_INDEX, &id, 4, 0)) {
		m->vendor = le32toh(id) & 0xffff;
		m->device = le32toh(id) >> 16;
	}
	if (!mig_region_pread(&m->d, VFIO_PCI_CONFIG_REGION_INDEX, &sub, 4,
			      PCI_SUBSYSTEM_VENDOR_ID)) {
		m->subvendor = le32toh(sub) & 0xffff;
		m->subdevice = le32toh(sub) >> 16;
	}
	read_dev_type(name, m->dev_type, sizeof(m->dev_type));

	if (opt.path >= 0)
		m->path = opt.path;
	else
		m->path = m->has_sparse ? MIG_PATH_MMAP : MIG_PATH_PREAD;
	if (m->d.proto == LIBMIG_PROTO_V1 && m->path == MIG_PATH_MMAP) {
		ret = mig_dev_map(&m->d);
		if (ret) {
			mig_dev_close(&m->d);
			return fail(EX_IO, "%s: mmap of the data section: %s (try --pread)",
				    name, strerror(-ret));
		}
	}
	return EX_OK;
}

/* The data path of a transfer: the v1 section's, or v2's data_fd. */
const char *path_name(const struct mc_dev *m)
{
	if (m->d.proto == LIBMIG_PROTO_V2)
		return "data_fd";
	return m->path == MIG_PATH_MMAP ? "mmap" : "pread";
}

const char *proto_name(const struct mc_dev *m)
{
	return libmig_proto_str(m->d.proto);
}

const char *remedy(const char *name)
{
	static char buf[PATH_MAX + 128];

	snprintf(buf, sizeof(buf),
		 "only VFIO_DEVICE_RESET leaves ERROR: run 'migctl reset %s' (or close every user of the device)",
		 name);
	return buf;
}

/* Refuse to work on a device in ERROR (a vendor may keep ERROR across opens). */
int mc_check_not_error(struct mc_dev *m)
{
	uint32_t s;
	int ret = libmig_get_state(&m->d, &s);

	if (ret)
		return fail(EX_IO, "%s: reading device_state: %s", m->name,
			    strerror(-ret));
	if (s == VFIO_DEVICE_STATE_ERROR)
		return fail(EX_DEVERR, "%s: device is in ERROR; %s", m->name,
			    remedy(m->name));
	return EX_OK;
}

/*
 * After a failed step: if the device went to ERROR, say so with the remedy
 * (EX_DEVERR); otherwise report @ret as @code.
 */
int mc_step_failed(struct mc_dev *m, const char *step, int ret, int code)
{
	bool got;
	uint32_t s;

	got = !libmig_get_state(&m->d, &s);
	if (got && s == VFIO_DEVICE_STATE_ERROR)
		return fail(EX_DEVERR, "%s: %s failed (%s) and the device is now in ERROR; %s",
			    m->name, step, strerror(-ret), remedy(m->name));
	return fail(code, "%s: %s failed: %s (device_state %s)", m->name, step,
		    strerror(-ret), got ? libmig_state_str(&m->d, s) : "?");
}

/* The state request libmig made last failed with @ret: say which. */
int mc_req_failed(struct mc_dev *m, int ret)
{
	const char *to = libmig_state_str(&m->d, m->d.req);
	char step[128];

	if (m->d.proto == LIBMIG_PROTO_V1)
		snprintf(step, sizeof(step), "writing device_state %s", to);
	else
		snprintf(step, sizeof(step),
			 "setting device_state %s (VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE)",
			 to);
	return mc_step_failed(m, step, ret, EX_IO);
}

int mc_set_state(struct mc_dev *m, uint32_t state)
{
	int ret = libmig_set_state(&m->d, state);

	return ret ? mc_req_failed(m, ret) : EX_OK;
}

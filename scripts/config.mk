# SPDX-License-Identifier: GPL-2.0
# The one place that names the Debian 6.1 kernel ABI the VM boots and the
# module is built against.  Debian keeps a few ABIs in the archive at a time
# and drops old ones; to pick the current one:
#  apt-cache depends linux-headers-amd64 | grep linux-headers-6.1
# and set KVER_61 below (or pass KVER_61=... to make).
KVER_61 ?= 6.1.0-56-amd64

# Caches outside the repository (downloaded packages, unpacked kernels).
MIG_CACHE ?= /var/cache/mig-mdev

# The Debian suite QEMU 10.0 (the VFIO migration v2 client) comes from,
# on the mirror of the system's own bookworm suite (scripts/fetch-qemu10.sh).
QEMU10_SUITE ?= bookworm-backports

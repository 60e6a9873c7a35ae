// SPDX-License-Identifier: GPL-2.0
/*
 * kmodule.c: what the module's files that the native build leaves out
 * (mig_mdev.c, mig_region.c) define for those it compiles: the module
 * parameters at their defaults, the engines' workqueue and the region's
 * hook.  Shared by the fuzz targets, the replay tool and stream_bench.
 */
#include "mig.h"

unsigned int mig_section_pages = 256;
unsigned int mig_pci_vendor = MIG_MDEV_PCI_VENDOR;
unsigned int mig_pci_device = MIG_MDEV_PCI_DEVICE;
unsigned int mig_pci_class = MIG_MDEV_PCI_CLASS;
unsigned int mig_engine_max_rate = 131072;
unsigned int mig_dma_max_rate = 65536;
/* The engines' workqueue; the harness runs their ticks itself. */
struct workqueue_struct *mig_wq;

/* As in mig_region.c: there is no data section to clear. */
void mig_region_clear(struct mig_mdev_state *st)
{
}

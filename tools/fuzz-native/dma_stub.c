// SPDX-License-Identifier: GPL-2.0
/*
 * dma_stub.c - what the device model asks of its owner for the DMA engine
 * (mig_dev.h: mig_dma_work(), mig_dma_stopped(); in the module,
 * mig_dma_xfer.c), stood in for in the native build: the harness has no
 * guest memory to write, so a tick of the engine writes nothing and there
 * are no cached translations to drop.  mig_dma.c (registers, state,
 * records, stream form) is compiled unchanged.
 */
#include "mig_dev.h"

void mig_dma_work(struct work_struct *work)
{
}

void mig_dma_stopped(struct mig_dev *dev)
{
	lockdep_assert_held(&dev->dma.lock);
	lockdep_assert_held(dev->lock);
}

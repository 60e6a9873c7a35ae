// SPDX-License-Identifier: GPL-2.0
/*
 * dma_stub.c - the DMA engine's kernel-only half (mig_dma_xfer.c,
 * mig_dma_log.c), stood in for in the native fuzzer: the harness has no
 * guest memory to write, so a tick of the engine writes nothing and there
 * are no cached translations or dirty log to drop.  mig_dma.c (registers,
 * state, stream form) is compiled unchanged.
 */
#include "mig.h"

void mig_dma_work(struct work_struct *work)
{
}

void mig_dma_uncache(struct mig_mdev_state *st)
{
	lockdep_assert_held(&st->dma.lock);
}

void mig_dma_log_free(struct mig_mdev_state *st)
{
}

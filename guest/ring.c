// SPDX-License-Identifier: GPL-2.0
/*
 * guest/ring.c: the DMA ring (a static page-aligned buffer in guest RAM)
 * and the check of every record the device wrote into it.
 *
 * Records are consumed strictly in order, from TAIL up to a limit below the
 * device's HEAD.  Each one is good, lost (its slot holds no record, or the
 * record of another seq: the write never reached this memory) or torn (the
 * right seq, but a word is wrong).  A bad record is counted and printed
 * with its seq (runs of them on one line), never skipped in silence.
 */
#include "guest.h"

#define RING_MAX_PAGES	MIG_DMA_MAX_RING_PAGES
#define MAX_BAD_LINES	64		/* bad-record lines printed, then only counted */

static uint8_t ring_mem[RING_MAX_PAGES * 4096] __attribute__((aligned(4096)));

static struct ring_stats st;
static uint32_t slots, slot;		/* ring size, slot of st.tail */
static unsigned int bad_lines;

/* The run of bad records being collected: kind, first seq, length. */
static const char *run_kind;
static uint64_t run_first, run_len, run_found;

uint32_t ring_slots(void)
{
	return slots;
}

uintptr_t ring_iova(void)
{
	return (uintptr_t)ring_mem;
}

const struct ring_stats *ring_stats(void)
{
	return &st;
}

static void dma_write(uintptr_t bar0, unsigned int reg, uint32_t v)
{
	mmio_write32(bar0 + reg, v);
}

static uint32_t dma_read(uintptr_t bar0, unsigned int reg)
{
	return mmio_read32(bar0 + reg);
}

/* HEAD: HI, LO, HI again; retry if HI moved (the uapi's rule). */
uint64_t ring_head(uintptr_t bar0)
{
	uint32_t hi, lo, hi2;

	do {
		hi = dma_read(bar0, MIG_REG_DMA_HEAD_HI);
		lo = dma_read(bar0, MIG_REG_DMA_HEAD_LO);
		hi2 = dma_read(bar0, MIG_REG_DMA_HEAD_HI);
	} while (hi != hi2);
	return (uint64_t)hi << 32 | lo;
}

void ring_setup(uintptr_t bar0, uint32_t pages, uint32_t rate, uint32_t irq_every)
{
	uint32_t ctl = MIG_DMA_CTRL_EN;

	slots = pages * MIG_DMA_RECS_PER_PAGE;
	slot = 0;
	memset(&st, 0, sizeof(st));
	memset(ring_mem, 0, pages * 4096);
	dma_write(bar0, MIG_REG_DMA_CONTROL, 0);
	dma_write(bar0, MIG_REG_DMA_RING_LO, (uint32_t)ring_iova());
	dma_write(bar0, MIG_REG_DMA_RING_HI, 0);
	dma_write(bar0, MIG_REG_DMA_RING_PAGES, pages);
	dma_write(bar0, MIG_REG_DMA_TAIL_HI, 0);
	dma_write(bar0, MIG_REG_DMA_TAIL_LO, 0);
	dma_write(bar0, MIG_REG_DMA_RATE, rate);
	dma_write(bar0, MIG_REG_DMA_IRQ_EVERY, irq_every);
	dma_write(bar0, MIG_REG_DMA_STATUS, MIG_DMA_STATUS_FAULT);
	if (irq_every)
		ctl |= MIG_DMA_CTRL_IRQ_EN;
	/* before EN: once it is set the engine may write at once */
	if (ring_head(bar0) != 0)
		guest_halt("HEAD is not 0 after the ring was programmed");
	dma_write(bar0, MIG_REG_DMA_CONTROL, ctl);
	if (dma_read(bar0, MIG_REG_DMA_STATUS) & MIG_DMA_STATUS_FAULT)
		guest_halt("the device refused the ring (DMA_STATUS FAULT)");
}

void ring_stop(uintptr_t bar0)
{
	unsigned int n = 0;

	dma_write(bar0, MIG_REG_DMA_CONTROL, 0);
	while ((dma_read(bar0, MIG_REG_DMA_STATUS) & MIG_DMA_STATUS_ACTIVE) && ++n < 100000)
		;
}

static void run_flush(void)
{
	if (!run_len)
		return;
	if (bad_lines < MAX_BAD_LINES) {
		gprintf("DMACHECK %s seq=%llu", run_kind, run_first);
		if (run_len > 1)
			gprintf("-%llu", run_first + run_len - 1);
		gprintf(" n=%llu found=%llu\n", run_len, run_found);
	} else if (bad_lines == MAX_BAD_LINES) {
		gprintf("DMACHECK NOTE more bad records: counted, not printed\n");
	}
	bad_lines++;
	run_len = 0;
}

static void bad(const char *kind, uint64_t seq, uint64_t found)
{
	if (kind[0] == 'L')
		st.lost++;
	else
		st.torn++;
	if (run_len && kind == run_kind && seq == run_first + run_len) {
		run_len++;
		return;
	}
	run_flush();
	run_kind = kind;
	run_first = seq;
	run_len = 1;
	run_found = found;
}

/* Check the record in the current slot against st.tail. */
static void check_one(void)
{
	const volatile uint64_t *src;
	uint64_t w[8], any = 0, seq = st.tail;
	unsigned int i;

	src = (const volatile uint64_t *)(ring_mem + slot * MIG_DMA_RECORD_SIZE);
	for (i = 0; i < 8; i++) {
		w[i] = src[i];
		any |= w[i];
	}
	if (!any) {
		bad("LOST", seq, 0);		/* never written here */
		return;
	}
	if ((uint32_t)w[1] != MIG_DMA_RECORD_MAGIC) {
		bad("TORN", seq, w[0]);
		return;
	}
	if (w[0] != seq) {
		bad("LOST", seq, w[0]);		/* a record of another lap */
		return;
	}
	if ((uint32_t)(w[1] >> 32) != slots || w[7] != mig_dma_check(w)) {
		bad("TORN", seq, w[0]);
		return;
	}
	for (i = 0; i < 5; i++) {
		if (w[2 + i] != mig_dma_payload(seq, i)) {
			bad("TORN", seq, w[0]);
			return;
		}
	}
	run_flush();
	st.ok++;
}

/*
 * Check records from TAIL up to (not including) @limit, which the caller
 * took from HEAD, then give their slots back to the device: TAIL HI, then
 * LO (the write that takes effect).
 */
void ring_consume(uintptr_t bar0, uint64_t limit)
{
	uint64_t before = st.tail;

	while (st.tail < limit) {
		check_one();
		st.tail++;
		if (++slot == slots)
			slot = 0;
	}
	run_flush();
	if (st.tail != before) {
		dma_write(bar0, MIG_REG_DMA_TAIL_HI, (uint32_t)(st.tail >> 32));
		dma_write(bar0, MIG_REG_DMA_TAIL_LO, (uint32_t)st.tail);
	}
}

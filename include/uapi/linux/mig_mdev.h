/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * mig-mdev: user-space ABI of the sample mediated device with a VFIO
 * migration region (protocol v1).
 *
 * This header carries two things, and needs no VFIO header:
 *
 *  1. The device: PCI identity defaults and the BAR0 register file.
 *  2. The migration stream format written by a saving device and parsed by a
 *     resuming one.  All stream fields are little endian.
 *
 * The VFIO side (our copy of the migration v1 ABI, the v1 state names, the
 * region index) is in <linux/mig_mdev_v1.h>.
 */
#ifndef _UAPI_LINUX_MIG_MDEV_H
#define _UAPI_LINUX_MIG_MDEV_H

#include <linux/types.h>

/* ------------------------------------------------------------------ */
/* 1. The device                                                       */
/* ------------------------------------------------------------------ */

/* Defaults of the PCI identity (module parameters override them). */
#define MIG_MDEV_PCI_VENDOR	0x1b36	/* QEMU's vendor id, sample devices */
#define MIG_MDEV_PCI_DEVICE	0x11f0
#define MIG_MDEV_PCI_CLASS	0x120000	/* processing accelerator */
#define MIG_MDEV_PCI_REVISION	0x01

#define MIG_MDEV_BAR0_SIZE	4096	/* the register file */
#define MIG_MDEV_CONFIG_SIZE	256	/* PCI config space */
#define MIG_MDEV_MSI_CAP	0x40	/* offset of the MSI capability */

/*
 * BAR0 registers.  Every register is 32 bits wide and is accessed with
 * naturally aligned 4-byte reads and writes only.
 */
#define MIG_REG_ID		0x000	/* RO: MIG_REG_ID_VALUE */
#define MIG_REG_ID_VALUE	0x4d49474d	/* "MIGM" */
#define MIG_REG_REVISION	0x004	/* RO: register file revision */
#define MIG_REG_REVISION_VALUE	2
#define MIG_REG_CONTROL		0x008	/* RW: MIG_CTRL_* */
#define MIG_CTRL_ENGINE_EN	(1U << 0)	/* engine runs while RUNNING */
#define MIG_CTRL_IRQ_EN		(1U << 1)	/* doorbell raises the IRQ */
#define MIG_CTRL_MASK		(MIG_CTRL_ENGINE_EN | MIG_CTRL_IRQ_EN)
#define MIG_REG_STATUS		0x00c	/* RO, bit 1 write-1-to-clear */
#define MIG_STATUS_ENGINE_ACTIVE (1U << 0)	/* engine is writing memory */
#define MIG_STATUS_IRQ		(1U << 1)	/* an interrupt was raised */
#define MIG_REG_DOORBELL	0x010	/* WO: any write raises the IRQ */
#define MIG_REG_IRQ_COUNT	0x014	/* RO: interrupts raised */
#define MIG_REG_ENGINE_RATE	0x018	/* RW: pages per second */
#define MIG_REG_ENGINE_SEED	0x01c	/* RW: seed, restarts the sequence */
#define MIG_REG_ENGINE_COUNT_LO	0x020	/* RO: pages written, low 32 bits */
#define MIG_REG_ENGINE_COUNT_HI	0x024	/* RO: pages written, high 32 bits */
#define MIG_REG_MEM_PAGES	0x028	/* RO: device memory size in pages */
#define MIG_REG_SCRATCH0	0x040	/* RW: MIG_NR_SCRATCH scratch words */
#define MIG_NR_SCRATCH		16
#define MIG_REG_END		(MIG_REG_SCRATCH0 + 4 * MIG_NR_SCRATCH)

/*
 * The DMA engine (register file revision 2).  The guest gives the device a
 * ring of guest IOVA space; while the device runs and MIG_DMA_CTRL_EN is
 * set, the device writes struct mig_dma_record entries into it, in order,
 * at up to MIG_REG_DMA_RATE records per second.  Record @seq (counting from
 * 0 since the ring was programmed) lives in slot @seq % (ring pages *
 * MIG_DMA_RECS_PER_PAGE).  The ring is flow controlled: the device writes
 * record HEAD only while HEAD - TAIL < the ring's slots, and the guest
 * advances TAIL as it consumes records.
 *
 * RING_LO/HI, RING_PAGES and the HEAD/TAIL reset take effect only while
 * MIG_DMA_CTRL_EN is clear: writing them while it is set is ignored.
 * Setting MIG_DMA_CTRL_EN with a ring that is not page aligned or has 0 or
 * more than MIG_DMA_MAX_RING_PAGES pages sets MIG_DMA_STATUS_FAULT instead.
 * A DMA write that the IOMMU refuses (unmapped IOVA) also sets
 * MIG_DMA_STATUS_FAULT and stops the engine; the record is not counted.
 * Every MIG_REG_DMA_IRQ_EVERY records (0: never) with MIG_DMA_CTRL_IRQ_EN
 * set the device raises its interrupt (the one the doorbell raises), and
 * counts it in both MIG_REG_DMA_IRQ_COUNT and MIG_REG_IRQ_COUNT.  It then
 * writes no further record until the interrupt is acknowledged (1 written
 * to MIG_STATUS_IRQ of MIG_REG_STATUS), so that no two of its interrupts
 * can merge into one on the way to the CPU: a driver that acknowledges in
 * its handler takes exactly MIG_REG_DMA_IRQ_COUNT interrupts.
 *
 * 64-bit values are split in _LO/_HI halves; a reader that may race the
 * device reads HI, LO, HI and retries if HI changed.
 */
#define MIG_REG_DMA_CONTROL	0x080	/* RW: MIG_DMA_CTRL_* */
#define MIG_DMA_CTRL_EN		(1U << 0)	/* write records while running */
#define MIG_DMA_CTRL_IRQ_EN	(1U << 1)	/* interrupt every IRQ_EVERY */
#define MIG_DMA_CTRL_MASK	(MIG_DMA_CTRL_EN | MIG_DMA_CTRL_IRQ_EN)
#define MIG_REG_DMA_STATUS	0x084	/* RO, bit 1 write-1-to-clear */
#define MIG_DMA_STATUS_ACTIVE	(1U << 0)	/* the engine is writing */
#define MIG_DMA_STATUS_FAULT	(1U << 1)	/* bad ring or refused write */
#define MIG_REG_DMA_RING_LO	0x088	/* RW: ring IOVA, page aligned */
#define MIG_REG_DMA_RING_HI	0x08c
#define MIG_REG_DMA_RING_PAGES	0x090	/* RW: ring size in pages */
#define MIG_REG_DMA_RATE	0x094	/* RW: records per second */
#define MIG_REG_DMA_HEAD_LO	0x098	/* RO: records written */
#define MIG_REG_DMA_HEAD_HI	0x09c
#define MIG_REG_DMA_TAIL_LO	0x0a0	/* RW: records consumed */
#define MIG_REG_DMA_TAIL_HI	0x0a4	/* (write LO last: it takes effect) */
#define MIG_REG_DMA_IRQ_EVERY	0x0a8	/* RW: records per interrupt */
#define MIG_REG_DMA_IRQ_COUNT	0x0ac	/* RO: interrupts the DMA raised */
#define MIG_REG_DMA_END		0x0b0

#define MIG_DMA_MAX_RING_PAGES	256
#define MIG_DMA_RECORD_MAGIC	0x414d444dU	/* "MDMA" */

/**
 * struct mig_dma_record - one record the DMA engine writes into guest memory
 * @seq: sequence number, 0 for the first record after the ring was set up
 * @magic: MIG_DMA_RECORD_MAGIC
 * @slots: slots in the ring when the record was written
 * @payload: mig_dma_payload(@seq, i) for word i
 * @check: mig_dma_check() of the words before it
 *
 * All fields little endian.  A reader tells a good record from a stale one
 * (wrong @seq) or a torn one (@check or @payload wrong).
 */
struct mig_dma_record {
	__le64 seq;
	__le32 magic;
	__le32 slots;
	__le64 payload[5];
	__le64 check;
};

#define MIG_DMA_RECORD_SIZE	64
#define MIG_DMA_RECS_PER_PAGE	(4096 / MIG_DMA_RECORD_SIZE)

/* Word @i of record @seq's payload. */
static inline __u64 mig_dma_payload(__u64 seq, unsigned int i)
{
	__u64 x = seq * 0x9e3779b97f4a7c15ULL + i + 1;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ULL;
	return x ^ (x >> 29);
}

/* Check word over the seven words before it, taken as CPU-order values. */
static inline __u64 mig_dma_check(const __u64 w[7])
{
	__u64 h = 0xcbf29ce484222325ULL;
	unsigned int i;

	for (i = 0; i < 7; i++)
		h = (h ^ w[i]) * 0x100000001b3ULL;
	return h;
}

/* The device's page size, for the engine, the dirty log and the stream. */
#define MIG_PAGE_SIZE		4096

/* ------------------------------------------------------------------ */
/* 2. The migration stream                                             */
/* ------------------------------------------------------------------ */

/*
 * A stream is a struct mig_stream_header followed by records.  Each record
 * is a struct mig_rec_header and @len bytes of payload; records follow each
 * other without padding and may span chunks.  A save in stop-and-copy ends
 * with MIG_REC_CONFIG, MIG_REC_REGS, MIG_REC_ENGINE, MIG_REC_DMA and
 * MIG_REC_END, in that order; MIG_REC_PAGES records come before them, in
 * any number.  Version 1 streams (before the DMA engine) have no
 * MIG_REC_DMA; a resuming device still takes them, with its DMA engine in
 * its power-on state (idle), which is what a version 1 device had.
 * Versions 1 and 2 carry at most MIG_MAX_RUN_PAGES_V2 pages a MIG_REC_PAGES
 * record, version 3 at most MIG_MAX_RUN_PAGES; a resuming device takes all
 * three and refuses a longer record in a version 1 or 2 stream.
 */
#define MIG_STREAM_MAGIC	0x534d474dU	/* "MGMS" */
#define MIG_STREAM_VERSION	3
#define MIG_STREAM_VERSION_RUN64 2	/* still accepted on resume */
#define MIG_STREAM_VERSION_NODMA 1	/* still accepted on resume */

/**
 * struct mig_stream_header - first bytes of every stream
 * @magic: MIG_STREAM_MAGIC
 * @version: MIG_STREAM_VERSION
 * @header_len: sizeof(struct mig_stream_header)
 * @device_type: MIG_TYPE_* of the saving instance
 * @page_size: MIG_PAGE_SIZE
 * @mem_size: device memory size of the saving instance, in bytes
 */
struct mig_stream_header {
	__le32 magic;
	__le16 version;
	__le16 header_len;
	__le32 device_type;
	__le32 page_size;
	__le64 mem_size;
};

/* Device types, as carried in the stream. */
#define MIG_TYPE_SMALL		1
#define MIG_TYPE_LARGE		2

/* Record types. */
#define MIG_REC_PAGES		1	/* struct mig_rec_pages + page data */
#define MIG_REC_CONFIG		2	/* MIG_MDEV_CONFIG_SIZE bytes */
#define MIG_REC_REGS		3	/* struct mig_rec_regs */
#define MIG_REC_ENGINE		4	/* struct mig_rec_engine */
#define MIG_REC_END		5	/* struct mig_rec_end */
#define MIG_REC_DMA		6	/* struct mig_rec_dma (version 2) */

/*
 * Largest run of pages in one MIG_REC_PAGES record: 16 MiB in a version 3
 * stream (MIG_STREAM_VERSION), 256 KiB in a version 1 or 2 stream.
 */
#define MIG_MAX_RUN_PAGES	4096
#define MIG_MAX_RUN_PAGES_V2	64

/**
 * struct mig_rec_header - header of every record
 * @type: MIG_REC_*
 * @len: payload bytes that follow this header
 */
struct mig_rec_header {
	__le32 type;
	__le32 len;
};

/**
 * struct mig_rec_pages - payload head of a MIG_REC_PAGES record
 * @first: index of the first page
 * @count: number of pages, 1..MIG_MAX_RUN_PAGES (1..MIG_MAX_RUN_PAGES_V2
 *         in a version 1 or 2 stream); @count * MIG_PAGE_SIZE bytes of
 *         page data follow
 */
struct mig_rec_pages {
	__le32 first;
	__le32 count;
};

/**
 * struct mig_rec_regs - payload of a MIG_REC_REGS record
 * @control: MIG_REG_CONTROL
 * @status: MIG_REG_STATUS
 * @irq_count: MIG_REG_IRQ_COUNT
 * @engine_rate: MIG_REG_ENGINE_RATE
 * @engine_seed: MIG_REG_ENGINE_SEED
 * @reserved: zero
 * @scratch: MIG_REG_SCRATCH0 and following
 */
struct mig_rec_regs {
	__le32 control;
	__le32 status;
	__le32 irq_count;
	__le32 engine_rate;
	__le32 engine_seed;
	__le32 reserved;
	__le32 scratch[MIG_NR_SCRATCH];
};

/**
 * struct mig_rec_engine - payload of a MIG_REC_ENGINE record
 * @prng: state of the engine's pseudo-random generator
 * @count: pages written by the engine so far
 */
struct mig_rec_engine {
	__le64 prng;
	__le64 count;
};

/**
 * struct mig_rec_dma - payload of a MIG_REC_DMA record: the DMA engine
 * @control: MIG_REG_DMA_CONTROL
 * @status: MIG_REG_DMA_STATUS (the FAULT bit)
 * @ring: MIG_REG_DMA_RING_LO/HI
 * @ring_pages: MIG_REG_DMA_RING_PAGES
 * @rate: MIG_REG_DMA_RATE
 * @head: MIG_REG_DMA_HEAD_LO/HI; the resumed engine goes on from here
 * @tail: MIG_REG_DMA_TAIL_LO/HI
 * @tail_hi: a TAIL_HI write still waiting for its TAIL_LO write
 * @irq_every: MIG_REG_DMA_IRQ_EVERY
 * @irq_count: MIG_REG_DMA_IRQ_COUNT
 * @reserved: zero
 */
struct mig_rec_dma {
	__le32 control;
	__le32 status;
	__le64 ring;
	__le32 ring_pages;
	__le32 rate;
	__le64 head;
	__le64 tail;
	__le32 tail_hi;
	__le32 irq_every;
	__le32 irq_count;
	__le32 reserved;
};

/**
 * struct mig_rec_end - payload of the MIG_REC_END record
 * @digest: digest of the whole device state (config space, registers,
 *          engine, DMA engine unless idle, memory) taken by the source when
 *          it stopped; the same
 *          value the instance's sysfs "digest" attribute prints
 * @stream_len: bytes of the stream before this record's header
 */
struct mig_rec_end {
	__le64 digest;
	__le64 stream_len;
};

#endif /* _UAPI_LINUX_MIG_MDEV_H */

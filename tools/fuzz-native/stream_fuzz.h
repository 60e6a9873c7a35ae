/* SPDX-License-Identifier: GPL-2.0 */
/*
 * stream_fuzz.h: the input format of the native fuzzer (stream_fuzz.c) and
 * the entry point that the replay and corpus tool (replay.c) shares with the
 * libFuzzer target.  See docs/FUZZ.md, "Native fuzzing".
 *
 * An input is a prefix of SF_PREFIX bytes and a body:
 *   byte 0     flags, SF_*
 *   byte 1     how the body is cut into chunks: enum sf_split, modulo
 *              SF_SPLIT_NR
 *   bytes 2-3  a seed (little endian) for the chunk sizes and patterns
 * Resume mode: the body is a stream, fed in chunks to a device in RESUMING.
 * With SF_COMPACT, the page data of each MIG_REC_PAGES record in the body is
 * one byte a page, which sf_pattern() expands to the page before the stream
 * is fed: inputs stay short, so mutations land on headers and lengths.
 * Round-trip mode (SF_ROUNDTRIP): the body is a program of enum sf_op
 * operations on a source device; its stream is saved and resumed.  With
 * SF_VIA, each save chunk picks its producer (enum sf_via): an SF_OP_CHUNK
 * takes two more operands, and the chunks that finish the save draw theirs
 * from the seed; a second source runs the same program saved with
 * mig_save_fill() alone, and the two streams must be the same bytes.
 */
#ifndef STREAM_FUZZ_H
#define STREAM_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#define SF_ROUNDTRIP	0x01	/* round-trip mode; else resume mode */
#define SF_LARGE	0x02	/* the large type (72 pages); else small (8) */
#define SF_DIRTY	0x04	/* the destination has state before RESUMING */
#define SF_RESET	0x08	/* an unfinished resume ends in a reset, not a close */
#define SF_COMPACT	0x10	/* resume: page data is one byte a page, sf_pattern() */
#define SF_VIA		0x20	/* round trip: each chunk picks its producer */
#define SF_PREFIX	4

#define SF_SMALL_PAGES	8
#define SF_LARGE_PAGES	72	/* more than MIG_MAX_RUN_PAGES_V2 */

/* How the body is cut into chunks. */
enum sf_split {
	SF_SPLIT_WHOLE,		/* one chunk */
	SF_SPLIT_BYTE,		/* one byte at a time */
	SF_SPLIT_FIXED,		/* 1 + seed % 8192 bytes each */
	SF_SPLIT_PAGES,		/* 1 to 4 whole pages (seed), like a data section */
	SF_SPLIT_SMALL,		/* random, 1 to 64 bytes */
	SF_SPLIT_RANDOM,	/* random, 1 to SF_MAX_CHUNK bytes */
	SF_SPLIT_TWO,		/* two chunks, cut at the seed */
	SF_SPLIT_MIX,		/* any of the above, drawn per chunk */
	SF_SPLIT_NR
};

/*
 * Round-trip operations: an op byte (modulo SF_OP_NR), then its operands,
 * little endian; a program that ends early reads zeros.
 */
enum sf_op {
	SF_OP_MEM,	/* u32 offset, u16 length - 1, u8 pattern: a BAR2 write */
	SF_OP_BAR0,	/* u8 register (index of 4 bytes, modulo 32), u32 value */
	SF_OP_CFG,	/* u8 offset, u8 width (1 << (w % 3)), u32 value */
	SF_OP_ENGINE,	/* u16 rate (modulo 4096): CONTROL engine on, ENGINE_RATE */
	SF_OP_TICK,	/* u8 time in 64 us units: the engine's work runs */
	SF_OP_PRECOPY,	/* device_state PRECOPY */
	/*
	 * u16 size - 1: one save chunk of at most that size; with SF_VIA
	 * also u8 producer (enum sf_via, modulo SF_VIA_NR) and u16 max - 1
	 * (mig_save_fill_span())
	 */
	SF_OP_CHUNK,
	SF_OP_SAVING,	/* device_state SAVING */
	SF_OP_CANCEL,	/* device_state RUNNING: the save is dropped */
	SF_OP_NR
};

/*
 * The producers of a save chunk (SF_VIA): the v1 data section, the v1
 * zero-copy window, the v2 data_fd.
 */
enum sf_via {
	SF_VIA_FILL,	/* mig_save_fill(): size bytes into the section */
	SF_VIA_INPLACE,	/* mig_save_fill_inplace(): section of size bytes */
	SF_VIA_SPAN,	/* mig_save_fill_span(): room size, at most max */
	SF_VIA_NR
};

/**
 * struct sf_result - what one input did
 * @sessions: resume sessions opened
 * @accepted: streams whose END record was verified
 * @rejected: chunks rejected
 * @errors: rejections that sent the device to ERROR
 * @stream: round trip: the saved stream (malloc'ed) if asked for, else NULL
 * @stream_len: its length
 * @chunks: round trip with SF_VIA: save chunks
 * @inplace: round trip with SF_VIA: those left in device memory
 */
struct sf_result {
	unsigned int sessions;
	unsigned int accepted;
	unsigned int rejected;
	unsigned int errors;
	unsigned int chunks;
	unsigned int inplace;
	uint8_t *stream;
	size_t stream_len;
};

/* Longest stream an SF_COMPACT body expands to; the rest is cut off. */
#define SF_COMPACT_MAX	(1 << 20)

/**
 * sf_pattern() - the bytes the harness writes for a pattern
 * @dst: where
 * @len: how many
 * @pattern: the pattern; 0 gives zeros
 *
 * An SF_OP_MEM write of a whole page at a page boundary, and an SF_COMPACT
 * page byte, give a page of sf_pattern(page, MIG_PAGE_SIZE, pattern).
 */
void sf_pattern(uint8_t *dst, size_t len, uint32_t pattern);

/* Which mode runs: the input's SF_ROUNDTRIP flag, or one forced. */
enum sf_mode {
	SF_MODE_INPUT,
	SF_MODE_RESUME,
	SF_MODE_TRIP,
};

/**
 * sf_run() - run one input, checking every property; abort() on a violation
 * @data: the input
 * @size: its length
 * @mode: enum sf_mode; the fuzz targets stream_fuzz_resume and
 *        stream_fuzz_trip force theirs, whatever the flag says
 * @res: filled with what happened, or NULL
 * @keep_stream: round trip: hand the saved stream back in @res
 *
 * Return: 0.
 */
int sf_run(const uint8_t *data, size_t size, enum sf_mode mode,
	   struct sf_result *res, int keep_stream);

#endif /* STREAM_FUZZ_H */

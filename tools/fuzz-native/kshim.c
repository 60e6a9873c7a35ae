// SPDX-License-Identifier: GPL-2.0
/*
 * kshim.c: the stand-ins of include/kshim.h that need a definition, and
 * those with loops, which are compiled without coverage instrumentation.
 */
#include "kshim.h"

const u8 kshim_zero_page[PAGE_SIZE] __attribute__((aligned(PAGE_SIZE)));

s64 kshim_now_ns;

void kshim_bug(const char *file, int line, const char *what)
{
	fprintf(stderr, "kshim: kernel bug at %s:%d: %s\n", file, line, what);
	abort();
}

unsigned long kshim_find(const unsigned long *addr, unsigned long size,
			 unsigned long off, bool val)
{
	unsigned long word;

	while (off < size) {
		word = addr[off / BITS_PER_LONG];
		if (!val)
			word = ~word;
		word &= ~0UL << (off % BITS_PER_LONG);
		if (word) {
			off = off / BITS_PER_LONG * BITS_PER_LONG +
			      __builtin_ctzl(word);
			return min(off, size);
		}
		off = (off / BITS_PER_LONG + 1) * BITS_PER_LONG;
	}
	return size;
}

void bitmap_set(unsigned long *map, unsigned int start, unsigned int len)
{
	while (len--)
		__set_bit(start++, map);
}

void bitmap_clear(unsigned long *map, unsigned int start, unsigned int len)
{
	while (len--)
		__clear_bit(start++, map);
}

unsigned int bitmap_weight(const unsigned long *src, unsigned int nbits)
{
	unsigned int i, w = 0;

	for (i = 0; i < nbits; i++)
		w += test_bit(i, src);
	return w;
}

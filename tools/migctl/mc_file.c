// SPDX-License-Identifier: GPL-2.0
/*
 * migctl: the file format.
 *
 * A file (all little endian) is a struct migctl_file_hdr of hdr_len
 * bytes, then stream_len bytes of raw migration stream exactly as the
 * device produced it.  The header names the source device (PCI IDs from
 * config space, region type, mdev type), and carries the CRC-32 of the
 * stream and of itself.  The stream is the device's, whichever protocol
 * carried it: a file saved through one protocol loads through the other.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "migctl.h"

/* ------------------------------------------------------------------ */
/* CRC-32 (IEEE 802.3, reflected, as zlib), slice-by-8                  */
/* ------------------------------------------------------------------ */

static uint32_t crc_tab[8][256];

void crc32_init(void)
{
	uint32_t i, j, c;

	for (i = 0; i < 256; i++) {
		c = i;
		for (j = 0; j < 8; j++)
			c = c & 1 ? 0xedb88320U ^ (c >> 1) : c >> 1;
		crc_tab[0][i] = c;
	}
	for (i = 0; i < 256; i++)
		for (j = 1; j < 8; j++)
			crc_tab[j][i] = (crc_tab[j - 1][i] >> 8) ^
					crc_tab[0][crc_tab[j - 1][i] & 0xff];
}

/* Continue a CRC-32: start with crc32_update(0, ...). */
uint32_t crc32_update(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	crc = ~crc;
	while (len >= 8) {
		uint32_t a, b;

		memcpy(&a, p, 4);
		memcpy(&b, p + 4, 4);
		a = le32toh(a) ^ crc;
		b = le32toh(b);
		crc = crc_tab[7][a & 0xff] ^ crc_tab[6][(a >> 8) & 0xff] ^
		      crc_tab[5][(a >> 16) & 0xff] ^ crc_tab[4][a >> 24] ^
		      crc_tab[3][b & 0xff] ^ crc_tab[2][(b >> 8) & 0xff] ^
		      crc_tab[1][(b >> 16) & 0xff] ^ crc_tab[0][b >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = crc_tab[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

/* ------------------------------------------------------------------ */
/* The file                                                            */
/* ------------------------------------------------------------------ */

uint32_t hdr_csum(const struct migctl_file_hdr *h)
{
	return crc32_update(0, h, offsetof(struct migctl_file_hdr, hdr_csum));
}

void hdr_to_le(struct migctl_file_hdr *h)
{
	h->version = htole32(h->version);
	h->hdr_len = htole32(h->hdr_len);
	h->vendor = htole16(h->vendor);
	h->device = htole16(h->device);
	h->subvendor = htole16(h->subvendor);
	h->subdevice = htole16(h->subdevice);
	h->region_type = htole32(h->region_type);
	h->region_subtype = htole32(h->region_subtype);
	h->stream_len = htole64(h->stream_len);
	h->precopy_bytes = htole64(h->precopy_bytes);
	h->stopcopy_bytes = htole64(h->stopcopy_bytes);
	h->section_size = htole64(h->section_size);
	h->digest = htole64(h->digest);
	h->passes = htole32(h->passes);
	h->flags = htole32(h->flags);
	h->csum_type = htole32(h->csum_type);
	h->stream_csum = htole32(h->stream_csum);
}

/* The same swaps undo themselves. */
static void hdr_from_le(struct migctl_file_hdr *h)
{
	hdr_to_le(h);
	h->hdr_csum = le32toh(h->hdr_csum);
}

/*
 * Open @name and check its header and length; with @verify also the
 * stream checksum (a full read).
 */
int mc_file_open(struct mc_file *f, const char *name, int flags, bool verify)
{
	struct stat sb;
	uint32_t crc;
	ssize_t n;

	f->fd = open(name, flags | O_CLOEXEC);
	if (f->fd < 0)
		return fail(errno == ENOENT ? EX_BADFILE : EX_IO, "%s: %s",
			    name, strerror(errno));
	if (fstat(f->fd, &sb))
		return fail(EX_IO, "%s: %s", name, strerror(errno));
	f->size = sb.st_size;
	n = pread(f->fd, &f->h, sizeof(f->h), 0);
	if (n < 0)
		return fail(EX_IO, "%s: %s", name, strerror(errno));
	if ((size_t)n < sizeof(f->h) ||
	    memcmp(f->h.magic, MC_MAGIC, sizeof(f->h.magic)))
		return fail(EX_BADFILE, "%s: not a migctl file%s", name,
			    (size_t)n < sizeof(f->h) &&
			    !memcmp(f->h.magic, MC_MAGIC, 8) ?
			    " (truncated header)" : "");
	hdr_from_le(&f->h);
	if (f->h.version != MC_VERSION)
		return fail(EX_BADFILE, "%s: file format version %u, migctl reads %u",
			    name, f->h.version, MC_VERSION);
	if (f->h.hdr_len != sizeof(f->h) ||
	    f->h.csum_type != MC_CSUM_CRC32) {
		return fail(EX_BADFILE, "%s: unknown header layout (length %u, checksum type %u)",
			    name, f->h.hdr_len, f->h.csum_type);
	}
	{
		struct migctl_file_hdr raw = f->h;

		hdr_to_le(&raw);
		if (hdr_csum(&raw) != f->h.hdr_csum)
			return fail(EX_BADFILE, "%s: header checksum mismatch (corrupted file)",
				    name);
	}
	if (f->size < f->h.hdr_len + f->h.stream_len)
		return fail(EX_BADFILE, "%s: truncated: %" PRIu64 " of %" PRIu64 " stream bytes present",
			    name, f->size - f->h.hdr_len, f->h.stream_len);
	if (f->size > f->h.hdr_len + f->h.stream_len)
		return fail(EX_BADFILE, "%s: %" PRIu64 " unexpected bytes after the stream",
			    name, f->size - f->h.hdr_len - f->h.stream_len);
	if (!verify)
		return EX_OK;

	{
		static uint8_t buf[1 << 20];
		uint64_t off = 0;

		crc = 0;
		while (off < f->h.stream_len) {
			size_t want = sizeof(buf);

			if (want > f->h.stream_len - off)
				want = f->h.stream_len - off;
			n = pread(f->fd, buf, want, f->h.hdr_len + off);
			if (n < 0)
				return fail(EX_IO, "%s: %s", name,
					    strerror(errno));
			if (n == 0)
				return fail(EX_BADFILE, "%s: truncated", name);
			crc = crc32_update(crc, buf, n);
			off += n;
		}
	}
	if (crc != f->h.stream_csum)
		return fail(EX_BADFILE, "%s: stream checksum mismatch: file says %08x, stream has %08x (corrupted file)",
			    name, f->h.stream_csum, crc);
	return EX_OK;
}

void fill_ident(struct migctl_file_hdr *h, const struct mc_dev *m)
{
	h->vendor = m->vendor;
	h->device = m->device;
	h->subvendor = m->subvendor;
	h->subdevice = m->subdevice;
	h->region_type = m->rtype;
	h->region_subtype = m->rsubtype;
	snprintf(h->dev_type, sizeof(h->dev_type), "%s", m->dev_type);
}

/*
 * Does the file (or source device) @h fit device @m?  The region type is
 * compared only when both sides have a region: a device without one
 * (protocol v2 only) writes 0/0.
 */
int check_ident(const struct migctl_file_hdr *h, const struct mc_dev *m,
		const char *what)
{
	char src[MC_TYPE_LEN + 1];
	bool regions = (h->region_type || h->region_subtype) &&
		       (m->rtype || m->rsubtype);

	snprintf(src, sizeof(src), "%.*s", MC_TYPE_LEN, h->dev_type);
	if (h->vendor == m->vendor && h->device == m->device &&
	    h->subvendor == m->subvendor && h->subdevice == m->subdevice &&
	    (!regions || (h->region_type == m->rtype &&
			  h->region_subtype == m->rsubtype)) &&
	    !strcmp(src, m->dev_type))
		return EX_OK;
	if (opt.force) {
		say("warning: %s is from %04x:%04x %s, %s is %04x:%04x %s (--force)\n",
		    what, h->vendor, h->device, src, m->name, m->vendor,
		    m->device, m->dev_type);
		return EX_OK;
	}
	return fail(EX_BADFILE, "%s is from another device type: %04x:%04x (sub %04x:%04x) %s, region %u/%u; %s is %04x:%04x (sub %04x:%04x) %s, region %u/%u (--force feeds it anyway)",
		    what, h->vendor, h->device, h->subvendor, h->subdevice,
		    src[0] ? src : "(no mdev type)", h->region_type,
		    h->region_subtype, m->name, m->vendor, m->device,
		    m->subvendor, m->subdevice,
		    m->dev_type[0] ? m->dev_type : "(no mdev type)", m->rtype,
		    m->rsubtype);
}

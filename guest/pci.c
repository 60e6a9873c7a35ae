// SPDX-License-Identifier: GPL-2.0
/*
 * guest/pci.c: find the device by vendor and device id through the legacy
 * configuration ports (0xcf8/0xcfc), turn on memory space and bus mastering,
 * and program its MSI capability.  SeaBIOS has already placed the BARs.
 */
#include "guest.h"

#define PCI_ADDR	0xcf8
#define PCI_DATA	0xcfc

#define CFG_ID		0x00
#define CFG_COMMAND	0x04
#define CMD_MEMORY	(1U << 1)
#define CMD_MASTER	(1U << 2)
#define CMD_INTX_OFF	(1U << 10)
#define CFG_STATUS	0x06
#define STATUS_CAPS	(1U << 4)
#define CFG_HEADER	0x0e
#define CFG_BAR0	0x10
#define CFG_CAPS	0x34
#define CAP_ID_MSI	0x05

#define MSI_FLAGS	2
#define MSI_ENABLE	(1U << 0)
#define MSI_QMASK	(7U << 4)	/* multiple message enable */
#define MSI_64BIT	(1U << 7)
#define MSI_ADDR_LO	4
#define MSI_ADDR_HI	8
#define MSI_ADDR	0xfee00000U	/* local APIC 0, physical, fixed */

static uint32_t cfg_addr(const struct pci_fn *f, unsigned int off)
{
	return 0x80000000U | (uint32_t)f->bus << 16 | (uint32_t)f->dev << 11 |
	       (uint32_t)f->fn << 8 | (off & 0xfc);
}

static uint32_t cfg_read32(const struct pci_fn *f, unsigned int off)
{
	outl(PCI_ADDR, cfg_addr(f, off));
	return inl(PCI_DATA);
}

static uint16_t cfg_read16(const struct pci_fn *f, unsigned int off)
{
	return (uint16_t)(cfg_read32(f, off) >> ((off & 2) * 8));
}

static uint8_t cfg_read8(const struct pci_fn *f, unsigned int off)
{
	return (uint8_t)(cfg_read32(f, off) >> ((off & 3) * 8));
}

static void cfg_write32(const struct pci_fn *f, unsigned int off, uint32_t v)
{
	outl(PCI_ADDR, cfg_addr(f, off));
	outl(PCI_DATA, v);
}

static void cfg_write16(const struct pci_fn *f, unsigned int off, uint16_t v)
{
	outl(PCI_ADDR, cfg_addr(f, off));
	outw((uint16_t)(PCI_DATA + (off & 2)), v);
}

static uint8_t find_cap(const struct pci_fn *f, uint8_t id)
{
	uint8_t off;
	unsigned int n;

	if (!(cfg_read16(f, CFG_STATUS) & STATUS_CAPS))
		return 0;
	off = cfg_read8(f, CFG_CAPS) & 0xfc;
	for (n = 0; off && n < 48; n++) {
		if (cfg_read8(f, off) == id)
			return off;
		off = cfg_read8(f, off + 1) & 0xfc;
	}
	return 0;
}

/* Bus 0 only: on q35 a -device without a bus= sits on the root bus. */
int pci_find(uint16_t vendor, uint16_t device, struct pci_fn *f)
{
	uint32_t want = (uint32_t)device << 16 | vendor, bar;
	unsigned int dev, fn, nfn;

	f->bus = 0;
	for (dev = 0; dev < 32; dev++) {
		f->dev = (uint8_t)dev;
		f->fn = 0;
		nfn = cfg_read8(f, CFG_HEADER) & 0x80 ? 8 : 1;
		for (fn = 0; fn < nfn; fn++) {
			f->fn = (uint8_t)fn;
			if (cfg_read32(f, CFG_ID) != want)
				continue;
			bar = cfg_read32(f, CFG_BAR0);
			if (bar & 1)		/* an I/O BAR: not ours */
				continue;
			f->bar0 = bar & ~0xfU;
			f->msi_cap = find_cap(f, CAP_ID_MSI);
			return 1;
		}
	}
	return 0;
}

void pci_enable(const struct pci_fn *f)
{
	uint16_t cmd = cfg_read16(f, CFG_COMMAND);

	cfg_write16(f, CFG_COMMAND, cmd | CMD_MEMORY | CMD_MASTER | CMD_INTX_OFF);
}

/* One vector to local APIC 0, fixed delivery, edge triggered. */
int pci_msi_enable(const struct pci_fn *f, uint8_t vector)
{
	unsigned int c = f->msi_cap, data;
	uint16_t flags;

	if (!c)
		return 0;
	flags = cfg_read16(f, c + MSI_FLAGS);
	cfg_write32(f, c + MSI_ADDR_LO, MSI_ADDR);
	if (flags & MSI_64BIT) {
		cfg_write32(f, c + MSI_ADDR_HI, 0);
		data = c + 12;
	} else {
		data = c + 8;
	}
	cfg_write16(f, data, vector);
	flags = (uint16_t)((flags & ~MSI_QMASK) | MSI_ENABLE);
	cfg_write16(f, c + MSI_FLAGS, flags);
	return (cfg_read16(f, c + MSI_FLAGS) & MSI_ENABLE) != 0;
}

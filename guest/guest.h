/* SPDX-License-Identifier: GPL-2.0 */
/*
 * guest/guest.h: what the files of the guest test program share.
 *
 * The program runs alone on a 32-bit x86 CPU in protected mode without
 * paging (QEMU's -kernel loads it as a multiboot image): a guest physical
 * address is its own virtual address and, with no vIOMMU, the IOVA the
 * device uses.  No libc; console.c has the few helpers it needs.
 */
#ifndef MIG_GUEST_H
#define MIG_GUEST_H

#include <stdarg.h>
#include <stdint.h>
#include <stddef.h>
#include <linux/mig_mdev.h>

#define GUEST_DEV_VECTOR	0x40	/* the device's MSI */
#define GUEST_TIMER_VECTOR	0x41	/* the local APIC timer */
#define GUEST_SPURIOUS_VECTOR	0xff
#define GUEST_HZ		100	/* timer ticks per second */

/* ---- port and memory-mapped I/O ---- */

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint32_t inl(uint16_t port)
{
	uint32_t v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static inline uint32_t mmio_read32(uintptr_t addr)
{
	return *(volatile uint32_t *)addr;
}

static inline void mmio_write32(uintptr_t addr, uint32_t v)
{
	*(volatile uint32_t *)addr = v;
}

static inline void barrier(void)
{
	__asm__ volatile("" : : : "memory");
}

/* ---- console.c: COM1, formatting ---- */

void console_init(void);
void gprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint8_t console_scratch(void);
int str_eq(const char *a, const char *b);
uint64_t str_to_u64(const char *s, int *ok);
void *memset(void *s, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void __attribute__((noreturn)) guest_halt(const char *why);

/* ---- pci.c: config space through ports 0xcf8/0xcfc ---- */

struct pci_fn {
	uint8_t bus, dev, fn;
	uintptr_t bar0;		/* the register file, as SeaBIOS placed it */
	uint8_t msi_cap;	/* offset of the MSI capability, 0: none */
};

int pci_find(uint16_t vendor, uint16_t device, struct pci_fn *f);
void pci_enable(const struct pci_fn *f);
int pci_msi_enable(const struct pci_fn *f, uint8_t vector);

/* ---- irq.c: IDT, 8259 masked, local APIC and its timer ---- */

extern volatile uint32_t irq_dev_count;		/* device interrupts taken */
extern uintptr_t irq_dev_bar0;			/* the device's BAR0, or 0 */
extern volatile uint32_t irq_ticks;		/* timer ticks */

void irq_init(void);
void irq_timer_start(uint32_t hz);
void irq_wait(void);			/* sti; hlt: sleep until an interrupt */
int irq_shadow_ok(uint32_t *ram, uint32_t *cmos);

/* ---- ring.c: the DMA ring and the check of its records ---- */

struct ring_stats {
	uint64_t ok, lost, torn;
	uint64_t tail;			/* next seq expected = records consumed */
};

void ring_setup(uintptr_t bar0, uint32_t pages, uint32_t rate, uint32_t irq_every);
void ring_stop(uintptr_t bar0);
uint64_t ring_head(uintptr_t bar0);
void ring_consume(uintptr_t bar0, uint64_t limit);
const struct ring_stats *ring_stats(void);
uint32_t ring_slots(void);
uintptr_t ring_iova(void);

/* irq.c, called from boot.S's stubs */
void irq_device(void);
void irq_timer(void);
void irq_exception(uint32_t vector);

/* boot.S */
extern void isr_device(void);
extern void isr_timer(void);
extern void isr_spurious(void);
extern uint32_t isr_exception_table[32];

#endif /* MIG_GUEST_H */

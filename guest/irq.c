// SPDX-License-Identifier: GPL-2.0
/*
 * guest/irq.c: the IDT, the 8259s masked, the local APIC (xAPIC at its
 * reset address, no paging needed) with a periodic timer, and the counters
 * the two interrupt handlers keep.
 */
#include "guest.h"

#define PIC1_DATA	0x21
#define PIC2_DATA	0xa1

#define APIC_BASE	0xfee00000U
#define APIC_TPR	0x080
#define APIC_EOI	0x0b0
#define APIC_SVR	0x0f0
#define APIC_SVR_ON	(1U << 8)
#define APIC_LVT_TIMER	0x320
#define APIC_TIMER_PERIODIC (1U << 17)
#define APIC_LVT_LINT0	0x350
#define APIC_LVT_LINT1	0x360
#define APIC_LVT_MASKED	(1U << 16)
#define APIC_TIMER_INIT	0x380
#define APIC_TIMER_DIV	0x3e0
#define APIC_DIV_1	0x0b
/* QEMU's APIC timer counts at 1 GHz (one count per ns) before the divider. */
#define APIC_TIMER_HZ	1000000000U

struct idt_gate {
	uint16_t off_lo;
	uint16_t sel;
	uint8_t zero;
	uint8_t type;
	uint16_t off_hi;
} __attribute__((packed));

static struct idt_gate idt[256] __attribute__((aligned(8)));

volatile uint32_t irq_dev_count;
uintptr_t irq_dev_bar0;
volatile uint32_t irq_ticks;

static void apic_write(unsigned int reg, uint32_t v)
{
	mmio_write32(APIC_BASE + reg, v);
}

static void set_gate(unsigned int vec, uint32_t handler)
{
	idt[vec].off_lo = (uint16_t)handler;
	idt[vec].sel = 0x08;
	idt[vec].zero = 0;
	idt[vec].type = 0x8e;		/* present, ring 0, 32-bit interrupt gate */
	idt[vec].off_hi = (uint16_t)(handler >> 16);
}

/*
 * The device's interrupt: count it and acknowledge it (STATUS.IRQ, write 1
 * to clear) before the EOI.  The DMA engine does not write past a record
 * that raised an interrupt until it is acknowledged, so no two of its
 * interrupts can merge into one (in the eventfd, or in the APIC's IRR)
 * and the count can be compared with the device's exactly.
 */
void irq_device(void)
{
	irq_dev_count++;
	if (irq_dev_bar0)
		mmio_write32(irq_dev_bar0 + MIG_REG_STATUS, MIG_STATUS_IRQ);
	apic_write(APIC_EOI, 0);
}

/*
 * The tick count is kept twice: in RAM, and in four bytes of the RTC's
 * NVRAM (CMOS 0x40-0x43), an emulated device whose state QEMU saves with
 * the CPU's.  Each tick first compares the two (a migration may have come
 * in between), then writes both.  The first disagreement is kept for the
 * main loop (irq_shadow_ok): the RAM that arrived is not the RAM the CPU
 * left.
 */
#define CMOS_INDEX	0x70
#define CMOS_DATA	0x71
#define CMOS_SHADOW	0x40

static void cmos_put(uint32_t v)
{
	unsigned int i;

	for (i = 0; i < 4; i++) {
		outb(CMOS_INDEX, (uint8_t)(CMOS_SHADOW + i));
		outb(CMOS_DATA, (uint8_t)(v >> (8 * i)));
	}
}

static uint32_t cmos_get(void)
{
	uint32_t v = 0;
	unsigned int i;

	for (i = 0; i < 4; i++) {
		outb(CMOS_INDEX, (uint8_t)(CMOS_SHADOW + i));
		v |= (uint32_t)inb(CMOS_DATA) << (8 * i);
	}
	return v;
}

static uint32_t shadow_bad, shadow_ram, shadow_cmos;

void irq_timer(void)
{
	uint32_t c = cmos_get();

	if (c != irq_ticks && !shadow_bad) {
		shadow_bad = 1;
		shadow_ram = irq_ticks;
		shadow_cmos = c;
	}
	irq_ticks++;
	cmos_put(irq_ticks);
	apic_write(APIC_EOI, 0);
}

/*
 * Have the RAM count and the CMOS copy always agreed?  If not, the first
 * pair that did not.
 */
int irq_shadow_ok(uint32_t *ram, uint32_t *cmos)
{
	*ram = shadow_bad ? shadow_ram : irq_ticks;
	*cmos = shadow_bad ? shadow_cmos : *ram;
	return !shadow_bad;
}

void irq_exception(uint32_t vector)
{
	gprintf("DMACHECK FATAL cpu exception %u\n", vector);
	guest_halt("exception");
}

void irq_init(void)
{
	struct {
		uint16_t limit;
		uint32_t base;
	} __attribute__((packed)) desc = { sizeof(idt) - 1, (uint32_t)(uintptr_t)idt };
	unsigned int v;

	outb(PIC1_DATA, 0xff);
	outb(PIC2_DATA, 0xff);
	for (v = 0; v < 32; v++)
		set_gate(v, isr_exception_table[v]);
	set_gate(GUEST_DEV_VECTOR, (uint32_t)(uintptr_t)isr_device);
	set_gate(GUEST_TIMER_VECTOR, (uint32_t)(uintptr_t)isr_timer);
	set_gate(GUEST_SPURIOUS_VECTOR, (uint32_t)(uintptr_t)isr_spurious);
	__asm__ volatile("lidt %0" : : "m"(desc));

	apic_write(APIC_SVR, APIC_SVR_ON | GUEST_SPURIOUS_VECTOR);
	apic_write(APIC_TPR, 0);
	apic_write(APIC_LVT_LINT0, APIC_LVT_MASKED);
	apic_write(APIC_LVT_LINT1, APIC_LVT_MASKED);
}

void irq_timer_start(uint32_t hz)
{
	cmos_put(irq_ticks);
	apic_write(APIC_TIMER_DIV, APIC_DIV_1);
	apic_write(APIC_LVT_TIMER, APIC_TIMER_PERIODIC | GUEST_TIMER_VECTOR);
	apic_write(APIC_TIMER_INIT, APIC_TIMER_HZ / hz);
}

/* sti takes effect after the next instruction: no wake-up is missed. */
void irq_wait(void)
{
	__asm__ volatile("sti; hlt; cli" : : : "memory");
}

// SPDX-License-Identifier: GPL-2.0
/*
 * guest/main.c: the guest test program (docs/GUEST.md).
 *
 * It finds the mig-mdev device on the PCI bus, enables memory space and bus
 * mastering, points the device's MSI at the local APIC, and then runs one of
 * two modes until the host tells it to finish (the UART scratch register,
 * console.c) or, with ticks=N, by itself:
 *
 *   mode=dma       program the DMA ring and check every record, in order
 *   mode=doorbell  ring the doorbell, one ring per delivered interrupt
 *   mode=idle      no device: only the timer, the reports and the check
 *                  below (a control for the migration of the guest itself)
 *
 * In every mode the guest checks that its own memory migrates whole: the
 * timer keeps the tick count in RAM and a copy in the RTC's NVRAM (irq.c),
 * and the main loop keeps its last report's tick in a register.  A RAM
 * count that differs from the copy, or is behind the register, means the
 * RAM that arrived is older than the CPU and device state (a page the
 * migration did not send again): "FATAL stale memory" ends the run.
 *
 * It prints one machine-readable line every report=N ticks:
 *
 *   DMACHECK t=T mode=M ok=N lost=N torn=N irqs=N dev_irqs=N dma_irqs=N
 *            head=N tail=N rings=N
 *
 * (one line), a line per run of bad records (ring.c), and at the end a
 * FINAL line in the same format and "DMACHECK END pass" or "END fail".
 * irqs are the device interrupts this program took, dev_irqs what the
 * device says it raised (IRQ_COUNT since the start).
 */
#include "guest.h"

#define MB_INFO_CMDLINE	(1U << 2)

struct multiboot_info {
	uint32_t flags;
	uint32_t mem_lower, mem_upper;
	uint32_t boot_device;
	uint32_t cmdline;
};

enum mode { MODE_DMA, MODE_DOORBELL, MODE_IDLE };

static struct {
	enum mode mode;
	uint32_t pages, rate, irq_every, lag;
	uint32_t report, bell, ticks;
	uint32_t vendor, device;
} cfg = {
	.mode = MODE_DMA,
	.pages = 16, .rate = 200, .irq_every = 32, .lag = 64,
	.report = GUEST_HZ, .bell = GUEST_HZ / 10, .ticks = 0,
	.vendor = MIG_MDEV_PCI_VENDOR, .device = MIG_MDEV_PCI_DEVICE,
};

static struct pci_fn dev;
static uint32_t irq_base, dma_irq_base, rings;

/* A table of the numeric parameters: name, where, smallest, largest. */
static const struct {
	const char *name;
	uint32_t *val;
	uint32_t min, max;
} params[] = {
	{ "pages", &cfg.pages, 1, MIG_DMA_MAX_RING_PAGES },
	{ "rate", &cfg.rate, 1, 0xffffffffU },
	{ "irq_every", &cfg.irq_every, 0, 0xffffffffU },
	{ "lag", &cfg.lag, 0, MIG_DMA_MAX_RING_PAGES * MIG_DMA_RECS_PER_PAGE - 1 },
	{ "report", &cfg.report, 1, 0xffffffffU },
	{ "bell", &cfg.bell, 1, 0xffffffffU },
	{ "ticks", &cfg.ticks, 0, 0xffffffffU },
	{ "vendor", &cfg.vendor, 0, 0xffff },
	{ "device", &cfg.device, 0, 0xffff },
};

static void set_param(char *word)
{
	char *val = word;
	uint64_t v;
	unsigned int i;
	int ok;

	while (*val && *val != '=')
		val++;
	if (!*val)
		return;			/* the image's own name, or a bare word */
	*val++ = 0;
	if (str_eq(word, "mode")) {
		if (str_eq(val, "dma"))
			cfg.mode = MODE_DMA;
		else if (str_eq(val, "doorbell"))
			cfg.mode = MODE_DOORBELL;
		else if (str_eq(val, "idle"))
			cfg.mode = MODE_IDLE;
		else
			guest_halt("mode= is dma, doorbell or idle");
		return;
	}
	for (i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		if (!str_eq(word, params[i].name))
			continue;
		v = str_to_u64(val, &ok);
		if (!ok || v < params[i].min || v > params[i].max) {
			gprintf("DMACHECK FATAL bad value %s=%s (%u..%u)\n", word, val,
				params[i].min, params[i].max);
			guest_halt("bad parameter");
		}
		*params[i].val = (uint32_t)v;
		return;
	}
	gprintf("DMACHECK NOTE unknown parameter %s ignored\n", word);
}

/* QEMU passes "-append" as the command line, after the image's name. */
static void parse_cmdline(uint32_t magic, const struct multiboot_info *mbi)
{
	static char buf[512];
	char *p, *w;
	unsigned int n = 0;

	if (magic != 0x2badb002 || !(mbi->flags & MB_INFO_CMDLINE))
		return;
	for (p = (char *)(uintptr_t)mbi->cmdline; *p && n < sizeof(buf) - 1; p++)
		buf[n++] = *p;
	buf[n] = 0;
	gprintf("DMACHECK cmdline %s\n", buf);
	for (p = buf; *p;) {
		while (*p == ' ')
			p++;
		w = p;
		while (*p && *p != ' ')
			p++;
		if (*p)
			*p++ = 0;
		if (*w)
			set_param(w);
	}
	if (cfg.lag >= cfg.pages * MIG_DMA_RECS_PER_PAGE)
		guest_halt("lag= must be smaller than the ring's slots");
}

static const char *const mode_names[] = {
	[MODE_DMA] = "dma", [MODE_DOORBELL] = "doorbell", [MODE_IDLE] = "idle",
};

static uint32_t reg(unsigned int off)
{
	return dev.bar0 ? mmio_read32(dev.bar0 + off) : 0;
}

static void report(const char *what)
{
	const struct ring_stats *r = ring_stats();

	gprintf("DMACHECK %s t=%u mode=%s ok=%llu lost=%llu torn=%llu irqs=%u dev_irqs=%u dma_irqs=%u head=%llu tail=%llu rings=%u\n",
		what, irq_ticks, mode_names[cfg.mode],
		r->ok, r->lost, r->torn, irq_dev_count,
		reg(MIG_REG_IRQ_COUNT) - irq_base,
		cfg.mode == MODE_DMA ? reg(MIG_REG_DMA_IRQ_COUNT) - dma_irq_base : 0,
		cfg.mode == MODE_DMA ? ring_head(dev.bar0) : 0ULL, r->tail, rings);
}

static void setup_device(void)
{
	uint32_t rev;

	if (!pci_find((uint16_t)cfg.vendor, (uint16_t)cfg.device, &dev)) {
		gprintf("DMACHECK FATAL no device %04x:%04x on bus 0\n", cfg.vendor, cfg.device);
		guest_halt("no device");
	}
	if (!dev.bar0)
		guest_halt("BAR0 is not assigned");
	pci_enable(&dev);
	if (reg(MIG_REG_ID) != MIG_REG_ID_VALUE)
		guest_halt("BAR0's ID register does not read MIGM");
	if (!pci_msi_enable(&dev, GUEST_DEV_VECTOR))
		guest_halt("no MSI capability, or MSI does not enable");
	rev = reg(MIG_REG_REVISION);
	gprintf("DMACHECK device %02x:%02x.%x bar0=0x%08x rev=%u msi_cap=0x%02x vector=0x%02x\n",
		dev.bus, dev.dev, dev.fn, (uint32_t)dev.bar0, rev, dev.msi_cap,
		GUEST_DEV_VECTOR);
	if (cfg.mode == MODE_DMA && rev < 2) {
		gprintf("DMACHECK SKIP the device has no DMA engine (register file revision %u)\n", rev);
		gprintf("DMACHECK END skip\n");
		for (;;)
			__asm__ volatile("cli; hlt");
	}
	/* the doorbell and the DMA raise the IRQ only with IRQ_EN */
	irq_dev_bar0 = dev.bar0;
	mmio_write32(dev.bar0 + MIG_REG_CONTROL, reg(MIG_REG_CONTROL) | MIG_CTRL_IRQ_EN);
	irq_base = reg(MIG_REG_IRQ_COUNT);
	if (cfg.mode == MODE_DMA)
		dma_irq_base = reg(MIG_REG_DMA_IRQ_COUNT);
}

static void doorbell_step(uint32_t now, uint32_t *last)
{
	if (now - *last < cfg.bell || irq_dev_count != rings)
		return;		/* too early, or the last ring's interrupt is due */
	rings++;
	mmio_write32(dev.bar0 + MIG_REG_DOORBELL, 1);
	*last = now;
}

/*
 * Drain and quiesce: stop the DMA, check every record up to HEAD, give
 * the interrupts still on their way up to 2 s, then the verdict.
 */
static void __attribute__((noreturn)) finish(void)
{
	const struct ring_stats *r = ring_stats();
	uint32_t t0 = irq_ticks, dev_irqs;
	uint64_t head = 0;
	int pass;

	if (cfg.mode == MODE_DMA) {
		ring_stop(dev.bar0);
		head = ring_head(dev.bar0);
		ring_consume(dev.bar0, head);
	}
	while ((dev_irqs = reg(MIG_REG_IRQ_COUNT) - irq_base) != irq_dev_count &&
	       irq_ticks - t0 < 2 * GUEST_HZ)
		irq_wait();
	report("FINAL");
	pass = r->lost == 0 && r->torn == 0 && dev_irqs == irq_dev_count;
	if (cfg.mode == MODE_DMA)
		pass = pass && r->tail == head && r->ok == head;
	else if (cfg.mode == MODE_DOORBELL)
		pass = pass && rings == dev_irqs && rings > 0;
	gprintf("DMACHECK END %s\n", pass ? "pass" : "fail");
	for (;;)
		__asm__ volatile("cli; hlt");
}

void guest_main(uint32_t magic, const struct multiboot_info *mbi);

void guest_main(uint32_t magic, const struct multiboot_info *mbi)
{
	uint32_t now, last_report = 0, last_bell = 0, ram, cmos;
	uint64_t head;

	console_init();
	gprintf("\nDMACHECK hello: mig-mdev guest test program\n");
	parse_cmdline(magic, mbi);
	irq_init();
	if (cfg.mode != MODE_IDLE)
		setup_device();
	irq_timer_start(GUEST_HZ);
	if (cfg.mode == MODE_DMA) {
		ring_setup(dev.bar0, cfg.pages, cfg.rate, cfg.irq_every);
		gprintf("DMACHECK start mode=dma ring=0x%08x pages=%u slots=%u rate=%u irq_every=%u lag=%u\n",
			(uint32_t)ring_iova(), cfg.pages, ring_slots(), cfg.rate,
			cfg.irq_every, cfg.lag);
	} else {
		gprintf("DMACHECK start mode=%s bell=%u\n", mode_names[cfg.mode], cfg.bell);
	}
	for (;;) {
		irq_wait();
		now = irq_ticks;
		if (cfg.mode == MODE_DMA) {
			head = ring_head(dev.bar0);
			if (head > cfg.lag)
				ring_consume(dev.bar0, head - cfg.lag);
		} else if (cfg.mode == MODE_DOORBELL) {
			doorbell_step(now, &last_bell);
		}
		if (!irq_shadow_ok(&ram, &cmos) || now < last_report) {
			gprintf("DMACHECK FATAL stale memory: ticks %u in RAM, %u in CMOS, %u at the last report\n",
				ram, cmos, last_report);
			report("FINAL");
			guest_halt("stale memory");
		}
		if (now - last_report >= cfg.report) {
			report("report");
			last_report = now;
		}
		if (console_scratch() || (cfg.ticks && now >= cfg.ticks))
			finish();
	}
}

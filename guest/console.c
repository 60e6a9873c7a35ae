// SPDX-License-Identifier: GPL-2.0
/*
 * guest/console.c: output on COM1 (0x3f8) and the few libc-like helpers the
 * guest program needs.  The UART's scratch register (COM1 + 7) doubles as
 * the host's "finish now" signal: the test writes it over the QEMU monitor
 * (HMP "o 0x3ff 1"), and it migrates with the UART's state.
 */
#include "guest.h"

#define COM1		0x3f8
#define COM1_LSR	(COM1 + 5)
#define LSR_THRE	0x20
#define COM1_SCR	(COM1 + 7)

void console_init(void)
{
	outb(COM1 + 1, 0x00);		/* no UART interrupts */
	outb(COM1 + 3, 0x80);		/* DLAB: divisor follows */
	outb(COM1 + 0, 0x01);		/* 115200 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03);		/* 8N1 */
	outb(COM1 + 2, 0x07);		/* FIFO on, cleared */
	outb(COM1_SCR, 0);
}

uint8_t console_scratch(void)
{
	return inb(COM1_SCR);
}

static void put_char(char c)
{
	unsigned int n = 0;

	if (c == '\n')
		put_char('\r');
	while (!(inb(COM1_LSR) & LSR_THRE) && ++n < 100000)
		;
	outb(COM1, (uint8_t)c);
}

static void put_str(const char *s)
{
	while (*s)
		put_char(*s++);
}

/* n / 10 with shifts and adds: no libgcc in a 32-bit freestanding build. */
static uint64_t div10(uint64_t n, unsigned int *rem)
{
	uint64_t q = (n >> 1) + (n >> 2);
	uint64_t r;

	q += q >> 4;
	q += q >> 8;
	q += q >> 16;
	q += q >> 32;
	q >>= 3;
	r = n - q * 10;
	if (r > 9) {
		q++;
		r -= 10;
	}
	*rem = (unsigned int)r;
	return q;
}

static void put_dec(uint64_t v)
{
	char buf[24];
	unsigned int i = 0, r;

	do {
		v = div10(v, &r);
		buf[i++] = (char)('0' + r);
	} while (v);
	while (i)
		put_char(buf[--i]);
}

static void put_hex(uint64_t v, unsigned int width)
{
	static const char digits[] = "0123456789abcdef";
	char buf[16];
	unsigned int i = 0;

	do {
		buf[i++] = digits[v & 0xf];
		v >>= 4;
	} while (v && i < sizeof(buf));
	while (i < width && i < sizeof(buf))
		buf[i++] = '0';
	while (i)
		put_char(buf[--i]);
}

/*
 * A printf for what the program prints: %s %c %u %x %llu %llx, an optional
 * zero-padded width for %x ("%08x"), and %%.
 */
void gprintf(const char *fmt, ...)
{
	va_list ap;
	unsigned int width;
	int ll;

	va_start(ap, fmt);
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			put_char(*fmt);
			continue;
		}
		fmt++;
		width = 0;
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (unsigned int)(*fmt++ - '0');
		ll = 0;
		while (*fmt == 'l') {
			ll++;
			fmt++;
		}
		switch (*fmt) {
		case 's':
			put_str(va_arg(ap, const char *));
			break;
		case 'c':
			put_char((char)va_arg(ap, int));
			break;
		case 'u':
			put_dec(ll >= 2 ? va_arg(ap, uint64_t) : va_arg(ap, unsigned int));
			break;
		case 'x':
			put_hex(ll >= 2 ? va_arg(ap, uint64_t) : va_arg(ap, unsigned int), width);
			break;
		case '%':
			put_char('%');
			break;
		default:
			put_char('?');
			break;
		}
	}
	va_end(ap);
}

int str_eq(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

/* Decimal or 0x-prefixed hex; *ok is 0 on anything else. */
uint64_t str_to_u64(const char *s, int *ok)
{
	uint64_t v = 0;
	unsigned int base = 10, d;

	*ok = 0;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!*s)
		return 0;
	for (; *s; s++) {
		if (*s >= '0' && *s <= '9')
			d = (unsigned int)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned int)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned int)(*s - 'A' + 10);
		else
			return 0;
		v = (base == 16 ? v << 4 : (v << 3) + (v << 1)) + d;
	}
	*ok = 1;
	return v;
}

/* GCC may emit calls to these two even in a freestanding build. */
void *memset(void *s, int c, size_t n)
{
	unsigned char *p = s;

	while (n--)
		*p++ = (unsigned char)c;
	return s;
}

void *memcpy(void *d, const void *s, size_t n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;

	while (n--)
		*dp++ = *sp++;
	return d;
}

void guest_halt(const char *why)
{
	gprintf("DMACHECK FATAL %s\n", why);
	gprintf("DMACHECK END fail\n");
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * guest/boot.S: entry of the guest test program and its interrupt stubs.
 *
 * QEMU's -kernel loads a multiboot v1 ELF and enters _start in 32-bit
 * protected mode with flat segments, paging off, interrupts off, EAX the
 * multiboot magic and EBX the address of the multiboot information.  We
 * load our own GDT (the loader's may live in memory we reuse), clear BSS,
 * set up a stack and call guest_main(magic, info).
 */
#define MB_MAGIC	0x1badb002
#define MB_FLAGS	0x00000003	/* page-aligned modules, memory info */

	.section .multiboot, "a"
	.balign 4
	.long MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)

	.text
	.code32
	.globl _start
_start:
	cli
	lgdt gdt_desc
	ljmp $0x08, $1f
1:	movw $0x10, %cx
	movw %cx, %ds
	movw %cx, %es
	movw %cx, %fs
	movw %cx, %gs
	movw %cx, %ss
	movl %eax, %esi			/* keep the magic: stosb uses eax */
	movl $__bss_start, %edi
	movl $__bss_end, %ecx
	subl %edi, %ecx
	xorl %eax, %eax
	cld
	rep stosb
	movl $stack_top, %esp
	pushl %ebx
	pushl %esi
	call guest_main
2:	cli
	hlt
	jmp 2b

/* Device and timer interrupts: save the caller-saved state, call C. */
	.globl isr_device
isr_device:
	pushal
	cld
	call irq_device
	popal
	iretl

	.globl isr_timer
isr_timer:
	pushal
	cld
	call irq_timer
	popal
	iretl

	.globl isr_spurious
isr_spurious:
	iretl				/* no EOI for the spurious vector */

/* CPU exceptions 0-31: report the vector and stop (irq_exception). */
	.macro exc n
exc_\n:
	pushl $\n
	jmp exc_common
	.endm
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	exc \n
	.endr
exc_common:
	cld
	call irq_exception		/* does not return */

	.section .rodata
	.balign 4
	.globl isr_exception_table
isr_exception_table:
	.irp n, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
	.long exc_\n
	.endr

	.balign 8
gdt:
	.quad 0
	.quad 0x00cf9a000000ffff	/* 0x08: code, flat 4 GiB */
	.quad 0x00cf92000000ffff	/* 0x10: data, flat 4 GiB */
gdt_end:
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt

	.bss
	.balign 16
stack:
	.skip 16384
stack_top:

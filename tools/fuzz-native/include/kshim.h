/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kshim.h - the kernel API of the module's device-model and stream files,
 * in user space, for the native fuzzer (tools/fuzz-native).
 *
 * mig_stream.c, mig_dev.c, mig_cfg.c and mig_state.c are compiled unchanged
 * with this directory first on the include path: each <linux/...> header
 * they or mig.h include is a one-line file here that includes this one (a
 * few first include the system's uapi header of the same name).  What the
 * stand-ins do:
 *
 *  - types, byte order, unaligned access, bit and arithmetic helpers: the
 *    kernel's semantics on a little-endian 64-bit machine;
 *  - allocation: malloc and friends, so AddressSanitizer sees every block;
 *  - bitmaps: bit-by-bit, simple rather than fast; bitmap_fill() sets the
 *    tail bits of the last word, as the kernel's does;
 *  - struct mutex: a flag; taking a held mutex (a self-deadlock), releasing
 *    a free one, or lockdep_assert_held() on a free one is a bug here;
 *  - delayed work: schedule/queue only mark the item pending; the harness
 *    runs it with kshim_run_delayed_work(), as a worker thread would;
 *  - time: a clock the harness sets (kshim_now_ns), jiffies are ms;
 *  - xxh64: Debian's libxxhash (the reference XXH64), so the module's own
 *    copy-and-hash of a page is checked against an independent one;
 *  - WARN_ON(), WARN_ON_ONCE(), BUG_ON(): print and abort(), so that the
 *    fuzzer keeps the input (the kernel must not WARN on any input);
 *  - printk, dev_dbg(), tracepoints, might_sleep(), cond_resched(): nothing,
 *    but their arguments are evaluated and printk formats checked.
 *
 * Nothing here is thread-safe: the harness is single-threaded.
 */
#ifndef KSHIM_H
#define KSHIM_H

#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <linux/types.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

/* ---- types and annotations ---- */

typedef __u8 u8;
typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;
typedef __s8 s8;
typedef __s16 s16;
typedef __s32 s32;
typedef __s64 s64;
typedef s64 ktime_t;
typedef unsigned int gfp_t;

#define __user
#define __iomem
#define __force
#define __must_check	__attribute__((warn_unused_result))
#define __maybe_unused	__attribute__((unused))
#define __printf(a, b)	__attribute__((format(printf, a, b)))
#define likely(x)	__builtin_expect(!!(x), 1)
#define unlikely(x)	__builtin_expect(!!(x), 0)
#define fallthrough	__attribute__((__fallthrough__))

/* ---- bugs: abort, so that libFuzzer keeps the input ---- */

/**
 * kshim_bug() - report a kernel bug (WARN, BUG, lock misuse) and abort
 * @file: source file
 * @line: line
 * @what: what happened
 */
void kshim_bug(const char *file, int line, const char *what)
	__attribute__((noreturn));

#define KSHIM_BUG_IF(cond, what) ({					\
	bool __c = !!(cond);						\
	if (unlikely(__c))						\
		kshim_bug(__FILE__, __LINE__, what);			\
	__c;								\
})
#define WARN_ON(cond)		KSHIM_BUG_IF(cond, "WARN_ON(" #cond ")")
#define WARN_ON_ONCE(cond)	KSHIM_BUG_IF(cond, "WARN_ON_ONCE(" #cond ")")
#define WARN(cond, fmt...)	KSHIM_BUG_IF(cond, "WARN(" #cond ")")
#define WARN_ONCE(cond, fmt...)	KSHIM_BUG_IF(cond, "WARN_ONCE(" #cond ")")
#define BUG_ON(cond)		((void)KSHIM_BUG_IF(cond, "BUG_ON(" #cond ")"))
#define BUG()			kshim_bug(__FILE__, __LINE__, "BUG()")

/* static_assert() with an optional message, as <linux/build_bug.h> has it */
#define static_assert(expr, ...) __kshim_sa(expr, ##__VA_ARGS__, #expr)
#define __kshim_sa(expr, msg, ...) _Static_assert(expr, msg)
#define BUILD_BUG_ON(cond)	_Static_assert(!(cond), #cond)

/* ---- printk and friends: formats checked, nothing printed ---- */

static inline __printf(1, 2) void kshim_nolog(const char *fmt, ...)
{
}

#define pr_err(fmt, ...)	kshim_nolog(fmt, ##__VA_ARGS__)
#define pr_warn(fmt, ...)	kshim_nolog(fmt, ##__VA_ARGS__)
#define pr_info(fmt, ...)	kshim_nolog(fmt, ##__VA_ARGS__)
#define pr_debug(fmt, ...)	kshim_nolog(fmt, ##__VA_ARGS__)
#define pr_warn_ratelimited(fmt, ...)	kshim_nolog(fmt, ##__VA_ARGS__)
#define dev_err(d, fmt, ...)	((void)(d), kshim_nolog(fmt, ##__VA_ARGS__))
#define dev_warn(d, fmt, ...)	((void)(d), kshim_nolog(fmt, ##__VA_ARGS__))
#define dev_info(d, fmt, ...)	((void)(d), kshim_nolog(fmt, ##__VA_ARGS__))
#define dev_dbg(d, fmt, ...)	((void)(d), kshim_nolog(fmt, ##__VA_ARGS__))
#define dev_warn_ratelimited(d, fmt, ...) \
	((void)(d), kshim_nolog(fmt, ##__VA_ARGS__))

/* ---- the driver core and vfio/mdev: just what mig.h embeds ---- */

/**
 * struct device - stand-in; dev_name() of any device is "mig-fuzz"
 * @kshim_unused: C wants a member
 */
struct device {
	int kshim_unused;
};

static inline const char *dev_name(const struct device *dev)
{
	return "mig-fuzz";
}

/**
 * struct vfio_device - stand-in for the member of struct mig_mdev_state
 * @dev: the device (NULL in the harness)
 */
struct vfio_device {
	struct device *dev;
};

/* 6.1's release contract (mig_compat.h): the harness frees st itself. */
static inline void vfio_free_device(struct vfio_device *vdev)
{
}

/**
 * struct mdev_type - stand-in for the member of struct mig_type
 * @sysfs_name: unused
 */
struct mdev_type {
	const char *sysfs_name;
};

struct vfio_info_cap;
struct mdev_device;
struct eventfd_ctx;

/* ---- arithmetic and structure helpers ---- */

#define ARRAY_SIZE(a)		(sizeof(a) / sizeof((a)[0]))
#define sizeof_field(T, m)	sizeof(((T *)0)->m)
#define container_of(ptr, type, member) ({				\
	void *__mptr = (void *)(ptr);					\
	((type *)(__mptr - offsetof(type, member))); })
#define BIT(n)			(1UL << (n))
#define BIT_ULL(n)		(1ULL << (n))
#define BITS_PER_LONG		64
#define BITS_TO_LONGS(n)	(((n) + BITS_PER_LONG - 1) / BITS_PER_LONG)
#define DIV_ROUND_UP(n, d)	(((n) + (d) - 1) / (d))
#define ALIGN(x, a)		(((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))
#define IS_ALIGNED(x, a)	(((x) & ((__typeof__(x))(a) - 1)) == 0)
#define lower_32_bits(n)	((u32)((n) & 0xffffffff))
#define upper_32_bits(n)	((u32)(((n) >> 16) >> 16))
#define U32_MAX			((u32)~0U)
#define U64_MAX			((u64)~0ULL)

#define min(a, b) ({ __typeof__(a) __a = (a); __typeof__(b) __b = (b);	\
		     __a < __b ? __a : __b; })
#define max(a, b) ({ __typeof__(a) __a = (a); __typeof__(b) __b = (b);	\
		     __a > __b ? __a : __b; })
#define min_t(t, a, b)	({ t __a = (a); t __b = (b); __a < __b ? __a : __b; })
#define max_t(t, a, b)	({ t __a = (a); t __b = (b); __a > __b ? __a : __b; })
#define umin(a, b)	min_t(u64, a, b)
#define umax(a, b)	max_t(u64, a, b)
#define min3(a, b, c)	min(min(a, b), c)
#define clamp(v, lo, hi)	min(max(v, lo), hi)
#define clamp_t(t, v, lo, hi)	min_t(t, max_t(t, v, lo), hi)

#define check_add_overflow(a, b, d)	__builtin_add_overflow(a, b, d)
#define check_sub_overflow(a, b, d)	__builtin_sub_overflow(a, b, d)
#define check_mul_overflow(a, b, d)	__builtin_mul_overflow(a, b, d)
/* No speculation in user space: the index is already bounds-checked. */
#define array_index_nospec(index, size)	(index)

static inline bool is_power_of_2(unsigned long n)
{
	return n && !(n & (n - 1));
}

static inline u64 rol64(u64 word, unsigned int shift)
{
	return (word << (shift & 63)) | (word >> ((-shift) & 63));
}

static inline u64 div64_u64(u64 a, u64 b)
{
	return a / b;
}

static inline u64 div_u64(u64 a, u32 b)
{
	return a / b;
}

static inline u64 div_u64_rem(u64 a, u32 b, u32 *rem)
{
	*rem = a % b;
	return a / b;
}

/* ---- READ_ONCE/WRITE_ONCE, scheduling hints ---- */

#define READ_ONCE(x)		(*(const volatile __typeof__(x) *)&(x))
#define WRITE_ONCE(x, v)	(*(volatile __typeof__(x) *)&(x) = (v))
#define might_sleep()		do { } while (0)
#define cond_resched()		((void)0)

/* ---- byte order (little-endian host) and unaligned access ---- */

#define cpu_to_le16(x)	((__le16)htole16(x))
#define cpu_to_le32(x)	((__le32)htole32(x))
#define cpu_to_le64(x)	((__le64)htole64(x))
#define le16_to_cpu(x)	le16toh(x)
#define le32_to_cpu(x)	le32toh(x)
#define le64_to_cpu(x)	le64toh(x)

/* Through a packed struct, as the kernel does: any alignment, any type. */
#define get_unaligned(p) ({						\
	const struct { __typeof__(*(p)) v; } __attribute__((packed))	\
		*__pp = (const void *)(p);				\
	__pp->v; })
#define put_unaligned(val, p) do {					\
	struct { __typeof__(*(p)) v; } __attribute__((packed))		\
		*__pp = (void *)(p);					\
	__pp->v = (val);						\
} while (0)

static inline u16 get_unaligned_le16(const void *p)
{
	return le16toh(get_unaligned((const u16 *)p));
}

static inline u32 get_unaligned_le32(const void *p)
{
	return le32toh(get_unaligned((const u32 *)p));
}

static inline u64 get_unaligned_le64(const void *p)
{
	return le64toh(get_unaligned((const u64 *)p));
}

static inline void put_unaligned_le16(u16 v, void *p)
{
	put_unaligned((u16)htole16(v), (u16 *)p);
}

static inline void put_unaligned_le32(u32 v, void *p)
{
	put_unaligned((u32)htole32(v), (u32 *)p);
}

static inline void put_unaligned_le64(u64 v, void *p)
{
	put_unaligned((u64)htole64(v), (u64 *)p);
}

/* ---- memory: malloc underneath, so ASan sees every block ---- */

#define GFP_KERNEL		0u
#define GFP_KERNEL_ACCOUNT	0u
#define __GFP_ZERO		1u
#define PAGE_SHIFT		12
#define PAGE_SIZE		(1UL << PAGE_SHIFT)

static inline void *kmalloc(size_t n, gfp_t gfp)
{
	return (gfp & __GFP_ZERO) ? calloc(1, n) : malloc(n);
}

static inline void *kzalloc(size_t n, gfp_t gfp)
{
	return calloc(1, n);
}

static inline void *kcalloc(size_t n, size_t size, gfp_t gfp)
{
	return calloc(n, size);
}

#define kvcalloc	kcalloc
#define kvzalloc	kzalloc
#define kvmalloc	kmalloc

static inline void kfree(const void *p)
{
	free((void *)p);
}

#define kvfree		kfree

static inline void *vzalloc(size_t n)
{
	return calloc(1, n);
}

#define vmalloc(n)	malloc(n)
#define vmalloc_user(n)	vzalloc(n)
#define vfree		kfree

/**
 * struct page - stand-in: a page pointer is the page's address
 * @kshim_unused: C wants a member
 */
struct page {
	int kshim_unused;
};

/* The zero page, read-only: a write through it faults. */
extern const u8 kshim_zero_page[PAGE_SIZE];
#define ZERO_PAGE(vaddr)	((struct page *)kshim_zero_page)

static inline void *page_address(const struct page *page)
{
	return (void *)page;
}

static inline struct page *vmalloc_to_page(const void *addr)
{
	return (struct page *)addr;
}

/* User memory is plain memory here: nothing faults. */
static inline unsigned long copy_to_user(void __user *to, const void *from,
					 unsigned long n)
{
	memcpy((void *)to, from, n);
	return 0;
}

/* ---- bitmaps and bit operations ---- */

static inline bool test_bit(unsigned long nr, const unsigned long *addr)
{
	return addr[nr / BITS_PER_LONG] >> (nr % BITS_PER_LONG) & 1;
}

static inline void __set_bit(unsigned long nr, unsigned long *addr)
{
	addr[nr / BITS_PER_LONG] |= BIT(nr % BITS_PER_LONG);
}

static inline void __clear_bit(unsigned long nr, unsigned long *addr)
{
	addr[nr / BITS_PER_LONG] &= ~BIT(nr % BITS_PER_LONG);
}

#define set_bit		__set_bit
#define clear_bit	__clear_bit

static inline bool __test_and_set_bit(unsigned long nr, unsigned long *addr)
{
	bool old = test_bit(nr, addr);

	__set_bit(nr, addr);
	return old;
}

static inline bool __test_and_clear_bit(unsigned long nr, unsigned long *addr)
{
	bool old = test_bit(nr, addr);

	__clear_bit(nr, addr);
	return old;
}

#define test_and_set_bit	__test_and_set_bit
#define test_and_clear_bit	__test_and_clear_bit

/**
 * kshim_find() - the first bit at or after @off that is @val
 * @addr: the bitmap
 * @size: its bits
 * @off: where to start
 * @val: the value looked for
 *
 * Out of line (kshim.c, not coverage-instrumented): the fuzzer should learn
 * from the module's branches, not from the stand-ins' loops.
 *
 * Return: the bit, or @size if there is none.
 */
unsigned long kshim_find(const unsigned long *addr, unsigned long size,
			 unsigned long off, bool val);

#define find_next_bit(addr, size, off)	kshim_find(addr, size, off, true)
#define find_next_zero_bit(addr, size, off) kshim_find(addr, size, off, false)
#define find_first_bit(addr, size)	kshim_find(addr, size, 0, true)
#define find_first_zero_bit(addr, size)	kshim_find(addr, size, 0, false)
#define for_each_set_bit(bit, addr, size)				\
	for ((bit) = find_first_bit(addr, size); (bit) < (size);	\
	     (bit) = find_next_bit(addr, size, (bit) + 1))

static inline unsigned long *bitmap_zalloc(unsigned int nbits, gfp_t gfp)
{
	return calloc(BITS_TO_LONGS(nbits), sizeof(unsigned long));
}

static inline void bitmap_free(const unsigned long *bitmap)
{
	free((void *)bitmap);
}

static inline void bitmap_zero(unsigned long *dst, unsigned int nbits)
{
	memset(dst, 0, BITS_TO_LONGS(nbits) * sizeof(unsigned long));
}

/* As the kernel's: whole words, so the bits past @nbits are set too. */
static inline void bitmap_fill(unsigned long *dst, unsigned int nbits)
{
	memset(dst, 0xff, BITS_TO_LONGS(nbits) * sizeof(unsigned long));
}

/* Out of line, as kshim_find() */
void bitmap_set(unsigned long *map, unsigned int start, unsigned int len);
void bitmap_clear(unsigned long *map, unsigned int start, unsigned int len);

unsigned int bitmap_weight(const unsigned long *src, unsigned int nbits);

static inline bool bitmap_empty(const unsigned long *src, unsigned int nbits)
{
	return find_first_bit(src, nbits) >= nbits;
}

static inline bool bitmap_full(const unsigned long *src, unsigned int nbits)
{
	return find_first_zero_bit(src, nbits) >= nbits;
}

/* ---- struct mutex and lockdep ---- */

/**
 * struct mutex - stand-in that knows whether it is held
 * @kshim_held: mutex_lock() was called and mutex_unlock() not yet
 */
struct mutex {
	bool kshim_held;
};

#define DEFINE_MUTEX(name)	struct mutex name = { .kshim_held = false }

static inline void mutex_init(struct mutex *m)
{
	m->kshim_held = false;
}

static inline void mutex_destroy(struct mutex *m)
{
	if (m->kshim_held)
		kshim_bug(__FILE__, __LINE__, "mutex_destroy() of a held mutex");
}

static inline void mutex_lock(struct mutex *m)
{
	if (m->kshim_held)
		kshim_bug(__FILE__, __LINE__, "mutex_lock() of a held mutex");
	m->kshim_held = true;
}

static inline void mutex_unlock(struct mutex *m)
{
	if (!m->kshim_held)
		kshim_bug(__FILE__, __LINE__, "mutex_unlock() of a free mutex");
	m->kshim_held = false;
}

static inline bool mutex_is_locked(struct mutex *m)
{
	return m->kshim_held;
}

#define lockdep_assert_held(m) \
	((void)KSHIM_BUG_IF(!(m)->kshim_held, "lockdep_assert_held(" #m ")"))
#define lockdep_assert_not_held(m) \
	((void)KSHIM_BUG_IF((m)->kshim_held, "lockdep_assert_not_held(" #m ")"))

/* ---- time: the harness's clock ---- */

#define NSEC_PER_USEC	1000L
#define NSEC_PER_MSEC	1000000L
#define NSEC_PER_SEC	1000000000L
#define MSEC_PER_SEC	1000L
#define HZ		1000

/* The time ktime_get() returns; the harness moves it. */
extern s64 kshim_now_ns;

static inline ktime_t ktime_get(void)
{
	return kshim_now_ns;
}

static inline ktime_t ktime_sub(ktime_t a, ktime_t b)
{
	return a - b;
}

static inline ktime_t ktime_add_ns(ktime_t t, u64 ns)
{
	return t + ns;
}

static inline s64 ktime_to_ns(ktime_t t)
{
	return t;
}

static inline ktime_t ns_to_ktime(u64 ns)
{
	return ns;
}

static inline unsigned long msecs_to_jiffies(unsigned int ms)
{
	return ms;
}

/* ---- work items: queued means pending; the harness runs them ---- */

struct work_struct;
typedef void (*work_func_t)(struct work_struct *work);

/**
 * struct work_struct - stand-in
 * @func: the function
 */
struct work_struct {
	work_func_t func;
};

/**
 * struct delayed_work - stand-in
 * @work: the work item
 * @kshim_pending: queued and not run or cancelled yet
 * @kshim_delay: the delay it was queued with, jiffies
 */
struct delayed_work {
	struct work_struct work;
	bool kshim_pending;
	unsigned long kshim_delay;
};

/**
 * struct workqueue_struct - stand-in; every queue is the same
 * @kshim_unused: C wants a member
 */
struct workqueue_struct {
	int kshim_unused;
};

#define system_wq	((struct workqueue_struct *)NULL)

#define INIT_WORK(w, f)		((w)->func = (f))
#define INIT_DELAYED_WORK(dw, f) do {					\
	(dw)->work.func = (f);						\
	(dw)->kshim_pending = false;					\
	(dw)->kshim_delay = 0;						\
} while (0)

static inline struct delayed_work *to_delayed_work(struct work_struct *work)
{
	return container_of(work, struct delayed_work, work);
}

static inline bool queue_delayed_work(struct workqueue_struct *wq,
				      struct delayed_work *dw,
				      unsigned long delay)
{
	if (dw->kshim_pending)
		return false;
	dw->kshim_pending = true;
	dw->kshim_delay = delay;
	return true;
}

static inline bool mod_delayed_work(struct workqueue_struct *wq,
				    struct delayed_work *dw,
				    unsigned long delay)
{
	bool was = dw->kshim_pending;

	dw->kshim_pending = true;
	dw->kshim_delay = delay;
	return was;
}

static inline bool schedule_delayed_work(struct delayed_work *dw,
					 unsigned long delay)
{
	return queue_delayed_work(system_wq, dw, delay);
}

static inline bool cancel_delayed_work(struct delayed_work *dw)
{
	bool was = dw->kshim_pending;

	dw->kshim_pending = false;
	return was;
}

#define cancel_delayed_work_sync	cancel_delayed_work

/**
 * kshim_run_delayed_work() - run a pending work item, as a worker would
 * @dw: the item
 *
 * Return: true if it was pending (and ran).
 */
static inline bool kshim_run_delayed_work(struct delayed_work *dw)
{
	if (!dw->kshim_pending)
		return false;
	dw->kshim_pending = false;
	dw->work.func(&dw->work);
	return true;
}

/* ---- xxh64: the kernel's names for libxxhash's XXH64 ---- */

/**
 * struct xxh64_state - the streaming state
 * @s: libxxhash's
 */
struct xxh64_state {
	XXH64_state_t s;
};

static inline u64 xxh64(const void *input, size_t len, u64 seed)
{
	return XXH64(input, len, seed);
}

static inline void xxh64_reset(struct xxh64_state *state, u64 seed)
{
	XXH64_reset(&state->s, seed);
}

static inline int xxh64_update(struct xxh64_state *state, const void *input,
			       size_t len)
{
	return XXH64_update(&state->s, input, len) == XXH_OK ? 0 : -EINVAL;
}

static inline u64 xxh64_digest(const struct xxh64_state *state)
{
	return XXH64_digest(&state->s);
}

/* ---- tracepoints: arguments evaluated, nothing recorded ---- */

static inline void kshim_trace(int unused, ...)
{
}

#endif /* KSHIM_H */

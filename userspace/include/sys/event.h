/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * <sys/event.h> for Linux with the /dev/kqueue kernel module (kqueue.ko): FreeBSD's kqueue(2)
 * API, implemented by libkqueue (-lkqueue) on top of /dev/kqueue. Every open() of /dev/kqueue
 * is one kqueue and one KQIOC_KEVENT ioctl is one kevent() call.
 *
 * All numbers are FreeBSD's (sys/sys/event.h, FreeBSD 12+ layout with ext[4]); they must match
 * rust/abi.rs, which a test checks. struct kevent is 64 bytes for 32- and 64-bit programs.
 *
 * kqueue(), kqueue1() and kqueuex() fail with ENOSYS when /dev/kqueue does not exist (the
 * kernel module is not loaded).
 */
#ifndef _SYS_EVENT_H_
#define _SYS_EVENT_H_

#include <stdint.h>
#include <time.h>
#include <sys/ioctl.h>

#if __SIZEOF_POINTER__ == 4 && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#error "<sys/event.h>: the 32-bit struct kevent layout assumes a little-endian target"
#endif
#if __SIZEOF_POINTER__ == 4 && defined(__USE_TIME_BITS64) && __USE_TIME_BITS64
#error "<sys/event.h>: libkqueue's 32-bit kevent() takes a 32-bit struct timespec; _TIME_BITS=64 is not supported"
#endif

#define EVFILT_READ		(-1)
#define EVFILT_WRITE		(-2)
#define EVFILT_AIO		(-3)	/* attached to aio requests */
#define EVFILT_VNODE		(-4)	/* attached to vnodes */
#define EVFILT_PROC		(-5)	/* attached to struct proc */
#define EVFILT_SIGNAL		(-6)	/* attached to struct proc */
#define EVFILT_TIMER		(-7)	/* timers */
#define EVFILT_PROCDESC		(-8)	/* attached to process descriptors */
#define EVFILT_FS		(-9)	/* filesystem events */
#define EVFILT_LIO		(-10)	/* attached to lio requests */
#define EVFILT_USER		(-11)	/* user events */
#define EVFILT_SENDFILE		(-12)	/* attached to sendfile requests */
#define EVFILT_EMPTY		(-13)	/* empty send socket buf */
#define EVFILT_SYSCOUNT		13

/*
 * struct kevent. On LP64 the natural layout is the ABI. On 32-bit targets ident and udata are
 * widened to 8 bytes by unions (the kernel ignores the upper halves; EV_SET zeroes them) and
 * data is 8-byte aligned, so the structure is the same 64 bytes.
 */
struct kevent {
#if __SIZEOF_POINTER__ == 4
	__extension__ union {
		uintptr_t	ident;		/* identifier for this event */
		uint64_t	__ident64;
	};
#else
	uintptr_t	ident;			/* identifier for this event */
#endif
	short		filter;			/* filter for event */
	unsigned short	flags;			/* action flags for kqueue */
	unsigned int	fflags;			/* filter flag value */
#if __SIZEOF_POINTER__ == 4
	int64_t		data __attribute__((aligned(8))); /* filter data value */
	__extension__ union {
		void		*udata;		/* opaque user data identifier */
		uint64_t	__udata64;
	};
#else
	int64_t		data;			/* filter data value */
	void		*udata;			/* opaque user data identifier */
#endif
	uint64_t	ext[4];			/* extensions */
};

#if __SIZEOF_POINTER__ == 4
#define __EV_SET_WIDE(kevp)	do { (kevp)->__ident64 = 0; (kevp)->__udata64 = 0; } while (0)
#else
#define __EV_SET_WIDE(kevp)	do { } while (0)
#endif

#define EV_SET(kevp_, a, b, c, d, e, f) do {	\
	struct kevent *__kevp = (kevp_);	\
	__EV_SET_WIDE(__kevp);			\
	__kevp->ident = (a);			\
	__kevp->filter = (b);			\
	__kevp->flags = (c);			\
	__kevp->fflags = (d);			\
	__kevp->data = (e);			\
	__kevp->udata = (f);			\
	__kevp->ext[0] = 0;			\
	__kevp->ext[1] = 0;			\
	__kevp->ext[2] = 0;			\
	__kevp->ext[3] = 0;			\
} while (0)

/* actions */
#define EV_ADD		0x0001		/* add event to kq (implies enable) */
#define EV_DELETE	0x0002		/* delete event from kq */
#define EV_ENABLE	0x0004		/* enable event */
#define EV_DISABLE	0x0008		/* disable event (not reported) */
#define EV_FORCEONESHOT	0x0100		/* enable _ONESHOT and force trigger */
#define EV_KEEPUDATA	0x0200		/* do not update the udata field */

/* flags */
#define EV_ONESHOT	0x0010		/* only report one occurrence */
#define EV_CLEAR	0x0020		/* clear event state after reporting */
#define EV_RECEIPT	0x0040		/* force EV_ERROR on success, data=0 */
#define EV_DISPATCH	0x0080		/* disable event after reporting */

#define EV_SYSFLAGS	0xF000		/* reserved by system */
#define EV_DROP		0x1000		/* note should be dropped */
#define EV_FLAG1	0x2000		/* filter-specific flag */
#define EV_FLAG2	0x4000		/* filter-specific flag */

/* returned values */
#define EV_EOF		0x8000		/* EOF detected */
#define EV_ERROR	0x4000		/* error, data contains errno */

/* EVFILT_USER: fflags control (NOTE_FF*) and the user-defined flag bits */
#define NOTE_FFNOP	0x00000000		/* ignore input fflags */
#define NOTE_FFAND	0x40000000		/* AND fflags */
#define NOTE_FFOR	0x80000000		/* OR fflags */
#define NOTE_FFCOPY	0xc0000000		/* copy fflags */
#define NOTE_FFCTRLMASK	0xc0000000		/* masks for operations */
#define NOTE_FFLAGSMASK	0x00ffffff
#define NOTE_TRIGGER	0x01000000		/* Cause the event to be triggered for output. */

/* EVFILT_READ, EVFILT_WRITE */
#define NOTE_LOWAT	0x0001			/* low water mark */
#define NOTE_FILE_POLL	0x0002			/* behave like poll() */

/* EVFILT_VNODE */
#define NOTE_DELETE	0x0001			/* vnode was removed */
#define NOTE_WRITE	0x0002			/* data contents changed */
#define NOTE_EXTEND	0x0004			/* size increased */
#define NOTE_ATTRIB	0x0008			/* attributes changed */
#define NOTE_LINK	0x0010			/* link count changed */
#define NOTE_RENAME	0x0020			/* vnode was renamed */
#define NOTE_REVOKE	0x0040			/* vnode access was revoked */
#define NOTE_OPEN	0x0080			/* vnode was opened */
#define NOTE_CLOSE	0x0100			/* file closed, fd did not allow write */
#define NOTE_CLOSE_WRITE 0x0200			/* file closed, fd did allow write */
#define NOTE_READ	0x0400			/* file was read */

/* EVFILT_PROC, EVFILT_PROCDESC */
#define NOTE_EXIT	0x80000000		/* process exited */
#define NOTE_FORK	0x40000000		/* process forked */
#define NOTE_EXEC	0x20000000		/* process exec'd */
#define NOTE_PCTRLMASK	0xf0000000		/* mask for hint bits */
#define NOTE_PDATAMASK	0x000fffff		/* mask for pid */
#define NOTE_TRACK	0x00000001		/* follow across forks */
#define NOTE_TRACKERR	0x00000002		/* could not track child */
#define NOTE_CHILD	0x00000004		/* am a child process */

/* EVFILT_TIMER: unit of data (default milliseconds) and absolute expiry */
#define NOTE_SECONDS	0x00000001		/* data is seconds */
#define NOTE_MSECONDS	0x00000002		/* data is milliseconds */
#define NOTE_USECONDS	0x00000004		/* data is microseconds */
#define NOTE_NSECONDS	0x00000008		/* data is nanoseconds */
#define NOTE_ABSTIME	0x00000010		/* timeout is absolute */
#define NOTE_TIMER_PRECMASK \
	(NOTE_SECONDS | NOTE_MSECONDS | NOTE_USECONDS | NOTE_NSECONDS)

/* kqueuex() flags */
#define KQUEUE_CLOEXEC	0x00000001		/* close on exec */

/*
 * The raw interface, for programs that talk to /dev/kqueue without libkqueue:
 *	int kq = open(KQUEUE_DEVICE, O_RDWR);
 *	int n = ioctl(kq, KQIOC_KEVENT, &args);	(same result and errno as kevent())
 * Pointers travel as 64-bit integers; timeout 0 waits without a time limit; flags must be 0.
 */
#define KQUEUE_DEVICE	"/dev/kqueue"

struct kq_timespec {
	int64_t		tv_sec;
	int64_t		tv_nsec;
};

struct kq_kevent_args {
	uint64_t	changelist;	/* const struct kevent * */
	uint64_t	eventlist;	/* struct kevent * */
	uint64_t	timeout;	/* const struct kq_timespec *, or 0 */
	int32_t		nchanges;
	int32_t		nevents;
	int32_t		kqfd;		/* the kqueue's descriptor, if flags has KQ_KEVENT_KQFD */
	uint32_t	flags;		/* KQ_KEVENT_KQFD or 0 */
};

#define KQ_KEVENT_KQFD	0x00000001	/* kqfd is valid: EBADF if it does not name the kqueue */

#define KQIOC_KEVENT	_IOWR('k', 1, struct kq_kevent_args)

#ifdef __cplusplus
extern "C" {
#endif

int	kqueue(void);
int	kqueue1(int flags);	/* flags: 0 or O_CLOEXEC */
int	kqueuex(unsigned flags);	/* flags: 0 or KQUEUE_CLOEXEC */
int	kevent(int kq, const struct kevent *changelist, int nchanges,
	       struct kevent *eventlist, int nevents, const struct timespec *timeout);

#ifdef __cplusplus
}
#endif

#endif /* !_SYS_EVENT_H_ */

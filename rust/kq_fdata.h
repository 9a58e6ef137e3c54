/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kq_fdata.h - FreeBSD kevent values (data, EV_EOF, fflags, active) of EVFILT_READ, EVFILT_WRITE
 * and EVFILT_EMPTY for a file, computed in C by kq_fdata.c. The Rust side declares the same
 * functions and struct in its bindings; keep both in step.
 */
#ifndef KQ_FDATA_H
#define KQ_FDATA_H

#include <linux/types.h>

struct file;

#define KQ_FILTER_READ  (-1)
#define KQ_FILTER_WRITE (-2)
#define KQ_FILTER_EMPTY (-13)

#define KQ_NOTE_LOWAT      0x0001u
#define KQ_NOTE_FILE_POLL  0x0002u

struct kq_fd_eval {
	s64 data;     /* FreeBSD's kn_data for the filter */
	u32 fflags;   /* socket error (positive errno) when eof on a socket, else 0 */
	bool eof;     /* EV_EOF */
	bool active;  /* the filter's condition holds (would be reported) */
};

/*
 * Registration-time check of filter on file (caller holds a reference to file; process
 * context, may sleep). 0 if allowed; -EINVAL for EVFILT_EMPTY on anything but a socket
 * (pipes, FIFOs, regular files, ttys, ...); -EPIPE for EVFILT_WRITE on a pipe/FIFO write
 * end whose readers are all gone (FreeBSD pipe_kqfilter); -EINVAL for an unknown filter.
 */
int kq_fd_check(struct file *file, int filter);

/*
 * Current values. `events`: the filter's poll events, for the evaluators that ask the file's
 * poll mask (sockets, ttys, other files; not pipes and regular files). sfflags/sdata: the user's fflags/data from the kevent (NOTE_LOWAT: sdata is the
 * threshold; NOTE_FILE_POLL for regular files). Caller holds a file reference; process
 * context, may sleep; called with a Rust mutex held but no spinlock. Returns 0.
 */
int kq_fd_evaluate(struct file *file, int filter, u32 sfflags, s64 sdata, __poll_t events,
		   struct kq_fd_eval *out);

#endif

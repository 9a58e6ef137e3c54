// SPDX-License-Identifier: GPL-2.0
/*
 * kq_fdata.c - the values FreeBSD's descriptor filters report, computed from Linux files:
 * kn_data, EV_EOF, kn_fflags and "the filter fires" for EVFILT_READ, EVFILT_WRITE and
 * EVFILT_EMPTY (FreeBSD sys_pipe.c filt_piperead/filt_pipewrite, uipc_socket.c
 * filt_soread/filt_sowrite/filt_soempty/filt_solisten, vfs_subr.c filt_vfsread/filt_vfswrite,
 * tty.c/tty_pts.c kqops). One evaluator per kind of file: pipe/FIFO, socket, regular file, tty,
 * anything else (from the poll mask alone).
 *
 * Why C: the numbers live in kernel internals the 7.2 Rust bindings cannot reach - the pipe ring
 * (struct pipe_inode_info, pipe->mutex, pipe_buf()), socket state read the way the kernel's own
 * poll and ioctl read it (tcp_sk(), tcp_inq(), lock_sock_fast(), sk_stream_wspace(), READ_ONCE
 * of sk fields with the barrier tcp_poll() uses, walks of skb queues under their spinlocks,
 * udp_sk()->reader_queue), i_size_read(), and tty/ldisc structures. These are static inlines,
 * macros and struct layouts, not functions with Rust wrappers.
 *
 * The caller (Rust) has already handled kqueue files, holds a reference on the file and a
 * mutex of its own, and is in process context. The file's poll mask is asked for (vfs_poll()
 * with a NULL table) only by the evaluators that read it: sockets, ttys and other files; a
 * pipe's or a regular file's values come from the pipe ring or the inode alone.
 * Only GPL-exported functions and header inlines are used; the one exception (the n_tty input
 * count, see kq_n_tty_data below) reads a private structure of drivers/tty/n_tty.c.
 */
#include <linux/bitmap.h>
#include <linux/dcache.h>
#include <linux/fs.h>
#include <linux/major.h>
#include <linux/minmax.h>
#include <linux/mutex.h>
#include <linux/net.h>
#include <linux/pipe_fs_i.h>
#include <linux/poll.h>

#include "kq_poll_hook.h"
#include <linux/skbuff.h>
#include <linux/string.h>
#include <linux/tcp.h>
#include <linux/tty.h>
#include <linux/tty_ldisc.h>
#include <linux/udp.h>
#include <net/af_unix.h>
#include <net/sock.h>
#include <net/tcp.h>

#include "kq_fdata.h"

/* FreeBSD's low-water test: the knote's own NOTE_LOWAT threshold if given, else dflt. */
static bool kq_lowat_met(s64 data, u32 sfflags, s64 sdata, s64 dflt)
{
	return data >= ((sfflags & KQ_NOTE_LOWAT) ? sdata : dflt);
}

/* ---- pipes and FIFOs --------------------------------------------------------------------- */

/*
 * The pipe behind a pipe(2) end or an opened FIFO, else NULL. get_pipe_info() and the pipe
 * file_operations are not exported; create_pipe_files() and fifo_open() store inode->i_pipe in
 * private_data, and i_pipe is the member of the inode union that only FIFO inodes use, so the
 * equality identifies a pipe file. i_pipe cannot go away while this file is open.
 */
static struct pipe_inode_info *kq_file_pipe(struct file *file)
{
	struct inode *inode = file_inode(file);
	struct pipe_inode_info *pipe = file->private_data;

	if (!S_ISFIFO(inode->i_mode) || !pipe || (file->f_mode & FMODE_PATH))
		return NULL;
	return pipe == READ_ONCE(inode->i_pipe) ? pipe : NULL;
}

/*
 * Bytes queued in the pipe, counted as FIONREAD (pipe_ioctl) does. Caller holds pipe->mutex.
 * One buffer (what a pipe of small messages holds) without the loop, which the compiler
 * unrolls by four: 6 instructions where the loop took about 20.
 */
static s64 kq_pipe_bytes(const struct pipe_inode_info *pipe)
{
	unsigned int head = pipe->head, tail = pipe->tail;
	s64 n = 0;

	if (pipe_occupancy(head, tail) == 1)
		return pipe_buf(pipe, tail)->len;
	while (!pipe_empty(head, tail))
		n += pipe_buf(pipe, tail++)->len;
	return n;
}

/*
 * EVFILT_READ on a pipe (filt_piperead): data = bytes queued; EV_EOF when no writer is left,
 * except for a FIFO reader that opened before any writer came (pipe_poll()'s f_pipe/w_counter
 * test, FreeBSD's f_pipegen/pipe_wgen); recomputed every time, so a new writer clears it.
 * A descriptor not open for reading never fires (pipe_nfiltops).
 */
static noinline void kq_pipe_read_locked(struct file *file, struct pipe_inode_info *pipe,
					 u32 sfflags, s64 sdata, struct kq_fd_eval *out)
{
	mutex_lock(&pipe->mutex);
	out->data = kq_pipe_bytes(pipe);
	out->eof = !pipe->writers && file->f_pipe != pipe->w_counter;
	mutex_unlock(&pipe->mutex);
	out->active = out->eof || kq_lowat_met(out->data, sfflags, sdata, 1);
}

static __always_inline void kq_pipe_read(struct file *file, struct pipe_inode_info *pipe,
					 u32 sfflags, s64 sdata, struct kq_fd_eval *out)
{
	union pipe_index idx;

	if (!(file->f_mode & FMODE_READ))
		return;
	/*
	 * An empty pipe that has a writer, read without the mutex as pipe_poll() reads it: no
	 * byte to count, no EOF. What the scan re-checks after a reader drained the pipe (a
	 * level-triggered knote stays queued once reported). A write that comes just after this
	 * look wakes the knote and the scan looks again, as for one just after the mutex.
	 */
	idx.head_tail = READ_ONCE(pipe->head_tail);
	if (pipe_empty(idx.head, idx.tail) && READ_ONCE(pipe->writers)) {
		out->active = kq_lowat_met(0, sfflags, sdata, 1);
		return;
	}
	kq_pipe_read_locked(file, pipe, sfflags, sdata, out);
}

/*
 * EVFILT_WRITE on a pipe (filt_pipewrite): data = F_GETPIPE_SZ - bytes queued; fires while the
 * ring is not full (pipe_poll()'s EPOLLOUT test) and data reaches NOTE_LOWAT if given; EV_EOF
 * with data 0 once every reader is gone. A descriptor not open for writing never fires.
 */
static void kq_pipe_write(struct file *file, struct pipe_inode_info *pipe, u32 sfflags,
			  s64 sdata, struct kq_fd_eval *out)
{
	bool full;

	if (!(file->f_mode & FMODE_WRITE))
		return;
	mutex_lock(&pipe->mutex);
	if (!pipe->readers) {
		mutex_unlock(&pipe->mutex);
		out->eof = true;
		out->active = true;
		return;
	}
	full = pipe_full(pipe->head, pipe->tail, pipe->max_usage);
	out->data = max_t(s64, (s64)pipe->max_usage * PAGE_SIZE - kq_pipe_bytes(pipe), 0);
	mutex_unlock(&pipe->mutex);
	out->active = !full && kq_lowat_met(out->data, sfflags, sdata, 1);
}

/* ---- sockets ----------------------------------------------------------------------------- */

/* The socket kinds whose byte counts are known; KQ_SK_OTHER falls back on the poll mask. */
enum kq_sock_kind {
	KQ_SK_TCP,
	KQ_SK_UDP,
	KQ_SK_UNIX,
	KQ_SK_DGRAM,	/* inet raw/ping, netlink: datagrams in sk_receive_queue, payload = len */
	KQ_SK_OTHER,	/* MPTCP, SCTP, vsock, packet, ...: own queues or accounting */
};

/* Classifies sk by family, type and protocol. */
static enum kq_sock_kind kq_sock_kind(const struct sock *sk)
{
	if (sk_is_tcp(sk))
		return KQ_SK_TCP;
	if (sk_is_udp(sk))
		return KQ_SK_UDP;
	if (sk_is_unix(sk))
		return KQ_SK_UNIX;
	if ((sk_is_inet(sk) && (sk->sk_type == SOCK_DGRAM || sk->sk_type == SOCK_RAW)) ||
	    sk->sk_family == AF_NETLINK)
		return KQ_SK_DGRAM;
	return KQ_SK_OTHER;
}

/* A TCP or unix listener (their sk_ack_backlog counts the accept queue). */
static bool kq_sock_listening(const struct sock *sk, enum kq_sock_kind kind)
{
	return (kind == KQ_SK_TCP || kind == KQ_SK_UNIX) &&
	       READ_ONCE(sk->sk_state) == TCP_LISTEN;
}

/*
 * A connection-mode socket (TCP, unix stream/seqpacket) that is not connected and not shut
 * down: FreeBSD's filt_sowrite does not fire without SS_ISCONNECTED (Linux poll says EPOLLOUT).
 */
static bool kq_sock_unconnected(const struct sock *sk, enum kq_sock_kind kind)
{
	if (kind == KQ_SK_UNIX && sk->sk_type == SOCK_DGRAM)
		return false;
	return (kind == KQ_SK_TCP || kind == KQ_SK_UNIX) &&
	       READ_ONCE(sk->sk_state) == TCP_CLOSE;
}

/* Sum of skb->len over a queue, under its lock (irq-safe, as skb_queue_tail() takes it). */
static s64 kq_skb_queue_bytes(struct sk_buff_head *q)
{
	struct sk_buff *skb;
	unsigned long flags;
	s64 n = 0;

	spin_lock_irqsave(&q->lock, flags);
	skb_queue_walk(q, skb)
		n += skb->len;
	spin_unlock_irqrestore(&q->lock, flags);
	return n;
}

/*
 * UDP: payload bytes of every queued datagram (FreeBSD sbavail; Linux FIONREAD gives only the
 * first). The UDP header is already pulled off queued skbs (udp_csum_pull_header()); recvmsg
 * moves skbs from sk_receive_queue to reader_queue, so both are counted, locked in the order
 * first_packet_length() uses.
 */
static s64 kq_udp_rcv_bytes(struct sock *sk)
{
	struct sk_buff_head *rq = &udp_sk(sk)->reader_queue;
	struct sk_buff_head *sq = &sk->sk_receive_queue;
	struct sk_buff *skb;
	s64 n = 0;

	spin_lock_bh(&rq->lock);
	skb_queue_walk(rq, skb)
		n += skb->len;
	spin_lock(&sq->lock);
	skb_queue_walk(sq, skb)
		n += skb->len;
	spin_unlock(&sq->lock);
	spin_unlock_bh(&rq->lock);
	return n;
}

/*
 * TCP: readable bytes exactly as SIOCINQ (tcp_ioctl) computes them, under lock_sock_fast() like
 * it: rcv_nxt - copied_seq without a received FIN, 0 while connecting. Unlocking may process
 * the socket backlog and so run the socket's wake-up callbacks in this thread.
 */
static s64 kq_tcp_rcv_bytes(struct sock *sk)
{
	bool slow = lock_sock_fast(sk);
	int n = tcp_inq(sk);

	unlock_sock_fast(sk, slow);
	return max(n, 0);
}

/* Bytes in the receive buffer (FreeBSD sbavail - sb_ctl), or -1 when unknown for this kind. */
static s64 kq_sock_rcv_bytes(struct sock *sk, enum kq_sock_kind kind)
{
	switch (kind) {
	case KQ_SK_TCP:
		return kq_tcp_rcv_bytes(sk);
	case KQ_SK_UDP:
		return kq_udp_rcv_bytes(sk);
	case KQ_SK_UNIX:
		/* Stream: the running count unix_inq_len() returns; seqpacket/dgram: the sum. */
		if (sk->sk_type == SOCK_STREAM)
			return max(READ_ONCE(unix_sk(sk)->inq_len), 0);
		return kq_skb_queue_bytes(&sk->sk_receive_queue);
	case KQ_SK_DGRAM:
		return kq_skb_queue_bytes(&sk->sk_receive_queue);
	default:
		return -1;
	}
}

/*
 * sk_shutdown and then sk_err, with the read barrier tcp_poll() uses: tcp_done_with_error()
 * writes sk_err, smp_wmb(), then sets sk_shutdown, so a seen shutdown comes with its error.
 */
static u8 kq_sock_shutdown_err(const struct sock *sk, int *err)
{
	u8 shutdown = READ_ONCE(sk->sk_shutdown);

	smp_rmb();	/* pairs with smp_wmb() in tcp_done_with_error() */
	*err = READ_ONCE(sk->sk_err);
	return shutdown;
}

/*
 * EVFILT_READ on a listening socket (filt_solisten): data = completed connections waiting in
 * the accept queue; fires when there is one; EV_EOF with the error if the socket has one.
 */
static void kq_sock_listen(const struct sock *sk, struct kq_fd_eval *out)
{
	int err = READ_ONCE(sk->sk_err);

	out->data = READ_ONCE(sk->sk_ack_backlog);
	if (err) {
		out->eof = true;
		out->fflags = err;
		out->active = true;
		return;
	}
	out->active = out->data > 0;
}

/*
 * EVFILT_READ on a socket (filt_soread): data = bytes in the receive buffer; EV_EOF once the
 * receive side is shut (peer FIN or SHUT_WR, reset, own SHUT_RD) with fflags = the pending
 * socket error (ECONNRESET after a reset, 0 after an orderly close) and regardless of any
 * threshold; fires on a pending error; else when data >= NOTE_LOWAT's data if given, else
 * >= SO_RCVLOWAT (never modified here). For KQ_SK_OTHER the count is unknown: poll's EPOLLIN
 * decides (it applies SO_RCVLOWAT itself where the protocol supports it), NOTE_LOWAT is not
 * honoured and data is 1 when readable.
 */
static void kq_sock_read(struct sock *sk, enum kq_sock_kind kind, u32 sfflags, s64 sdata,
			 __poll_t mask, struct kq_fd_eval *out)
{
	bool readable = !!(mask & (EPOLLIN | EPOLLRDNORM));
	u8 shutdown;
	int err;

	if (kq_sock_listening(sk, kind)) {
		kq_sock_listen(sk, out);
		return;
	}
	out->data = kq_sock_rcv_bytes(sk, kind);
	shutdown = kq_sock_shutdown_err(sk, &err);
	if (shutdown & RCV_SHUTDOWN) {
		out->eof = true;
		out->fflags = err;
		out->active = true;
	} else if (err) {
		out->active = true;
	} else if (out->data < 0) {
		out->active = readable;
	} else {
		out->active = kq_lowat_met(out->data, sfflags, sdata,
					   READ_ONCE(sk->sk_rcvlowat));
	}
	if (out->data < 0)
		out->data = readable ? 1 : 0;
}

/*
 * Free send space (FreeBSD sbspace): TCP sk_stream_wspace() (sndbuf - bytes queued, what
 * tcp_poll() tests); other sockets sndbuf - sk_wmem_alloc (what sock_writeable() and
 * unix_writable() test). Never negative; <= SO_SNDBUF.
 */
static s64 kq_sock_snd_space(const struct sock *sk, enum kq_sock_kind kind)
{
	int space;

	if (kind == KQ_SK_TCP)
		space = sk_stream_wspace(sk);
	else
		space = READ_ONCE(sk->sk_sndbuf) - (int)refcount_read(&sk->sk_wmem_alloc);
	return max(space, 0);
}

/*
 * EVFILT_WRITE on a socket (filt_sowrite): data = free send space; EV_EOF once the send side
 * is shut (own SHUT_WR, reset, unix peer closed: unix_release_sock() shuts the peer's both
 * sides), fflags = the pending error - not on the peer's FIN, which only shuts our receive
 * side; fires on a pending error; never on a listener or an unconnected connection-mode
 * socket; else as poll's EPOLLOUT (the socket's own writability test: TCP min wspace, unix
 * 1/4 sndbuf and a full dgram peer, ...) and, with NOTE_LOWAT, data >= its data.
 */
static void kq_sock_write(struct sock *sk, enum kq_sock_kind kind, u32 sfflags, s64 sdata,
			  __poll_t mask, struct kq_fd_eval *out)
{
	u8 shutdown;
	int err;

	if (kq_sock_listening(sk, kind))
		return;
	out->data = kq_sock_snd_space(sk, kind);
	shutdown = kq_sock_shutdown_err(sk, &err);
	if (shutdown & SEND_SHUTDOWN) {
		out->eof = true;
		out->fflags = err;
		out->active = true;
	} else if (err) {
		out->active = true;
	} else if (!kq_sock_unconnected(sk, kind)) {
		out->active = (mask & (EPOLLOUT | EPOLLWRNORM)) &&
			      (!(sfflags & KQ_NOTE_LOWAT) || out->data >= sdata);
	}
}

/*
 * TCP bytes sent or queued but not yet acknowledged (FreeBSD keeps them in so_snd): write_seq
 * - snd_una, read locklessly as SIOCOUTQ does, less the FIN our shutdown queued (it is in
 * write_seq in FIN_WAIT1/CLOSING/LAST_ACK but is no data); 0 while connecting or closed (the
 * write queue is purged).
 */
static s64 kq_tcp_unacked(const struct sock *sk)
{
	const struct tcp_sock *tp = tcp_sk(sk);
	int state = inet_sk_state_load(sk);
	s32 n;

	if ((1 << state) & (TCPF_LISTEN | TCPF_CLOSE | TCPF_SYN_SENT | TCPF_SYN_RECV))
		return 0;
	n = READ_ONCE(tp->write_seq) - READ_ONCE(tp->snd_una);
	if ((1 << state) & (TCPF_FIN_WAIT1 | TCPF_CLOSING | TCPF_LAST_ACK))
		n--;
	return max(n, 0);
}

/*
 * EVFILT_EMPTY on TCP: data = unacknowledged bytes, fires at 0. Sets
 * SOCK_NOSPACE as tcp_poll() does for a full buffer: tcp_check_space() then calls
 * sk_write_space() on the next incoming ACK, so the socket's wait queue is woken (EPOLLOUT)
 * when the last byte is acknowledged even if the buffer never filled. The re-read after the
 * barrier pairs with the smp_mb() in tcp_check_space() so an ACK racing with the flag is seen.
 */
static void kq_tcp_empty(struct socket *sock, struct kq_fd_eval *out)
{
	/*
	 * Also when empty now: data sent later (the send itself wakes nobody) is then reported
	 * once acknowledged, which an EV_CLEAR knote needs for its next edge.
	 */
	set_bit(SOCK_NOSPACE, &sock->flags);
	smp_mb__after_atomic();	/* pairs with smp_mb() in tcp_check_space() */
	out->data = kq_tcp_unacked(sock->sk);
	out->active = !out->data;
}

/*
 * EVFILT_EMPTY on a socket (filt_soempty): always fires on a listener; else data = bytes still
 * in the send buffer (TCP: unacknowledged; others: sk_wmem_alloc, i.e. SIOCOUTQ / unix_outq_len:
 * skbs not yet freed by the device or, for unix, not yet read by the peer); fires at 0.
 */
static void kq_sock_empty(struct socket *sock, enum kq_sock_kind kind, struct kq_fd_eval *out)
{
	struct sock *sk = sock->sk;

	if (kq_sock_listening(sk, kind)) {
		out->active = true;
		return;
	}
	if (kind == KQ_SK_TCP) {
		kq_tcp_empty(sock, out);
		return;
	}
	out->data = max(sk_wmem_alloc_get(sk), 0);
	out->active = !out->data;
}

/* Dispatches a socket filter. */
static void kq_sock_eval(struct socket *sock, int filter, u32 sfflags, s64 sdata,
			 __poll_t mask, struct kq_fd_eval *out)
{
	struct sock *sk = sock->sk;
	enum kq_sock_kind kind;

	if (!sk)
		return;
	kind = kq_sock_kind(sk);
	if (filter == KQ_FILTER_READ)
		kq_sock_read(sk, kind, sfflags, sdata, mask, out);
	else if (filter == KQ_FILTER_WRITE)
		kq_sock_write(sk, kind, sfflags, sdata, mask, out);
	else
		kq_sock_empty(sock, kind, out);
}

/* ---- regular files ------------------------------------------------------------------------ */

/*
 * A regular file without a poll method (disk filesystems, tmpfs): FreeBSD's vnode filters. A
 * regular file with one (procfs, sysfs/kernfs, cgroupfs, FUSE) is handled from its poll mask.
 */
static bool kq_file_is_vnode(const struct file *file)
{
	return S_ISREG(file_inode(file)->i_mode) && !file->f_op->poll;
}

/*
 * EVFILT_READ on a regular file (filt_vfsread): data = size - offset (negative past the end);
 * fires when data != 0, or always with NOTE_FILE_POLL. Lockless, like FreeBSD's read of
 * f_offset (a concurrent lseek/read may be seen before or after).
 */
static void kq_vnode_read(struct file *file, u32 sfflags, struct kq_fd_eval *out)
{
	out->data = i_size_read(file_inode(file)) - READ_ONCE(file->f_pos);
	out->active = out->data != 0 || (sfflags & KQ_NOTE_FILE_POLL);
}

/* ---- ttys --------------------------------------------------------------------------------- */

/*
 * Character majors owned by the tty layer: legacy BSD ptys, virtual consoles and ttyS,
 * /dev/tty, /dev/console, /dev/ptmx (also devpts' ptmx node), UNIX98 pty masters and slaves.
 * Serial drivers with dynamic majors are not recognised and take the poll-mask path.
 */
static bool kq_tty_major(unsigned int major)
{
	return major == PTY_MASTER_MAJOR || major == PTY_SLAVE_MAJOR ||
	       major == TTY_MAJOR || major == TTYAUX_MAJOR ||
	       (major >= UNIX98_PTY_MASTER_MAJOR &&
		major < UNIX98_PTY_SLAVE_MAJOR + UNIX98_PTY_MAJOR_COUNT);
}

/*
 * The tty behind a tty file, else NULL. The tty file_operations are not exported: a character
 * device of a tty major always opens through tty_open()/ptmx_open(), whose private_data is a
 * struct tty_file_private pointing back at the file (checked). The tty lives while the file is
 * open, also after a hangup.
 */
static struct tty_struct *kq_file_tty(struct file *file)
{
	struct inode *inode = file_inode(file);
	struct tty_file_private *priv = file->private_data;

	if (!S_ISCHR(inode->i_mode) || !kq_tty_major(imajor(inode)) || !priv)
		return NULL;
	return priv->file == file ? priv->tty : NULL;
}

/*
 * The head of drivers/tty/n_tty.c's private struct n_tty_data, field for field as in the 7.2
 * source up to read_tail (N_TTY_BUF_SIZE is private to n_tty.c too), used only when building
 * against 7.2 (KQ_N_TTY_LAYOUT_KNOWN), the layout it was checked against. No exported function
 * returns the input count (n_tty's TIOCINQ only copies it to user space), and FreeBSD reports
 * it, so it is read here the way input_available_p() reads it. Any change to that struct in
 * n_tty.c must be copied here; kq_n_tty_inq() rejects counts beyond the buffer size.
 */
#include <linux/version.h>
#if LINUX_VERSION_CODE >= KERNEL_VERSION(7, 2, 0) && LINUX_VERSION_CODE < KERNEL_VERSION(7, 3, 0)
#define KQ_N_TTY_LAYOUT_KNOWN 1
#else
#define KQ_N_TTY_LAYOUT_KNOWN 0		/* other kernels: data is 1 or 0 (readable or not) */
#endif
#define KQ_N_TTY_BUF_SIZE 4096
struct kq_n_tty_data {
	size_t read_head;
	size_t commit_head;
	size_t canon_head;
	size_t echo_head;
	size_t echo_commit;
	size_t echo_mark;
	DECLARE_BITMAP(char_map, 256);
	unsigned long overrun_time;
	unsigned int num_overrun;
	bool no_room;
	unsigned char lnext:1, erasing:1, raw:1, real_raw:1, icanon:1;
	unsigned char push:1;
	u8 read_buf[KQ_N_TTY_BUF_SIZE];
	DECLARE_BITMAP(read_flags, KQ_N_TTY_BUF_SIZE);
	u8 echo_buf[KQ_N_TTY_BUF_SIZE];
	size_t read_tail;
};

/*
 * Bytes a read() could return now under the N_TTY line discipline (TIOCINQ's value: complete
 * lines in canonical mode - EOF marks counted - else everything committed), or -1 when the
 * line discipline is another one or is being changed. The ldisc reference (a trylock) keeps
 * disc_data alive; the indices are published with smp_store_release() by n_tty.
 */
static s64 kq_n_tty_inq(struct tty_struct *tty)
{
	const struct kq_n_tty_data *ldata;
	struct tty_ldisc *ld = tty_ldisc_ref(tty);
	size_t head, tail;
	s64 n = -1;

	if (!KQ_N_TTY_LAYOUT_KNOWN || !ld) {
		if (ld)
			tty_ldisc_deref(ld);
		return -1;
	}
	ldata = tty->disc_data;
	if (ld->ops->num == N_TTY && ldata) {
		/* Pair with n_tty's smp_store_release() of each index. */
		if (L_ICANON(tty) && !L_EXTPROC(tty))
			head = smp_load_acquire(&ldata->canon_head);	/* see above */
		else
			head = smp_load_acquire(&ldata->commit_head);	/* see above */
		tail = smp_load_acquire(&ldata->read_tail);		/* see above */
		if (head - tail <= KQ_N_TTY_BUF_SIZE)
			n = head - tail;
	}
	tty_ldisc_deref(ld);
	return n;
}

/*
 * EVFILT_READ on a tty (tty_kqops_read_event, pts master): fires as poll's EPOLLIN (n_tty_poll
 * honours VMIN and flushes the pending flip buffer) or on EV_EOF = EPOLLHUP (pty master whose
 * slave closed: TTY_OTHER_CLOSED; slave whose master closed: hung up). data = the n_tty input
 * count; 0 when hung up; under another line discipline 1 if readable, else 0.
 */
static void kq_tty_read(struct file *file, struct tty_struct *tty, __poll_t mask,
			struct kq_fd_eval *out)
{
	bool readable = !!(mask & (EPOLLIN | EPOLLRDNORM));

	out->eof = !!(mask & EPOLLHUP);
	out->active = out->eof || readable;
	if (tty_hung_up_p(file))
		return;
	out->data = kq_n_tty_inq(tty);
	if (out->data < 0)
		out->data = readable ? 1 : 0;
}

/*
 * EVFILT_WRITE on a tty: fires as poll's EPOLLOUT, EV_EOF on EPOLLHUP; data = tty_write_room()
 * (free space, as for pipes and sockets; FreeBSD's tty filter reports the output queue fill).
 */
static void kq_tty_write(struct file *file, struct tty_struct *tty, __poll_t mask,
			 struct kq_fd_eval *out)
{
	out->eof = !!(mask & EPOLLHUP);
	out->active = out->eof || (mask & (EPOLLOUT | EPOLLWRNORM));
	if (!out->eof && !tty_hung_up_p(file))
		out->data = tty_write_room(tty);
}

/* ---- everything else ---------------------------------------------------------------------- */

/*
 * EVFILT_READ on any other file (eventfd, timerfd, signalfd, epoll, /dev/null, ...), from the
 * poll mask alone: fires on EPOLLIN/RDNORM/HUP/ERR; EV_EOF on EPOLLHUP; data is 1 when readable
 * (there is no generic byte count). A file without a poll method gets DEFAULT_POLLMASK from
 * vfs_poll() and so fires at once.
 */
static void kq_other_read(__poll_t mask, struct kq_fd_eval *out)
{
	out->eof = !!(mask & EPOLLHUP);
	out->active = !!(mask & (EPOLLIN | EPOLLRDNORM | EPOLLHUP | EPOLLERR));
	out->data = (mask & (EPOLLIN | EPOLLRDNORM)) ? 1 : 0;
}

/* EVFILT_WRITE on any other file: fires on EPOLLOUT/WRNORM or EV_EOF (EPOLLHUP/ERR); data 1/0. */
static void kq_other_write(__poll_t mask, struct kq_fd_eval *out)
{
	out->eof = !!(mask & (EPOLLHUP | EPOLLERR));
	out->active = out->eof || (mask & (EPOLLOUT | EPOLLWRNORM));
	out->data = (mask & (EPOLLOUT | EPOLLWRNORM)) ? 1 : 0;
}

/* ---- entry points ------------------------------------------------------------------------- */

/* See kq_fdata.h. Lockless: a reader leaving right after the check is EV_EOF later. */
int kq_fd_check(struct file *file, int filter)
{
	umode_t mode = file_inode(file)->i_mode;
	struct pipe_inode_info *pipe;

	/*
	 * A device without a poll method (/dev/null, /dev/zero, block devices) is what FreeBSD
	 * calls a cdev without d_kqfilter: no_kqfilter refuses it with ENODEV. Regular files and
	 * directories have no poll method either but are vnodes, which FreeBSD always accepts.
	 */
	if ((filter == KQ_FILTER_READ || filter == KQ_FILTER_WRITE) && !file_can_poll(file) &&
	    !S_ISREG(mode) && !S_ISDIR(mode))
		return -ENODEV;
	/*
	 * An io_uring instance holds references to other files (registered files, requests in
	 * flight), a kqueue among them, and a knote pins a file that sends no close event (see
	 * file_watch.rs): the two would keep each other alive for ever once both descriptors are
	 * closed. Refused with EINVAL, FreeBSD's answer for a file kevent() cannot watch
	 * (invfo_kqfilter). io_is_uring_fops() is not exported: the instance is recognised by the
	 * name io_uring gives its anon inode.
	 */
	if (FMODE_FSNOTIFY_NONE(file->f_mode) &&
	    !strcmp((const char *)file->f_path.dentry->d_name.name, "[io_uring]"))
		return -EINVAL;
	switch (filter) {
	case KQ_FILTER_READ:
		return 0;
	case KQ_FILTER_WRITE:
		pipe = kq_file_pipe(file);
		if (pipe && (file->f_mode & FMODE_WRITE) && !READ_ONCE(pipe->readers))
			return -EPIPE;
		return 0;
	case KQ_FILTER_EMPTY:
		return sock_from_file(file) ? 0 : -EINVAL;
	default:
		return -EINVAL;
	}
}

/*
 * Every case of kq_fd_evaluate() but EVFILT_READ on a pipe, out of line: the read end of a
 * pipe, the commonest case, then runs with a small frame. @out is zeroed.
 */
static noinline int kq_fd_evaluate_other(struct file *file, int filter, u32 sfflags, s64 sdata,
					 __poll_t events, struct kq_fd_eval *out)
{
	struct pipe_inode_info *pipe;
	struct tty_struct *tty;
	struct socket *sock;
	bool rd = filter == KQ_FILTER_READ;

	if (!rd && filter != KQ_FILTER_WRITE && filter != KQ_FILTER_EMPTY)
		return 0;
	pipe = filter == KQ_FILTER_WRITE ? kq_file_pipe(file) : NULL;
	if (pipe) {
		kq_pipe_write(file, pipe, sfflags, sdata, out);
		return 0;
	}
	sock = sock_from_file(file);
	if (sock) {
		kq_sock_eval(sock, filter, sfflags, sdata, kq_poll_mask(file, events), out);
		return 0;
	}
	if (filter == KQ_FILTER_EMPTY)
		return 0;
	tty = kq_file_tty(file);
	if (kq_file_is_vnode(file) && rd)
		kq_vnode_read(file, sfflags, out);
	else if (kq_file_is_vnode(file))
		out->active = true;	/* filt_vfswrite: always, data 0 */
	else if (tty && rd)
		kq_tty_read(file, tty, kq_poll_mask(file, events), out);
	else if (tty)
		kq_tty_write(file, tty, kq_poll_mask(file, events), out);
	else if (rd)
		kq_other_read(kq_poll_mask(file, events), out);
	else
		kq_other_write(kq_poll_mask(file, events), out);
	return 0;
}

/* See kq_fdata.h. EVFILT_EMPTY on a non-socket and unknown filters give all zeroes. */
int kq_fd_evaluate(struct file *file, int filter, u32 sfflags, s64 sdata, __poll_t events,
		   struct kq_fd_eval *out)
{
	struct pipe_inode_info *pipe;

	*out = (struct kq_fd_eval){};
	/* Pipes first: an inline test of the inode, where sock_from_file() is a call. */
	pipe = filter == KQ_FILTER_READ ? kq_file_pipe(file) : NULL;
	if (pipe) {
		kq_pipe_read(file, pipe, sfflags, sdata, out);
		return 0;
	}
	return kq_fd_evaluate_other(file, filter, sfflags, sdata, events, out);
}

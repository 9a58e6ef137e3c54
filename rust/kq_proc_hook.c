// SPDX-License-Identifier: GPL-2.0
/*
 * kq_proc_hook.c - what processes do, for EVFILT_SIGNAL, EVFILT_PROC and EVFILT_PROCDESC.
 *
 * Linux offers modules no process-event hook but tracepoints: signal_generate (kernel/signal.c,
 * every generation of a signal, even ignored or blocked, under the target's siglock with
 * interrupts off), sched_process_fork (kernel/fork.c, before the child first runs),
 * sched_process_exec (fs/exec.c, after a successful exec) and sched_process_exit (kernel/exit.c,
 * with group_dead once the last thread of the process is exiting, after its exit code is set).
 * None is exported to modules by symbol, so they are found by name with
 * for_each_kernel_tracepoint() and attached with tracepoint_probe_register(), both exported.
 * Each probe reduces its arguments to the process's thread-group struct pid (the key of the
 * Rust watch tables, rust/proc_watch.rs) and calls into Rust, which takes only irq-safe
 * spinlocks. Probes run with preemption off (and for signals under siglock): never sleep.
 *
 * Why C: the tracepoint probe prototypes, the TRACE_SIGNAL_* results, task_struct and
 * signal_struct fields (exit codes, SIGNAL_GROUP_EXIT, sighand actions), credentials and
 * pidfs's inode layout have no Rust bindings.
 *
 * Kernels built without CONFIG_TRACEPOINTS: kq_proc_hook_init() fails with -EOPNOTSUPP and the
 * three filters refuse registration with that errno (README).
 */
#include <linux/fs.h>
#include <linux/magic.h>
#include <linux/pid.h>
#include <linux/pid_namespace.h>
#include <linux/capability.h>
#include <linux/cred.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/sched/coredump.h>
#include <linux/sched/exec_state.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/signal.h>
#include <linux/tracepoint.h>
#include <trace/events/signal.h>

#include "kq_proc_hook.h"

/* Rust (rust/proc_watch.rs). */
void kq_proc_signal(struct pid *tgid, int sig);
void kq_proc_note(struct pid *tgid, u32 note, s64 data);
void kq_proc_fork(struct pid *parent, struct pid *child);

/* The wait(2) status of a process whose last thread is exiting (or has exited): */
static int kq_exit_status(struct task_struct *task)
{
	struct signal_struct *sig = task->signal;

	if (sig->flags & SIGNAL_GROUP_EXIT)
		return sig->group_exit_code;
	return task->group_leader->exit_code;
}

#ifdef CONFIG_TRACEPOINTS

static void kq_probe_signal(void *data, int sig, struct kernel_siginfo *info,
			    struct task_struct *task, int group, int result)
{
	/* FreeBSD never records SIGCHLD while its disposition is SIG_IGN. */
	if (sig == SIGCHLD && result == TRACE_SIGNAL_IGNORED &&
	    task->sighand->action[SIGCHLD - 1].sa.sa_handler == SIG_IGN)
		return;
	kq_proc_signal(task_tgid(task), sig);
}

static void kq_probe_fork(void *data, struct task_struct *parent, struct task_struct *child)
{
	/* A new thread is not a fork. */
	if (!thread_group_leader(child))
		return;
	kq_proc_fork(task_tgid(parent), task_tgid(child));
}

static void kq_probe_exec(void *data, struct task_struct *p, pid_t old_pid,
			  struct linux_binprm *bprm)
{
	kq_proc_note(task_tgid(p), 0x20000000 /* NOTE_EXEC */, 0);
}

static void kq_probe_exit(void *data, struct task_struct *p, bool group_dead)
{
	if (group_dead)
		kq_proc_note(task_tgid(p), 0x80000000 /* NOTE_EXIT */, kq_exit_status(p));
}

struct kq_probe {
	const char *name;
	void *func;
	struct tracepoint *tp;
};

static struct kq_probe kq_probes[] = {
	{ "signal_generate", kq_probe_signal },
	{ "sched_process_fork", kq_probe_fork },
	{ "sched_process_exec", kq_probe_exec },
	{ "sched_process_exit", kq_probe_exit },
};

static void kq_find_tracepoint(struct tracepoint *tp, void *priv)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(kq_probes); i++)
		if (!strcmp(tp->name, kq_probes[i].name))
			kq_probes[i].tp = tp;
}

/* Module init: attach every probe (all or none). */
int kq_proc_hook_init(void)
{
	int i, err = 0;

	for_each_kernel_tracepoint(kq_find_tracepoint, NULL);
	for (i = 0; i < ARRAY_SIZE(kq_probes); i++) {
		if (!kq_probes[i].tp) {
			pr_warn("kqueue: tracepoint %s not found\n", kq_probes[i].name);
			err = -EOPNOTSUPP;
			break;
		}
		err = tracepoint_probe_register(kq_probes[i].tp, kq_probes[i].func, NULL);
		if (err)
			break;
	}
	if (err) {
		while (--i >= 0)
			tracepoint_probe_unregister(kq_probes[i].tp, kq_probes[i].func, NULL);
		tracepoint_synchronize_unregister();
	}
	return err;
}

/* Module exit: detach every probe and wait for the ones running on other CPUs. */
void kq_proc_hook_exit(void)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(kq_probes); i++)
		tracepoint_probe_unregister(kq_probes[i].tp, kq_probes[i].func, NULL);
	tracepoint_synchronize_unregister();
}

#else /* !CONFIG_TRACEPOINTS */

int kq_proc_hook_init(void)
{
	return -EOPNOTSUPP;
}

void kq_proc_hook_exit(void)
{
}

#endif

/*
 * Whether the caller may watch task: the rule of ptrace_may_access(PTRACE_MODE_READ_REALCREDS)
 * without the LSM hook (what /proc uses for a process's private details; the function itself
 * is not exported to modules): a process of the caller's own thread group; or one whose real,
 * effective and saved uids and gids all equal the caller's real uid and gid and that is
 * dumpable; or, with CAP_SYS_PTRACE over its user namespace, any (FreeBSD: p_cansee).
 */
static bool kq_may_watch(struct task_struct *task)
{
	const struct cred *cred = current_cred(), *tcred;
	const struct task_exec_state *exec_state;
	bool ok;

	if (same_thread_group(task, current))
		return true;
	rcu_read_lock();
	tcred = __task_cred(task);
	if (uid_eq(cred->uid, tcred->euid) && uid_eq(cred->uid, tcred->suid) &&
	    uid_eq(cred->uid, tcred->uid) && gid_eq(cred->gid, tcred->egid) &&
	    gid_eq(cred->gid, tcred->sgid) && gid_eq(cred->gid, tcred->gid))
		ok = true;
	else
		ok = ns_capable_noaudit(tcred->user_ns, CAP_SYS_PTRACE);
	if (ok) {
		/* After the credentials, as ptrace (pairs with commit_creds()'s barrier). The
		 * exec state's accessor, task_exec_state_rcu(), is not exported: the same
		 * rcu_dereference of the task's field. */
		smp_rmb();
		exec_state = rcu_dereference(task->exec_state);
		ok = !exec_state || READ_ONCE(exec_state->dumpable) == TASK_DUMPABLE_OWNER ||
		     ns_capable_noaudit(exec_state->user_ns, CAP_SYS_PTRACE);
	}
	rcu_read_unlock();
	return ok;
}

/*
 * EVFILT_PROC's ident: the process numbered nr in the caller's pid namespace. Returns a counted
 * reference to its thread-group struct pid, or -ESRCH (no such process: never was, reaped, or
 * nr names a thread that is not a process), or -EPERM (the caller may not watch it:
 * kq_may_watch).
 */
struct pid *kq_proc_lookup(s64 nr)
{
	struct task_struct *task;
	struct pid *pid;
	bool allowed;

	if (nr <= 0 || nr > PID_MAX_LIMIT)
		return ERR_PTR(-ESRCH);
	rcu_read_lock();
	pid = find_vpid(nr);
	task = pid ? pid_task(pid, PIDTYPE_TGID) : NULL;
	if (task)
		get_task_struct(task);
	rcu_read_unlock();
	if (!task)
		return ERR_PTR(-ESRCH);
	allowed = kq_may_watch(task);
	pid = get_task_pid(task, PIDTYPE_TGID);
	put_task_struct(task);
	if (!allowed) {
		put_pid(pid);
		return ERR_PTR(-EPERM);
	}
	return pid;
}

/*
 * EVFILT_PROCDESC's ident: the process a pidfd names (pidfs keeps it in the inode's i_private;
 * pidfd_pid() is not exported). A counted reference, or -EINVAL for a file that is not a pidfd
 * or is a thread pidfd (PIDFD_THREAD: threads are not processes).
 */
struct pid *kq_pidfd_pid(struct file *file)
{
	struct inode *inode = file_inode(file);

	if (inode->i_sb->s_magic != PID_FS_MAGIC || (file->f_flags & O_EXCL /* PIDFD_THREAD */))
		return ERR_PTR(-EINVAL);
	return get_pid(inode->i_private);
}

/*
 * Whether the process of pid (a thread-group pid) has exited or is exiting with its last
 * thread: then *status is its wait(2) status (0 if it was already reaped: the status is then
 * kept only by pidfs, which modules cannot read).
 */
bool kq_proc_exited(struct pid *pid, int *status)
{
	struct task_struct *task;
	bool exited = true;

	*status = 0;
	rcu_read_lock();
	task = pid_task(pid, PIDTYPE_TGID);
	if (task) {
		exited = atomic_read(&task->signal->live) == 0;
		if (exited)
			*status = kq_exit_status(task);
	}
	rcu_read_unlock();
	return exited;
}

/* pid's number as the process owning a kqueue (owner, a thread-group pid) sees it; 0 if none. */
s64 kq_pid_nr_seen_by(struct pid *pid, struct pid *owner)
{
	return pid_nr_ns(pid, ns_of_pid(owner));
}

/* get_pid() is a static inline. */
struct pid *kq_get_pid(struct pid *pid)
{
	return get_pid(pid);
}

void kq_put_pid(struct pid *pid)
{
	put_pid(pid);
}

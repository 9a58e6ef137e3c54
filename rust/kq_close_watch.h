/* SPDX-License-Identifier: GPL-2.0 */
/* Close notification for watched files (kq_close_watch.c); Rust declares these in helper.rs. */
#ifndef KQ_CLOSE_WATCH_H
#define KQ_CLOSE_WATCH_H

#include <linux/types.h>

struct file;

int kq_close_watch_init(void);
void kq_close_watch_exit(void);
bool kq_file_notifies_close(struct file *file);
void *kq_close_watch_get(struct file *file);
void kq_close_watch_vnode(void *handle, bool add);
void kq_close_watch_put(void *handle);
int kq_close_watch_slot(void *handle);
void kq_close_watch_hold(void *handle);
void kq_close_watch_unhold(int i);
int kq_vnode_check(struct file *file, u32 *nlink, s64 *size);
bool kq_file_tryget(struct file *file, struct inode *inode);

#endif

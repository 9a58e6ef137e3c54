# kqueue for Linux: top-level build and test entry points.
#
#   make                      build kqueue.ko against the cached test kernel (built on first use)
#   make KDIR=/path [LLVM=1]  build kqueue.ko against your own CONFIG_RUST=y kernel build tree
#   make demo                 setup, kernel, module, userspace, then a VM runs /bin/kq-demo,
#                             tests/fd's kq_echo_demo and tests/demo's kq_supervisor (fails
#                             if any fails)
#   make check                everything, then the VM test runs; ends with "N passed, N failed"
#   make torture [SECS=600]   the stress tests (tests/stress) alone in the VM, each running about
#                             SECS seconds (KQ_TORTURE_SECS, KQ_STRESS_SECS, KQ_EPOLL_CYCLE_SECS,
#                             KQ_FILTERS_SECS; epoll_cycle runs 2 x SECS; KQ_STRESS_SECS drives
#                             kq_stress_issue7 and kq_stress_scan's two registry cases): about
#                             7 x SECS in all
#   make fuzz [CALLS=1000000] [SEED=n]
#                             the fuzzers (tests/fuzz) alone in the VM: CALLS ioctl calls for
#                             each of kq_fuzz and kq_fuzz32 (KQ_FUZZ_CALLS; make check runs
#                             200000; 1500-4500 calls/s under TCG), the seed (KQ_FUZZ_SEED,
#                             default random, printed), fail-nth, and limits at the loaded caps.
#                             Both end with "N passed, N failed"; a kernel panic ends the VM at
#                             once and the summary shows the report and the running binary.
#   make vm-run CMD='./prog' [DIR=/path]
#                             boot the VM, load kqueue.ko, run CMD as root in a copy of DIR
#                             (at /mnt/user); prints CMD's output on stdout, fails if CMD
#                             fails ("Error N" = CMD's status; scripts/pipeline.sh run CMD DIR
#                             returns N itself)
#   make vm-shell [DIR=/path] an interactive root shell in the VM with kqueue.ko loaded, the Rust
#                             demos in /bin and a copy of DIR in /mnt/user (Ctrl-A X quits QEMU)
#   make profile MODE=pending|pending8|pipe|pipe8|rt|trigger|create|adddel|regclose|otherpipe|pingpong|register [N=iterations]
#                             kernel instructions per iteration, by function (kqueue.ko and
#                             kernel), of a kqueue workload and its epoll counterpart, each run
#                             N times (default 100000; 20000 for create, adddel) in the
#                             perf-kernel VM under QEMU -icount with a TCG plugin, minus a
#                             baseline run; side by side (tools/insnprof/README.md).
#                             KERNEL=perf-inline: on the perf kernel with Rust's C helpers
#                             inlined (kernel/perf-inline.config; built on first use)
#   make install [PREFIX=/usr/local] [DESTDIR=]
#                             the C library, <sys/event.h>, pkg-config file and man pages
#                             (userspace/Makefile); make uninstall removes them
#   make modules_install [KDIR=/lib/modules/$(uname -r)/build] [DESTDIR=]   (= install-module)
#                             build kqueue.ko for that kernel, install it under
#                             /lib/modules/RELEASE/updates, depmod, and the udev rule
#                             /etc/udev/rules.d/60-kqueue.rules (mode 0666); then
#                             `modprobe kqueue`. make uninstall-module undoes it.
#   make setup | kernel | userspace | clean
#
# The module itself is described by ./Kbuild (obj-m := kqueue.o); kbuild reads that file, not
# this one. Outputs of the harness (test binaries, initramfs images, VM logs) go to build/
# (or $KQ_OUT).
SHELL := /bin/bash
KDIR ?=
PREFIX ?= /usr/local
DESTDIR ?=
# The kernel modules_install builds for: the running one's, unless KDIR is given.
INSTALL_KDIR = $(or $(KDIR),/lib/modules/$(shell uname -r)/build)
export KQ_OUT ?= $(CURDIR)/build
SECS ?= 600
CALLS ?= 1000000
SEED ?=

.PHONY: all module setup kernel userspace demo check torture fuzz vm-run vm-shell profile install uninstall \
	modules_install install-module uninstall-module clean help
all: module

module:
	scripts/kmake.sh $(CURDIR) "$(KDIR)" modules

setup:
	scripts/setup.sh

kernel:
	scripts/build-kernel.sh

userspace:
	$(MAKE) -C userspace

demo:
	scripts/pipeline.sh demo

check:
	scripts/pipeline.sh check

torture:
	KQ_TORTURE_SECS=$(SECS) scripts/pipeline.sh torture

fuzz:
	KQ_FUZZ_CALLS=$(CALLS) KQ_FUZZ_SEED=$(SEED) scripts/pipeline.sh fuzz

# CMD is run by the guest's sh; DIR is relative to this directory unless absolute.
vm-run:
	@[ -n '$(if $(value CMD),x)' ] || { echo "usage: make vm-run CMD='command' [DIR=/path/to/dir]" >&2; exit 2; }
	@scripts/pipeline.sh run '$(subst ','\'',$(value CMD))' "$(if $(DIR),$(abspath $(DIR)))"

vm-shell:
	@scripts/pipeline.sh shell "$(if $(DIR),$(abspath $(DIR)))"

profile:
	@case '$(MODE)' in pending|pending8|pipe|pipe8|rt|trigger|create|adddel|regclose|otherpipe|pingpong|register) ;; \
	  *) echo "usage: make profile MODE=pending|pending8|pipe|pipe8|rt|trigger|create|adddel|regclose|otherpipe|pingpong|register [N=iterations] [KERNEL=perf|perf-inline]" >&2; exit 2 ;; esac
	@KQ_PROFILE_KERNEL='$(or $(KERNEL),perf)' tools/insnprof/profile.sh '$(MODE)' '$(N)'

install uninstall:
	$(MAKE) -C userspace $@ PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)

modules_install install-module:
	scripts/install-module.sh "$(INSTALL_KDIR)" "$(DESTDIR)"

uninstall-module:
	scripts/install-module.sh -u "$(INSTALL_KDIR)" "$(DESTDIR)"

# Kbuild's own clean needs a kernel tree: the given KDIR, else any built test kernel.
clean:
	@kdir="$(KDIR)"; . scripts/env.sh; \
	[ -n "$$kdir" ] || kdir=$$(ls -d "$$KQ_CACHE"/kbuild/*/.kq-built 2>/dev/null | head -n1 | xargs -r dirname); \
	if [ -f Kbuild ] && [ -n "$$kdir" ]; then scripts/kmake.sh $(CURDIR) "$$kdir" clean; fi
	for d in userspace tests/kqueue tests/compat32 tests/bench tests/fd tests/demo tests/stress tests/fuzz tests/filters tests/splat tools/insnprof; do [ ! -f $$d/Makefile ] || $(MAKE) -C $$d clean; done
	rm -rf build

help:
	@sed -n '/^#/!q;p' Makefile   # the header comment

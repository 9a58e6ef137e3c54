# SPDX-License-Identifier: GPL-2.0 OR MIT
# Shared rules of the test directories (tests/kqueue, tests/fd, tests/bench): one statically
# linked binary per source file, against libkqueue.a, with the kernel tree's
# kselftest_harness.h. The including Makefile sets SRCS (source files), HDRS (the local headers
# its sources include) and, if needed, EXTRA_INC (more -I flags), then includes this file.
#
# Variables (the same for every directory): KSRC (kernel source, for
# tools/testing/selftests/kselftest_harness.h), KQ_INC (dir with sys/event.h), KQ_LIB (dir with
# libkqueue.a), OUT (output dir, default ./build).
KSRC ?= $(HOME)/.cache/kqueue-linux/linux-source-7.2
KQ_INC ?= ../../userspace/include
KQ_LIB ?= ../../userspace/target/release
OUT ?= ./build

ifeq ($(origin CC),default)
CC := gcc
endif
CFLAGS ?= -O2
KQ_CFLAGS := -Wall -Werror -pthread -D_GNU_SOURCE -I$(KSRC)/tools/testing/selftests \
	-I$(KQ_INC) -I. $(EXTRA_INC)
KQ_LDFLAGS := -static -pthread -Wl,--gc-sections
# libkqueue.a needs nothing but libc (its symbols are checked by userspace/tests/c/check-lib.sh).
KQ_LDLIBS := -L$(KQ_LIB) -lkqueue

KQ_DIR := tests/$(notdir $(CURDIR))
BINS := $(patsubst %.c,$(OUT)/%,$(SRCS))
ALL_HDRS := $(HDRS) $(KSRC)/tools/testing/selftests/kselftest_harness.h $(KQ_INC)/sys/event.h

.PHONY: all clean check-deps
all: check-deps $(BINS)

check-deps:
	@[ -f $(KSRC)/tools/testing/selftests/kselftest_harness.h ] || \
		{ echo "$(KQ_DIR): no kselftest_harness.h under KSRC=$(KSRC)" >&2; exit 1; }
	@[ -f $(KQ_INC)/sys/event.h ] || { echo "$(KQ_DIR): no sys/event.h under KQ_INC=$(KQ_INC)" >&2; exit 1; }
	@[ -f $(KQ_LIB)/libkqueue.a ] || { echo "$(KQ_DIR): no libkqueue.a under KQ_LIB=$(KQ_LIB)" >&2; exit 1; }

$(OUT)/%: %.c $(ALL_HDRS) $(KQ_LIB)/libkqueue.a
	@mkdir -p $(OUT)
	$(CC) $(CFLAGS) $(KQ_CFLAGS) $(LDFLAGS) $(KQ_LDFLAGS) -o $@ $< $(LDLIBS) $(KQ_LDLIBS)

clean:
	rm -f $(BINS)
	[ "$(OUT)" != ./build ] || rm -rf ./build

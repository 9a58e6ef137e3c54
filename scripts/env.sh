# Sourced by every build script: where the cache lives and which tools a kernel build uses.
# Heavy, reproducible outputs (kernel source, kernel builds, bindgen) live outside the repository.
KQ_CACHE=${KQ_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kqueue-linux}
KQ_TOOLS=$KQ_CACHE/tools
KSRC=${KSRC:-$KQ_CACHE/linux-source-7.2}
BINDGEN_VERSION=0.72.1
# Kernel builds need Debian's rustc (std sources in rust-web-src) and bindgen ahead of rustup's.
KQ_KPATH=$KQ_TOOLS/rustbin:$PATH
export LIBCLANG_PATH=/usr/lib/llvm-22/lib
KQ_LLVM=${KQ_LLVM:--22}

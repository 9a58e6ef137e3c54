//! Checks `include/sys/event.h` against `rust/abi.rs`: a generated C program includes the
//! header and prints layouts, constants and an `EV_SET` image as `NAME value` lines, which must
//! all equal the Rust values. Runs natively and, when the C compiler can, with `-m32`.

use std::collections::BTreeMap;
use std::mem::{align_of, offset_of, size_of};
use std::path::{Path, PathBuf};
use std::process::Command;

use kqueue::sys::{self, KEvent, KqKeventArgs, KqTimespec};

const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

/// How the C program prints a value.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// An integer expression (sizeof, offsetof, ...).
    Expr,
    /// An integer macro that must be defined (else `MISSING` is printed).
    Macro,
    /// A string macro that must be defined.
    StringMacro,
}

/// One value the C program prints as `label value`, and the value Rust expects.
struct Check {
    label: String,
    expr: String,
    kind: Kind,
    expected: String,
}

fn check(label: &str, expr: &str, kind: Kind, expected: impl ToString) -> Check {
    Check {
        label: label.to_string(),
        expr: expr.to_string(),
        kind,
        expected: expected.to_string(),
    }
}

/// A layout or other integer expression.
fn expr(label: &str, expr: &str, expected: usize) -> Check {
    check(label, expr, Kind::Expr, expected)
}

/// `(name, value)` of every numeric constant of abi.rs that the header defines as a macro.
macro_rules! abi_macros {
    ($($name:ident),* $(,)?) => { [$((stringify!($name), sys::$name as i64)),*] };
}

const ABI_MACROS: &[(&str, i64)] = &abi_macros![
    EVFILT_READ,
    EVFILT_WRITE,
    EVFILT_AIO,
    EVFILT_VNODE,
    EVFILT_PROC,
    EVFILT_SIGNAL,
    EVFILT_TIMER,
    EVFILT_PROCDESC,
    EVFILT_FS,
    EVFILT_LIO,
    EVFILT_USER,
    EVFILT_SENDFILE,
    EVFILT_EMPTY,
    EVFILT_SYSCOUNT,
    EV_ADD,
    EV_DELETE,
    EV_ENABLE,
    EV_DISABLE,
    EV_FORCEONESHOT,
    EV_KEEPUDATA,
    EV_ONESHOT,
    EV_CLEAR,
    EV_RECEIPT,
    EV_DISPATCH,
    EV_SYSFLAGS,
    EV_DROP,
    EV_FLAG1,
    EV_FLAG2,
    EV_EOF,
    EV_ERROR,
    NOTE_FFNOP,
    NOTE_FFAND,
    NOTE_FFOR,
    NOTE_FFCOPY,
    NOTE_FFCTRLMASK,
    NOTE_FFLAGSMASK,
    NOTE_TRIGGER,
    NOTE_LOWAT,
    NOTE_FILE_POLL,
    NOTE_DELETE,
    NOTE_WRITE,
    NOTE_EXTEND,
    NOTE_ATTRIB,
    NOTE_LINK,
    NOTE_RENAME,
    NOTE_REVOKE,
    NOTE_OPEN,
    NOTE_CLOSE,
    NOTE_CLOSE_WRITE,
    NOTE_READ,
    NOTE_EXIT,
    NOTE_FORK,
    NOTE_EXEC,
    NOTE_PCTRLMASK,
    NOTE_PDATAMASK,
    NOTE_TRACK,
    NOTE_TRACKERR,
    NOTE_CHILD,
    NOTE_SECONDS,
    NOTE_MSECONDS,
    NOTE_USECONDS,
    NOTE_NSECONDS,
    NOTE_ABSTIME,
    NOTE_TIMER_PRECMASK,
    KQUEUE_CLOEXEC,
    KQIOC_KEVENT,
    KQ_KEVENT_KQFD,
];

/// abi.rs constants with no macro of the same name, and the C expression that must equal them.
fn derived_checks() -> Vec<Check> {
    vec![
        check(
            "KQIOC_MAGIC",
            "_IOC_TYPE(KQIOC_KEVENT)",
            Kind::Expr,
            sys::KQIOC_MAGIC,
        ),
        check(
            "KQIOC_KEVENT_NR",
            "_IOC_NR(KQIOC_KEVENT)",
            Kind::Expr,
            sys::KQIOC_KEVENT_NR,
        ),
        expr("KEVENT_SIZE", "sizeof(struct kevent)", sys::KEVENT_SIZE),
        expr(
            "KQ_KEVENT_ARGS_SIZE",
            "sizeof(struct kq_kevent_args)",
            sys::KQ_KEVENT_ARGS_SIZE,
        ),
    ]
}

fn constant_checks() -> Vec<Check> {
    let mut checks: Vec<Check> = ABI_MACROS
        .iter()
        .map(|&(name, value)| check(name, name, Kind::Macro, value))
        .collect();
    checks.push(check(
        "KQUEUE_DEVICE",
        "KQUEUE_DEVICE",
        Kind::StringMacro,
        sys::KQUEUE_DEVICE,
    ));
    checks.extend(derived_checks());
    checks
}

fn layout_checks() -> Vec<Check> {
    vec![
        expr(
            "sizeof.kevent",
            "sizeof(struct kevent)",
            size_of::<KEvent>(),
        ),
        expr(
            "alignof.kevent",
            "_Alignof(struct kevent)",
            align_of::<KEvent>(),
        ),
        expr(
            "kevent.ident",
            "offsetof(struct kevent, ident)",
            offset_of!(KEvent, ident),
        ),
        expr(
            "kevent.filter",
            "offsetof(struct kevent, filter)",
            offset_of!(KEvent, filter),
        ),
        expr(
            "kevent.flags",
            "offsetof(struct kevent, flags)",
            offset_of!(KEvent, flags),
        ),
        expr(
            "kevent.fflags",
            "offsetof(struct kevent, fflags)",
            offset_of!(KEvent, fflags),
        ),
        expr(
            "kevent.data",
            "offsetof(struct kevent, data)",
            offset_of!(KEvent, data),
        ),
        expr(
            "kevent.udata",
            "offsetof(struct kevent, udata)",
            offset_of!(KEvent, udata),
        ),
        expr(
            "kevent.ext",
            "offsetof(struct kevent, ext)",
            offset_of!(KEvent, ext),
        ),
        expr("sizeof.kevent.ext", "sizeof(((struct kevent *)0)->ext)", 32),
        expr(
            "sizeof.kq_timespec",
            "sizeof(struct kq_timespec)",
            size_of::<KqTimespec>(),
        ),
        expr(
            "kq_timespec.tv_sec",
            "offsetof(struct kq_timespec, tv_sec)",
            offset_of!(KqTimespec, tv_sec),
        ),
        expr(
            "kq_timespec.tv_nsec",
            "offsetof(struct kq_timespec, tv_nsec)",
            offset_of!(KqTimespec, tv_nsec),
        ),
        expr(
            "sizeof.kq_kevent_args",
            "sizeof(struct kq_kevent_args)",
            size_of::<KqKeventArgs>(),
        ),
        expr(
            "args.changelist",
            "offsetof(struct kq_kevent_args, changelist)",
            offset_of!(KqKeventArgs, changelist),
        ),
        expr(
            "args.eventlist",
            "offsetof(struct kq_kevent_args, eventlist)",
            offset_of!(KqKeventArgs, eventlist),
        ),
        expr(
            "args.timeout",
            "offsetof(struct kq_kevent_args, timeout)",
            offset_of!(KqKeventArgs, timeout),
        ),
        expr(
            "args.nchanges",
            "offsetof(struct kq_kevent_args, nchanges)",
            offset_of!(KqKeventArgs, nchanges),
        ),
        expr(
            "args.nevents",
            "offsetof(struct kq_kevent_args, nevents)",
            offset_of!(KqKeventArgs, nevents),
        ),
        expr(
            "args.kqfd",
            "offsetof(struct kq_kevent_args, kqfd)",
            offset_of!(KqKeventArgs, kqfd),
        ),
        expr(
            "args.flags",
            "offsetof(struct kq_kevent_args, flags)",
            offset_of!(KqKeventArgs, flags),
        ),
    ]
}

/// On LP64, kevent() hands the caller's `struct timespec` to the kernel as a `KqTimespec`.
fn lp64_timespec_checks() -> Vec<Check> {
    vec![
        expr(
            "sizeof.timespec",
            "sizeof(struct timespec)",
            size_of::<KqTimespec>(),
        ),
        expr(
            "timespec.tv_nsec",
            "offsetof(struct timespec, tv_nsec)",
            offset_of!(KqTimespec, tv_nsec),
        ),
    ]
}

/// The 64-bit words of a `struct kevent` that the C program fills with 0xff and then `EV_SET`s.
fn ev_set_checks() -> Vec<Check> {
    let kev = KEvent {
        ident: 7,
        filter: sys::EVFILT_USER,
        flags: sys::EV_ADD | sys::EV_CLEAR,
        fflags: 3,
        data: -5,
        udata: 9,
        ext: [0; 4],
    };
    // SAFETY: KEvent is 64 bytes of plain integers without padding.
    let words: [u64; 8] = unsafe { std::mem::transmute(kev) };
    (0..8)
        .map(|i| {
            check(
                &format!("ev_set.word{i}"),
                &format!("ev_set_word({i})"),
                Kind::Expr,
                words[i] as i64,
            )
        })
        .collect()
}

const C_PRELUDE: &str = r#"#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/event.h>

static long long ev_set_word(int i)
{
	struct kevent kev;
	unsigned long long words[8];

	memset(&kev, 0xff, sizeof(kev));
	EV_SET(&kev, 7, EVFILT_USER, EV_ADD | EV_CLEAR, 3, -5, (void *)9);
	memcpy(words, &kev, sizeof(words));
	return (long long)words[i];
}

int main(void)
{
"#;

fn c_statement(c: &Check) -> String {
    let print = match c.kind {
        Kind::StringMacro => format!("\tprintf(\"{} %s\\n\", {});\n", c.label, c.expr),
        _ => format!(
            "\tprintf(\"{} %lld\\n\", (long long)({}));\n",
            c.label, c.expr
        ),
    };
    if c.kind == Kind::Expr {
        return print;
    }
    let missing = format!("\tprintf(\"{} MISSING\\n\");\n", c.label);
    format!("#ifdef {}\n{print}#else\n{missing}#endif\n", c.expr)
}

fn c_program(checks: &[Check]) -> String {
    let mut src = String::from(C_PRELUDE);
    for c in checks {
        src.push_str(&c_statement(c));
    }
    src.push_str("\treturn 0;\n}\n");
    src
}

fn all_checks(lp64: bool) -> Vec<Check> {
    let mut checks = constant_checks();
    checks.extend(layout_checks());
    checks.extend(ev_set_checks());
    if lp64 {
        checks.extend(lp64_timespec_checks());
    }
    checks
}

fn cc() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".to_string())
}

fn work_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Compiles `source` with the header's include path and `extra` flags; the binary, or the
/// compiler's complaint.
fn compile(dir: &Path, source: &str, extra: &[&str]) -> Result<PathBuf, String> {
    let src = dir.join("prog.c");
    let bin = dir.join("prog");
    std::fs::write(&src, source).unwrap();
    let output = Command::new(cc())
        .args([
            "-std=c11",
            "-Wall",
            "-Wextra",
            "-Wpedantic",
            "-Werror",
            "-I",
        ])
        .arg(Path::new(MANIFEST_DIR).join("include"))
        .args(extra)
        .arg(&src)
        .arg("-o")
        .arg(&bin)
        .output()
        .expect("run the C compiler");
    if output.status.success() {
        Ok(bin)
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    }
}

fn run(bin: &Path) -> BTreeMap<String, String> {
    let output = Command::new(bin).output().expect("run the ABI program");
    assert!(output.status.success(), "{} failed", bin.display());
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_once(' '))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn compare(checks: &[Check], printed: &BTreeMap<String, String>) -> Vec<String> {
    checks
        .iter()
        .filter_map(|c| {
            let got = printed
                .get(&c.label)
                .map_or("(not printed)", String::as_str);
            (got != c.expected).then(|| format!("{}: header {got}, abi.rs {}", c.label, c.expected))
        })
        .collect()
}

fn check_header(name: &str, extra: &[&str], lp64: bool) {
    let checks = all_checks(lp64);
    let bin = compile(&work_dir(name), &c_program(&checks), extra)
        .unwrap_or_else(|err| panic!("ABI program does not compile ({extra:?}):\n{err}"));
    let mismatches = compare(&checks, &run(&bin));
    assert!(
        mismatches.is_empty(),
        "header differs from abi.rs ({extra:?}):\n{}",
        mismatches.join("\n")
    );
}

#[test]
fn every_abi_constant_is_checked() {
    let abi = std::fs::read_to_string(Path::new(MANIFEST_DIR).join("../rust/abi.rs")).unwrap();
    let checks = all_checks(true);
    let unchecked: Vec<&str> = abi
        .lines()
        .filter_map(|line| line.strip_prefix("pub const ")?.split(':').next())
        .filter(|name| !checks.iter().any(|c| c.label == *name))
        .collect();
    assert!(
        unchecked.is_empty(),
        "abi.rs constants missing from this test: {unchecked:?}"
    );
}

#[test]
fn header_matches_abi_native() {
    check_header("abi-native", &[], cfg!(target_pointer_width = "64"));
}

#[test]
fn header_matches_abi_m32() {
    let probe = "#include <stdint.h>\n#include <stdio.h>\n#include <time.h>\nint main(void) { return 0; }\n";
    if let Err(err) = compile(&work_dir("m32-probe"), probe, &["-m32"]) {
        let reason = err.lines().next().unwrap_or("");
        eprintln!("skipping the -m32 ABI check: `{} -m32` cannot build programs (gcc-multilib missing?): {reason}", cc());
        return;
    }
    check_header("abi-m32", &["-m32"], false);
}

#[test]
fn header_compiles_as_cplusplus() {
    let dir = work_dir("cplusplus");
    let src = dir.join("prog.cc");
    std::fs::write(&src, "#include <sys/event.h>\nint (*f)(int, const struct kevent *, int, struct kevent *, int, const struct timespec *) = kevent;\n").unwrap();
    let status = Command::new("c++")
        .args(["-fsyntax-only", "-Wall", "-Werror", "-I"])
        .arg(Path::new(MANIFEST_DIR).join("include"))
        .arg(&src)
        .status();
    match status {
        Ok(status) => assert!(status.success(), "<sys/event.h> does not compile as C++"),
        Err(err) => eprintln!("skipping the C++ header check: c++ not runnable: {err}"),
    }
}

//! Gives libkqueue.so the soname `libkqueue.so.0`, which `make install` installs it under.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libkqueue.so.0");
}

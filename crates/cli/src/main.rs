//! The `spectrum` command.
#![forbid(unsafe_code)]

fn main() {
    println!("spectrum");
}

//! Stack overflow: a clear, fatal error naming the fiber, never silent corruption.
//!
//! A fiber that runs past its stack writes into the guard page below it and takes a `SIGSEGV`
//! (`SIGBUS` on some Unixes). This module installs, once per process, a handler for both that
//! runs on the thread's alternate signal stack (the fiber's own stack is exhausted, so the
//! handler cannot run there):
//!
//! 1. If the faulting address lies in the guard page of the fiber running on this thread (a
//!    thread-local set around every resume, see `fiber::on_guard_hit`), it writes
//!    `fatal runtime error: fiber "name" (task #id) overflowed its stack of N KiB ...` to stderr
//!    with `write(2)` (no allocation, no lock: async-signal-safe) and aborts the process. A stack
//!    overflow cannot be recovered from in Rust (the frames that ran out hold borrows and locks),
//!    so this matches what std does for a thread's stack overflow.
//! 2. Otherwise the fault is not ours: the previous handler runs (std's, which reports a
//!    *thread's* stack overflow and otherwise restores the default action), so every other
//!    crash behaves as before.
//!
//! Alternate signal stacks are per thread. std gives one to each thread it starts; for a thread
//! that has none when it first runs a fiber, [`prepare_thread`] installs one (64 KiB plus a guard
//! page), removed and unmapped when the thread exits.

use std::cell::Cell;
use std::fmt::Write as _;
use std::ptr;
use std::sync::{Once, OnceLock};

use crate::fiber::{self, FiberInfo};

/// Bytes of the alternate signal stacks this module makes.
const ALT_STACK_SIZE: usize = 64 * 1024;

/// Prepares this thread to run fibers: the process-wide handler, and an alternate signal stack.
pub(crate) fn prepare_thread() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(install_handlers);
    thread_local! {
        static ALT: Cell<bool> = const { Cell::new(false) };
        static OWNED: AltStack = AltStack::install_if_missing();
    }
    if !ALT.with(Cell::get) {
        OWNED.with(|_| {});
        ALT.with(|a| a.set(true));
    }
}

/// A previous signal action.
struct Prev(libc::sigaction);

// SAFETY: a `sigaction` is plain data (a handler address, a mask, flags); it is written once
// before the handler is installed and only read afterwards.
unsafe impl Sync for Prev {}
// SAFETY: as above.
unsafe impl Send for Prev {}

static PREV_SEGV: OnceLock<Prev> = OnceLock::new();
static PREV_BUS: OnceLock<Prev> = OnceLock::new();

fn install_handlers() {
    for (sig, prev) in [(libc::SIGSEGV, &PREV_SEGV), (libc::SIGBUS, &PREV_BUS)] {
        // SAFETY: `sigaction` with a null new action only reads the current one into `old`,
        // which is a valid, writable `sigaction`.
        let old = unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(sig, ptr::null(), &mut old);
            old
        };
        let _ = prev.set(Prev(old));
        // SAFETY: installs `handler`, an `extern "C"` function with the `SA_SIGINFO` signature,
        // with an empty mask; `new` is a valid `sigaction`.
        unsafe {
            let mut new: libc::sigaction = std::mem::zeroed();
            new.sa_sigaction = handler as *const () as libc::sighandler_t;
            new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigemptyset(&mut new.sa_mask);
            libc::sigaction(sig, &new, ptr::null_mut());
        }
    }
}

extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid `siginfo_t` to an `SA_SIGINFO` handler; for SIGSEGV and
    // SIGBUS `si_addr` is the faulting address.
    let addr = unsafe { (*info).si_addr() } as usize;
    if fiber::on_guard_hit(addr, report) {
        // SAFETY: `abort` is async-signal-safe and never returns.
        unsafe { libc::abort() };
    }
    chain(sig, info, ctx);
}

/// Hands a fault that is not a fiber's overflow to the handler that was there before.
fn chain(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let prev = if sig == libc::SIGSEGV {
        PREV_SEGV.get()
    } else {
        PREV_BUS.get()
    };
    let action = prev.map_or(libc::SIG_DFL, |p| p.0.sa_sigaction);
    if action == libc::SIG_DFL || action == libc::SIG_IGN {
        // Restore the default action and return: the faulting instruction runs again and the
        // kernel's default action (terminate, with a core dump) applies.
        // SAFETY: installing `SIG_DFL` for `sig` with a zeroed (empty) mask.
        unsafe {
            let mut dfl: libc::sigaction = std::mem::zeroed();
            dfl.sa_sigaction = libc::SIG_DFL;
            libc::sigaction(sig, &dfl, ptr::null_mut());
        }
        return;
    }
    let flags = prev.map_or(0, |p| p.0.sa_flags);
    if flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was installed with `SA_SIGINFO`, so it has this signature;
        // we pass it the arguments the kernel gave us.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { std::mem::transmute(action) };
        f(sig, info, ctx);
    } else {
        // SAFETY: a plain `sa_handler` takes the signal number only.
        let f: extern "C" fn(libc::c_int) = unsafe { std::mem::transmute(action) };
        f(sig);
    }
}

/// Writes the fatal error for a fiber's overflow to stderr, without allocating.
fn report(info: &FiberInfo) {
    let mut buf = FixedBuf::new();
    let name = info.name.as_deref().unwrap_or("<unnamed>");
    let _ = write!(buf, "\nfatal runtime error: fiber {name:?} (task ");
    let _ = match info.id {
        Some(id) => write!(buf, "{id}"),
        None => write!(buf, "?"),
    };
    let _ = writeln!(
        buf,
        ") overflowed its stack of {} KiB; give it a bigger one with \
         spectrum_fiber::Builder::stack_size, or move deep recursion to a thread. aborting",
        info.stack_size / 1024
    );
    let bytes = buf.as_bytes();
    // SAFETY: writing initialised bytes from our buffer to fd 2; `write` is async-signal-safe.
    unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
}

/// A fixed buffer that `fmt` writes into; truncates instead of allocating.
struct FixedBuf {
    bytes: [u8; 512],
    len: usize,
}

impl FixedBuf {
    fn new() -> FixedBuf {
        FixedBuf {
            bytes: [0; 512],
            len: 0,
        }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl std::fmt::Write for FixedBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let n = s.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// An alternate signal stack this module installed for its thread (or none, when the thread
/// already had one).
struct AltStack(Option<(*mut libc::c_void, usize)>);

impl AltStack {
    fn install_if_missing() -> AltStack {
        // SAFETY: querying the current alternate stack into a valid `stack_t`.
        let current = unsafe {
            let mut old: libc::stack_t = std::mem::zeroed();
            libc::sigaltstack(ptr::null(), &mut old);
            old
        };
        if current.ss_flags & libc::SS_DISABLE == 0 {
            return AltStack(None);
        }
        let page = crate::stack::page_size();
        let len = ALT_STACK_SIZE + page;
        // SAFETY: a fresh anonymous mapping; touches no existing memory.
        let base = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return AltStack(None);
        }
        // SAFETY: the guard page is the first page of the mapping we just made; the stack is
        // the rest of it, registered for this thread only.
        unsafe {
            libc::mprotect(base, page, libc::PROT_NONE);
            let stack = libc::stack_t {
                ss_sp: base.cast::<u8>().add(page).cast(),
                ss_flags: 0,
                ss_size: ALT_STACK_SIZE,
            };
            if libc::sigaltstack(&stack, ptr::null_mut()) != 0 {
                libc::munmap(base, len);
                return AltStack(None);
            }
        }
        AltStack(Some((base, len)))
    }
}

impl Drop for AltStack {
    fn drop(&mut self) {
        if let Some((base, len)) = self.0 {
            // SAFETY: disables this thread's alternate stack (ours) before unmapping it; no
            // signal handler can be running on it while this thread runs its TLS destructors.
            unsafe {
                let disable = libc::stack_t {
                    ss_sp: ptr::null_mut(),
                    ss_flags: libc::SS_DISABLE,
                    ss_size: ALT_STACK_SIZE,
                };
                libc::sigaltstack(&disable, ptr::null_mut());
                libc::munmap(base, len);
            }
        }
    }
}

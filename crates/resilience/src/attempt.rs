//! `Attempt`: what a pipeline or a hedge hands to each try of the operation.
//!
//! # The token is made on first use
//!
//! Most operations never look at their token, and a [`CancelToken`] is an allocation (plus a
//! lock on its parent's child list when it has a parent). So an attempt usually carries only the
//! recipe for its token (the parent, and the deadline when a timeout runs it) and makes it on
//! the first [`Attempt::token`] call.
//!
//! Under a timeout both sides may need the token: the operation when it asks, the timeout when
//! its deadline fires (it cancels the token with cause "deadline exceeded"). They share a
//! [`Slot`], a `OnceLock` that whichever side comes first fills:
//!
//! 1. The timeout takes a slot from a small per-thread pool (no allocation in the steady state)
//!    and hands a clone of its `Arc` to the attempt.
//! 2. The attempt's `token()` and the timeout's deadline path both call `Slot::token`, so they
//!    make (at most) one token and see the same one.
//! 3. When the call ends, the timeout's [`SlotGuard`] puts the slot back in the pool only if it
//!    is again the sole owner and the slot is still empty (nobody made a token): a pooled slot
//!    is always pristine. Otherwise it simply drops its reference.

use std::cell::{OnceCell, RefCell};
use std::fmt;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use spectrum_rt::cancel::{CancelCause, CancelToken};
use spectrum_sync::atomic::{fence, Ordering::Acquire};

/// One try of an operation: its number and its cancel token.
///
/// The token fires when the attempt should stop: its timeout passed (cause "deadline
/// exceeded"), it lost a hedge race, or the enclosing scope was cancelled. Cooperative code
/// checks it at its safe points; async code can race work against `token().cancelled()`. Its
/// deadline, when it has one, is the one to pass on to downstream calls.
///
/// The token is created on first use (a child of the caller's, carrying the timeout's
/// deadline), so an operation that never looks at it costs no allocation.
#[derive(Clone)]
pub struct Attempt {
    number: u32,
    token: Token,
}

#[derive(Clone)]
enum Token {
    /// Made by this attempt on first use (clones made before that make their own).
    Own {
        cell: OnceCell<CancelToken>,
        parent: Option<CancelToken>,
    },
    /// Shared with the timeout running this attempt.
    Timed {
        slot: Arc<Slot>,
        parent: Option<CancelToken>,
        deadline: Instant,
    },
}

impl Attempt {
    /// An attempt whose token already exists.
    pub(crate) fn new(number: u32, token: CancelToken) -> Attempt {
        Attempt {
            number,
            token: Token::Own {
                cell: OnceCell::from(token),
                parent: None,
            },
        }
    }

    /// An attempt whose token, made on first use, is a child of `parent` (or a root).
    pub(crate) fn lazy(number: u32, parent: Option<CancelToken>) -> Attempt {
        Attempt {
            number,
            token: Token::Own {
                cell: OnceCell::new(),
                parent,
            },
        }
    }

    /// An attempt run by a timeout: its token, made on first use by it or by the timeout,
    /// lives in `slot` and has `deadline`.
    pub(crate) fn timed(
        number: u32,
        parent: Option<CancelToken>,
        deadline: Instant,
        slot: Arc<Slot>,
    ) -> Attempt {
        Attempt {
            number,
            token: Token::Timed {
                slot,
                parent,
                deadline,
            },
        }
    }

    /// The attempt's number, from 1.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// The attempt's cancel token.
    pub fn token(&self) -> &CancelToken {
        match &self.token {
            Token::Own { cell, parent } => cell.get_or_init(|| {
                parent
                    .as_ref()
                    .map_or_else(CancelToken::new, CancelToken::child)
            }),
            Token::Timed {
                slot,
                parent,
                deadline,
            } => slot.token(parent.as_ref(), *deadline),
        }
    }

    /// Takes the token.
    pub fn into_token(self) -> CancelToken {
        self.token().clone()
    }
}

impl fmt::Debug for Attempt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let token = match &self.token {
            Token::Own { cell, .. } => cell.get(),
            Token::Timed { slot, .. } => slot.cell.get(),
        };
        f.debug_struct("Attempt")
            .field("number", &self.number)
            .field("token", &token)
            .finish()
    }
}

/// Where a timed attempt's token lives once made; see the [module docs](self).
#[derive(Default)]
pub(crate) struct Slot {
    cell: OnceLock<CancelToken>,
}

impl Slot {
    /// The token, made now if nobody made it yet: a child of `parent` (or a root) with
    /// `deadline`.
    fn token(&self, parent: Option<&CancelToken>, deadline: Instant) -> &CancelToken {
        self.cell.get_or_init(|| match parent {
            Some(p) => p.child_with_deadline(deadline),
            None => CancelToken::with_deadline(deadline),
        })
    }
}

/// How many empty slots a thread keeps for reuse (enough for the calls one worker interleaves
/// in practice; beyond it, a slot is simply freed).
const POOL: usize = 16;

thread_local! {
    static SLOTS: RefCell<Vec<Arc<Slot>>> = const { RefCell::new(Vec::new()) };
}

/// A timeout's hold on the slot of the attempt it runs; recycles the slot when dropped.
pub(crate) struct SlotGuard {
    slot: Option<Arc<Slot>>,
}

impl SlotGuard {
    /// An empty slot, from this thread's pool if it has one.
    pub(crate) fn take() -> SlotGuard {
        let slot = SLOTS
            .try_with(|s| s.borrow_mut().pop())
            .ok()
            .flatten()
            .unwrap_or_default();
        SlotGuard { slot: Some(slot) }
    }

    /// Another handle to the slot, for the attempt.
    pub(crate) fn share(&self) -> Arc<Slot> {
        self.slot.clone().expect("present until drop")
    }

    /// The deadline fired: make the token if nobody has, and cancel it.
    pub(crate) fn cancel(&self, parent: Option<&CancelToken>, deadline: Instant) {
        if let Some(slot) = &self.slot {
            slot.token(parent, deadline)
                .cancel_with(CancelCause::deadline_exceeded());
        }
    }
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        let Some(slot) = self.slot.take() else { return };
        if Arc::strong_count(&slot) != 1 {
            return; // The attempt (or a clone of it) outlives the call: let it keep the slot.
        }
        // Acquire: pairs with the Release decrement of the other handles' drops, so that a token
        // another thread put in the slot before dropping its handle is seen below. (The count
        // cannot grow again: no other handle exists.)
        fence(Acquire);
        if slot.cell.get().is_some() {
            return; // Used: only pristine slots go back.
        }
        // `try_with`: during thread teardown the pool may be gone; then the slot is just freed.
        let _ = SLOTS.try_with(|s| {
            let mut s = s.borrow_mut();
            if s.len() < POOL {
                s.push(slot);
            }
        });
    }
}

impl fmt::Debug for SlotGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlotGuard").finish_non_exhaustive()
    }
}

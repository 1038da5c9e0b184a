//! `Attempt`: what a pipeline or a hedge hands to each try of the operation.

use std::cell::OnceCell;

use spectrum_rt::cancel::CancelToken;

/// One try of an operation: its number and its cancel token.
///
/// The token fires when the attempt should stop: its timeout passed (cause "deadline
/// exceeded"), it lost a hedge race, or the enclosing scope was cancelled. Cooperative code
/// checks it at its safe points; async code can race work against `token().cancelled()`. Its
/// deadline, when it has one, is the one to pass on to downstream calls.
///
/// Without a timeout or hedge, the token is created on first use (a child of the caller's), so
/// an operation that never looks at it costs no allocation.
#[derive(Clone, Debug)]
pub struct Attempt {
    number: u32,
    token: OnceCell<CancelToken>,
    parent: Option<CancelToken>,
}

impl Attempt {
    pub(crate) fn new(number: u32, token: CancelToken) -> Attempt {
        Attempt {
            number,
            token: OnceCell::from(token),
            parent: None,
        }
    }

    pub(crate) fn lazy(number: u32, parent: Option<CancelToken>) -> Attempt {
        Attempt {
            number,
            token: OnceCell::new(),
            parent,
        }
    }

    /// The attempt's number, from 1.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// The attempt's cancel token.
    pub fn token(&self) -> &CancelToken {
        self.token.get_or_init(|| {
            self.parent
                .as_ref()
                .map_or_else(CancelToken::new, CancelToken::child)
        })
    }

    /// Takes the token.
    pub fn into_token(self) -> CancelToken {
        self.token();
        self.token
            .into_inner()
            .expect("initialised by the call above")
    }
}

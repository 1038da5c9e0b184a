//! The `select!` macro.

/// Waits on several channel operations, receive and send cases across channels of any types,
/// and runs the arm of the one that proceeds (Go's `select`).
///
/// The expression is evaluated like a future: in async code it awaits; with `wait;` at the top
/// it blocks a thread or fiber through [`spectrum_rt::Wait`]. Either way the arm bodies run in the
/// caller's own context, so `break`, `continue`, `return` and `?` work as in any `match`.
///
/// ```
/// use spectrum_chan::{bounded, select};
///
/// let (tx1, rx1) = bounded::<i32>(1);
/// let (tx2, rx2) = bounded::<&str>(1);
/// tx1.try_send(1).unwrap();
/// let got = select! {
///     wait;
///     recv(rx1) -> v => format!("rx1: {}", v.unwrap()),
///     recv(rx2) -> v => format!("rx2: {}", v.unwrap()),
///     send(tx2, "hi") -> res => { res.unwrap(); "sent".to_string() }
/// };
/// assert!(got == "rx1: 1" || got == "sent");
/// # drop(tx1);
/// ```
///
/// # Cases
///
/// - `recv(r) -> pat => body`: `r` is a `Receiver`, a reference to one, or an `Option` of one
///   (`None` disables the case, like Go's nil channel); `pat` binds `Result<T, RecvError>`.
/// - `send(s, value) -> pat => body`: `s` likewise for a `Sender`; `pat` binds
///   `Result<(), SendError<T>>` (`Err` holds the value if the channel is closed).
/// - `... -> pat if guard => body`: the case is disabled when `guard` is false.
/// - `default => body`: runs if no case is ready right now (the select does not wait).
/// - `timeout(duration) => body` or `deadline(instant) => body`: runs if no case proceeded in
///   time (needs a Spectrum runtime).
/// - Timer cases are plain receives: `recv(after(d)) -> _ => ...`, `recv(tick(d)) -> t => ...`.
///
/// Modifiers, before the cases: `biased;` picks the first ready case in source order instead of
/// uniformly at random among the ready ones; `wait;` blocks instead of awaiting.
///
/// Channel operands, send values and guards are evaluated once, in source order, before
/// anything else (Go rule 9). Exactly one case proceeds; the others have no effect.
///
/// # Cancel safety
///
/// In async code the select is a future: dropping it (say, inside another select or a
/// timeout) commits no case, or gives a value received just before back to its channel.
#[macro_export]
macro_rules! select {
    // ---- internal: modifiers ----
    (@mods $sel:ident [$b:tt] [$m:tt] biased; $($rest:tt)*) => {
        $crate::select!(@mods $sel [true] [$m] $($rest)*)
    };
    (@mods $sel:ident [$b:tt] [$m:tt] wait; $($rest:tt)*) => {
        $crate::select!(@mods $sel [$b] [wait] $($rest)*)
    };
    (@mods $sel:ident [$b:tt] [$m:tt] $($rest:tt)*) => {
        $crate::select!(@parse $sel [$b] [$m] [] [] $($rest)*)
    };

    // ---- internal: cases; a missing guard becomes `if true` ----
    (@parse $sel:ident $b:tt $m:tt $cases:tt $end:tt
        recv($r:expr) -> $p:pat => $($rest:tt)*) => {
        $crate::select!(@parse $sel $b $m $cases $end recv($r) -> $p if true => $($rest)*)
    };
    (@parse $sel:ident $b:tt $m:tt $cases:tt $end:tt
        send($s:expr, $v:expr) -> $p:pat => $($rest:tt)*) => {
        $crate::select!(@parse $sel $b $m $cases $end send($s, $v) -> $p if true => $($rest)*)
    };
    // Bodies: a block (comma optional) or an expression followed by a comma or the end.
    (@parse $sel:ident $b:tt $m:tt $cases:tt $end:tt
        $kind:ident $args:tt -> $p:pat if $g:expr => $body:block , $($rest:tt)*) => {
        $crate::select!(@case $sel $b $m $cases $end [$kind $args ($p) ($g) $body] $($rest)*)
    };
    (@parse $sel:ident $b:tt $m:tt $cases:tt $end:tt
        $kind:ident $args:tt -> $p:pat if $g:expr => $body:block $($rest:tt)*) => {
        $crate::select!(@case $sel $b $m $cases $end [$kind $args ($p) ($g) $body] $($rest)*)
    };
    (@parse $sel:ident $b:tt $m:tt $cases:tt $end:tt
        $kind:ident $args:tt -> $p:pat if $g:expr => $body:expr , $($rest:tt)*) => {
        $crate::select!(@case $sel $b $m $cases $end [$kind $args ($p) ($g) { $body }] $($rest)*)
    };
    (@parse $sel:ident $b:tt $m:tt $cases:tt $end:tt
        $kind:ident $args:tt -> $p:pat if $g:expr => $body:expr) => {
        $crate::select!(@case $sel $b $m $cases $end [$kind $args ($p) ($g) { $body }])
    };
    // default / timeout / deadline
    (@parse $sel:ident $b:tt $m:tt $cases:tt [] default => $body:block $(,)?) => {
        $crate::select!(@emit $sel $b $m $cases [default () $body])
    };
    (@parse $sel:ident $b:tt $m:tt $cases:tt [] default => $body:expr $(,)?) => {
        $crate::select!(@emit $sel $b $m $cases [default () { $body }])
    };
    (@parse $sel:ident $b:tt $m:tt $cases:tt []
        $kind:ident($t:expr) => $body:block $(,)?) => {
        $crate::select!(@emit $sel $b $m $cases [$kind ($t) $body])
    };
    (@parse $sel:ident $b:tt $m:tt $cases:tt []
        $kind:ident($t:expr) => $body:expr $(,)?) => {
        $crate::select!(@emit $sel $b $m $cases [$kind ($t) { $body }])
    };
    (@parse $sel:ident $b:tt $m:tt $cases:tt $end:tt) => {
        $crate::select!(@emit $sel $b $m $cases $end)
    };
    (@parse $($t:tt)*) => {
        ::core::compile_error!(
            "select!: expected `recv(r) -> pat => body`, `send(s, v) -> pat => body`, \
             `default => body`, `timeout(d) => body` or `deadline(t) => body` (the last three \
             only once, at the end)"
        )
    };

    // One case: fresh identifiers (hygiene makes each expansion's `__ch`, `__case`, `__val` and
    // `__grd` distinct from every other case's).
    (@case $sel:ident $b:tt $m:tt [$($cases:tt)*] $end:tt
        [recv ($r:expr) $p:tt $g:tt $body:block] $($rest:tt)*) => {
        $crate::select!(@parse $sel $b $m
            [$($cases)* [recv __ch __case __val __grd ($r) (()) $g $p $body]] $end $($rest)*)
    };
    (@case $sel:ident $b:tt $m:tt [$($cases:tt)*] $end:tt
        [send ($s:expr, $v:expr) $p:tt $g:tt $body:block] $($rest:tt)*) => {
        $crate::select!(@parse $sel $b $m
            [$($cases)* [send __ch __case __val __grd ($s) ($v) $g $p $body]] $end $($rest)*)
    };
    (@case $($t:tt)*) => {
        ::core::compile_error!("select!: a case is `recv(r) -> pat` or `send(s, value) -> pat`")
    };

    // ---- internal: expansion ----
    // `select! {}` blocks forever (Go rule 12).
    (@emit $sel:ident $b:tt $m:tt [] []) => {
        $crate::select!(@block $m $crate::__private::Forever)
    };
    (@emit $sel:ident $b:tt $m:tt $cases:tt $end:tt) => {
        $crate::select!(@nest $sel $b $m $end $cases $cases)
    };
    // Evaluates each case's operand, value and guard once, in source order (Go rule 9). `ref`
    // borrows a place (`rx`) without moving it and keeps a temporary (`after(d)`) alive for
    // the whole select.
    (@nest $sel:ident $b:tt $m:tt $end:tt
        [[$kind:ident $ch:ident $idx:ident $val:ident $grd:ident ($op:expr) ($v:expr) ($g:expr)
          $p:tt $body:tt] $($more:tt)*] $all:tt) => {
        match $op {
            ref $ch => {
                let $val = $v;
                let $grd: bool = $g;
                $crate::select!(@nest $sel $b $m $end [$($more)*] $all)
            }
        }
    };
    (@nest $sel:ident [$b:tt] $m:tt $end:tt []
        [$([$kind:ident $ch:ident $case:ident $val:ident $grd:ident $op:tt $v:tt $g:tt
           ($p:pat) $body:block])*]) => {{
        // The cases live here, on the caller's stack (or in its future); each unlinks its own
        // waiter when dropped.
        $(let mut $case = $crate::select!(@new $kind $ch $val $grd);)*
        let __res = $crate::select!(@run $b $m $end [$(&$case),*]);
        let __out = match __res {
            ::core::result::Result::Ok(_) => {
                $(if $case.is_won() {
                    let $p = $case.take();
                    $body
                } else)* {
                    ::core::unreachable!("select!: no case committed")
                }
            }
            ::core::result::Result::Err(_) => $crate::select!(@end $end),
        };
        __out
    }};

    (@new recv $ch:ident $val:ident $grd:ident) => {
        $crate::__private::RecvCase::new($ch, $grd)
    };
    (@new send $ch:ident $val:ident $grd:ident) => {
        $crate::__private::SendCase::new($ch, $val, $grd)
    };

    (@run $b:tt $m:tt [] [$($c:expr),*]) => {
        ::core::result::Result::<_, ()>::Ok(
            $crate::select!(@block $m $crate::__private::Raw::new(&[$($c),*], $b))
                .expect("a select without a deadline never times out")
        )
    };
    (@run $b:tt $m:tt [default () $body:block] [$($c:expr),*]) => {
        $crate::__private::Raw::new(&[$($c),*], $b).try_select()
    };
    (@run $b:tt $m:tt [timeout ($t:expr) $body:block] [$($c:expr),*]) => {
        $crate::select!(@block $m $crate::__private::Raw::new(&[$($c),*], $b).timeout($t))
    };
    (@run $b:tt $m:tt [deadline ($t:expr) $body:block] [$($c:expr),*]) => {
        $crate::select!(@block $m $crate::__private::Raw::new(&[$($c),*], $b).deadline($t))
    };
    (@run $b:tt $m:tt [$other:ident $($t:tt)*] $cases:tt) => {
        ::core::compile_error!(::core::concat!(
            "select!: unknown arm `", ::core::stringify!($other),
            "`; expected `default`, `timeout(d)` or `deadline(t)`"
        ))
    };

    (@block [await] $e:expr) => { $e.await };
    (@block [wait] $e:expr) => { $e.wait() };

    (@end []) => { ::core::unreachable!("select!: a select without a deadline never times out") };
    (@end [$kind:ident $t:tt $body:block]) => { $body };

    // ---- entry ----
    ($($rest:tt)*) => {
        $crate::select!(@mods __sel [false] [await] $($rest)*)
    };
}

//! Structured concurrency, one test per rule of `reference/structured-concurrency.md`.

use std::future::pending;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use spectrum_rt::cancel::{shield, shield_with_timeout, CancelCause, CancelToken, CauseKind};
use spectrum_rt::scope::{self, scope, supervised, BoxError, ChildError, FailureKind, SpawnError};
use spectrum_rt::{time, Runtime};

fn rt() -> Runtime {
    Runtime::builder()
        .workers(2)
        .start_paused(true)
        .build()
        .unwrap()
}

fn err(msg: &str) -> io::Error {
    io::Error::other(msg.to_owned())
}

/// Rule 1: a scope does not return until every child has finished, whatever happened.
#[test]
fn scope_waits_for_every_child() {
    rt().block_on(async {
        let done = Arc::new(AtomicUsize::new(0));
        let d = done.clone();
        let out = scope(|s| async move {
            for i in 0..50u64 {
                let d = d.clone();
                s.spawn(async move {
                    time::sleep(Duration::from_millis(i)).await;
                    d.fetch_add(1, SeqCst);
                    Ok::<_, io::Error>(())
                })?;
            }
            Ok::<_, BoxError>("body done")
        })
        .await
        .unwrap();
        assert_eq!(out, "body done");
        assert_eq!(done.load(SeqCst), 50);
    });
}

/// Rule 2: fail-fast — the first failure cancels the siblings with it as the cause; the scope
/// returns it first and keeps later ones (here: a shielded cleanup that fails after the
/// cancellation) as suppressed.
#[test]
fn fail_fast_cancels_siblings_and_keeps_suppressed_errors() {
    rt().block_on(async {
        let body_saw_sibling = Arc::new(AtomicUsize::new(0));
        let seen = body_saw_sibling.clone();
        let res = scope(|s| async move {
            let slow = s.spawn_named("slow", async {
                struct Cleanup;
                impl Drop for Cleanup {
                    fn drop(&mut self) {
                        drop(shield(async {
                            time::sleep(Duration::from_millis(5)).await;
                            panic!("cleanup failed too");
                        }));
                    }
                }
                let _c = Cleanup;
                pending::<Result<(), io::Error>>().await
            })?;
            s.spawn_named("first", async {
                time::sleep(Duration::from_millis(10)).await;
                Err::<(), _>(err("first failure"))
            })?;
            let _ = slow.await;
            seen.fetch_add(1, SeqCst);
            Ok::<_, BoxError>(())
        })
        .await;
        let e = res.unwrap_err();
        assert!(
            e.first
                .to_string()
                .contains("\"first\" failed: first failure"),
            "{e}"
        );
        assert_eq!(e.suppressed.len(), 1, "{e}");
        assert!(
            matches!(&e.suppressed[0].kind, FailureKind::Panic(m) if m == "cleanup failed too")
        );
        // The body was cancelled with the scope (it never saw the sibling's outcome).
        assert_eq!(body_saw_sibling.load(SeqCst), 0);
    });
}

#[test]
fn supervised_body_failure_lists_child_failures_as_suppressed() {
    rt().block_on(async {
        let e = supervised(|s| async move {
            let h = s.spawn(async { Err::<(), _>(err("child failed first")) })?;
            assert!(h.await.is_err());
            Err::<(), BoxError>(err("then the body").into())
        })
        .await
        .unwrap_err();
        assert!(e.first.to_string().contains("then the body"));
        assert_eq!(e.suppressed.len(), 1);
        assert!(e.suppressed[0].to_string().contains("child failed first"));
    });
}

#[test]
fn a_child_panic_fails_the_scope_with_its_message() {
    rt().block_on(async {
        let e = scope(|s| async move {
            s.spawn(async { panic!("kaboom") as Result<(), io::Error> })?;
            let h = s.spawn(async { pending::<Result<u8, io::Error>>().await })?;
            h.await?;
            Ok::<_, BoxError>(())
        })
        .await
        .unwrap_err();
        assert!(
            matches!(&e.first.kind, FailureKind::Panic(m) if m == "kaboom"),
            "{e}"
        );
    });
}

#[test]
fn siblings_see_the_failure_as_their_cancel_cause() {
    rt().block_on(async {
        let (tx, rx) = std::sync::mpsc::channel();
        let res = scope(|s| async move {
            let h = s.spawn(async { pending::<Result<(), io::Error>>().await })?;
            s.spawn(async { Err::<(), _>(err("db down")) })?;
            spectrum_rt::spawn(async move {
                let _ = tx.send(h.await);
            })
            .detach();
            pending::<Result<(), BoxError>>().await
        })
        .await;
        assert!(res.is_err());
        match rx.recv().unwrap() {
            Err(ChildError::Cancelled(c)) => {
                assert_eq!(c.kind(), CauseKind::SiblingFailed);
                assert!(c.to_string().contains("db down"), "{c}");
            }
            other => panic!("{other:?}"),
        }
    });
}

/// Rule 3: supervised — a child's failure touches no sibling; the body's failure cancels all.
#[test]
fn supervised_children_fail_alone() {
    rt().block_on(async {
        let out = supervised(|s| async move {
            let bad = s.spawn(async { Err::<u32, _>(err("one bad apple")) })?;
            let good = s.spawn(async {
                time::sleep(Duration::from_millis(20)).await;
                Ok::<_, io::Error>(2)
            })?;
            assert!(matches!(bad.await, Err(ChildError::Failed(_))));
            Ok::<_, BoxError>(good.await? * 21)
        })
        .await
        .unwrap();
        assert_eq!(out, 42);

        let e = supervised(|s| async move {
            s.spawn(async { pending::<Result<(), io::Error>>().await })?;
            time::sleep(Duration::from_millis(1)).await;
            Err::<(), BoxError>(err("body failed").into())
        })
        .await
        .unwrap_err();
        assert!(e.first.to_string().contains("body failed"));
    });
}

/// Rule 4: cancellation flows down, never up.
#[test]
fn cancellation_flows_down_through_nested_scopes() {
    rt().block_on(async {
        let inner_cause = Arc::new(std::sync::Mutex::new(None));
        let ic = inner_cause.clone();
        let e = scope(|outer| async move {
            let o2 = outer.clone();
            outer.spawn(async move {
                let r = scope(|inner| async move {
                    inner.spawn(async { pending::<Result<(), io::Error>>().await })?;
                    pending::<Result<(), BoxError>>().await
                })
                .await;
                *ic.lock().unwrap() = Some(r.unwrap_err());
                Ok::<_, io::Error>(())
            })?;
            time::sleep(Duration::from_millis(5)).await;
            o2.cancel_with(CancelCause::new("operator abort"));
            pending::<Result<(), BoxError>>().await
        })
        .await
        .unwrap_err();
        assert!(
            matches!(&e.first.kind, FailureKind::Cancelled(c) if c.to_string() == "operator abort")
        );
        // The inner scope never finished its body; it was dropped with its task. A child token
        // cancelled alone leaves the parent untouched:
        let parent = CancelToken::new();
        let child = parent.child();
        child.cancel();
        assert!(!parent.is_cancelled());
    });
}

/// Rule 5: deadlines are inherited and the earlier wins.
#[test]
fn deadline_cancels_the_scope_and_nested_deadlines_take_the_earlier() {
    rt().block_on(async {
        let start = time::now();
        let e = scope::Builder::new()
            .timeout(Duration::from_millis(100))
            .run(|s| async move {
                let inner_deadline = scope::Builder::new()
                    .timeout(Duration::from_secs(60))
                    .run(|inner| async move { Ok::<_, BoxError>(inner.token().deadline()) })
                    .await?;
                assert_eq!(
                    inner_deadline,
                    s.token().deadline(),
                    "the earlier deadline wins"
                );
                s.spawn(async { pending::<Result<(), io::Error>>().await })?;
                pending::<Result<(), BoxError>>().await
            })
            .await
            .unwrap_err();
        assert!(e.is_deadline_exceeded(), "{e}");
        let waited = time::now() - start;
        assert!(waited >= Duration::from_millis(100) && waited < Duration::from_millis(150));
    });
}

/// Rule 6: shielded cleanup runs after cancellation, bounded by its own deadline, and the scope
/// waits for it.
#[test]
fn shielded_cleanup_runs_after_cancellation_and_is_joined() {
    rt().block_on(async {
        let cleaned = Arc::new(AtomicUsize::new(0));
        let c = cleaned.clone();
        struct Conn(Arc<AtomicUsize>);
        impl Drop for Conn {
            fn drop(&mut self) {
                let c = self.0.clone();
                // Async cleanup from a destructor: shielded, so it survives the cancellation.
                drop(shield(async move {
                    time::sleep(Duration::from_millis(30)).await;
                    c.fetch_add(1, SeqCst);
                }));
            }
        }
        let e = scope(|s| async move {
            // Wait until the connection exists, so its cancellation has something to clean up.
            s.start(|ready| async move {
                let _conn = Conn(c);
                ready.send(());
                pending::<Result<(), io::Error>>().await
            })
            .await?;
            s.spawn(async { Err::<(), _>(err("trigger")) })?;
            Ok::<_, BoxError>(())
        })
        .await
        .unwrap_err();
        assert!(e.first.to_string().contains("trigger"));
        assert_eq!(
            cleaned.load(SeqCst),
            1,
            "the scope waited for the shielded cleanup"
        );

        // Bounded by its own timeout.
        let r = shield_with_timeout(Duration::from_millis(5), pending::<()>())
            .await
            .unwrap();
        assert!(r.is_err());
    });
}

/// Rule 7: spawning into a closed or cancelled scope is an error, never a panic.
#[test]
fn spawning_into_a_closed_or_cancelled_scope_is_an_error() {
    rt().block_on(async {
        let kept = scope(|s| async move { Ok::<_, BoxError>(s) })
            .await
            .unwrap();
        assert!(matches!(
            kept.spawn(async { Ok::<_, io::Error>(()) }),
            Err(SpawnError::Closed)
        ));

        let e = scope(|s| async move {
            s.cancel_with(CancelCause::new("stop"));
            match s.spawn(async { Ok::<_, io::Error>(()) }) {
                Err(SpawnError::Cancelled(c)) => assert_eq!(c.to_string(), "stop"),
                other => panic!("{other:?}"),
            }
            Ok::<_, BoxError>(())
        })
        .await
        .unwrap_err();
        assert!(matches!(e.first.kind, FailureKind::Cancelled(_)));
    });
}

/// Rule 8: a readiness handshake lets the parent wait for a child to be ready.
#[test]
fn start_waits_for_readiness() {
    rt().block_on(async {
        let out = scope(|s| async move {
            let (port, server) = s
                .start(|ready| async move {
                    time::sleep(Duration::from_millis(10)).await;
                    ready.send(8080u16);
                    time::sleep(Duration::from_millis(10)).await;
                    Ok::<_, io::Error>("served")
                })
                .await?;
            assert_eq!(port, 8080);
            Ok::<_, BoxError>(server.await?)
        })
        .await
        .unwrap();
        assert_eq!(out, "served");

        let e = scope(|s| async move {
            let r = s
                .start(|_ready: scope::Ready<u8>| async { Ok::<_, io::Error>(()) })
                .await;
            assert!(r.is_err(), "ended without signalling readiness");
            Ok::<_, BoxError>(())
        })
        .await;
        assert!(e.is_ok());
    });
}

#[test]
fn the_current_token_inside_a_scope_is_the_scopes() {
    rt().block_on(async {
        assert!(CancelToken::current().is_none());
        scope(|s| async move {
            let t = s.token().clone();
            let inside =
                s.spawn(
                    async move { Ok::<_, io::Error>(CancelToken::current().unwrap().same_as(&t)) },
                )?;
            assert!(inside.await?);
            Ok::<_, BoxError>(())
        })
        .await
        .unwrap();
    });
}

#[test]
fn dropping_a_scope_future_cancels_its_children() {
    rt().block_on(async {
        let drops = Arc::new(AtomicUsize::new(0));
        struct D(Arc<AtomicUsize>);
        impl Drop for D {
            fn drop(&mut self) {
                self.0.fetch_add(1, SeqCst);
            }
        }
        let d = drops.clone();
        let r = time::timeout(
            Duration::from_millis(10),
            scope(|s| async move {
                for _ in 0..10 {
                    let g = D(d.clone());
                    s.spawn(async move {
                        let _g = g;
                        pending::<Result<(), io::Error>>().await
                    })?;
                }
                pending::<Result<(), BoxError>>().await
            }),
        )
        .await;
        assert!(r.is_err());
        time::sleep(Duration::from_millis(1)).await;
        assert_eq!(drops.load(SeqCst), 10);
    });
}

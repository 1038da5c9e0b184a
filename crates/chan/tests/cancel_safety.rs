#![cfg(not(loom))]
//! `# Cancel safety`, claim by claim: every future of the crate dropped at every interesting
//! point (never polled, parked, completed by a counterpart but not yet polled) loses no value
//! and leaves nothing half-done. Polls and wakes are counted exactly.

mod common;

use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

use common::{count, counter, poll_once, poll_with, CountingWaker, Token};
use futures::StreamExt;
use spectrum_chan::{bounded, select, Select, TryRecvError, TrySendError};

#[test]
fn recv_dropped_while_parked_loses_nothing() {
    let (tx, rx) = bounded::<u32>(1);
    {
        let mut f = pin!(rx.recv());
        assert!(poll_once(f.as_mut()).is_pending());
    }
    // The parked receive is gone: the value goes to the buffer, not to a dead waiter.
    tx.try_send(1).unwrap();
    assert_eq!(rx.try_recv(), Ok(1));
}

#[test]
fn recv_completed_then_dropped_gives_the_value_back() {
    let (tx, rx) = bounded::<u32>(0);
    let (wakes, waker) = CountingWaker::new();
    {
        let mut f = pin!(rx.recv());
        assert!(poll_with(f.as_mut(), &waker).is_pending());
        // A rendezvous send hands the value straight to the parked receive and wakes it once.
        tx.try_send(7).unwrap();
        assert_eq!(wakes.wakes(), 1);
        // Dropped before it could return the value.
    }
    assert_eq!(
        rx.try_recv(),
        Ok(7),
        "the value was given back to the channel"
    );
    // With another receiver parked behind it, the given-back value goes straight to that one.
    let mut f2 = pin!(rx.recv());
    {
        let mut f1 = pin!(rx.recv());
        assert!(poll_once(f1.as_mut()).is_pending());
        assert!(poll_once(f2.as_mut()).is_pending()); // parks behind f1
        tx.try_send(8).unwrap(); // handed to f1
    } // f1 dropped with the value
    assert_eq!(poll_once(f2.as_mut()), Poll::Ready(Ok(8)));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn send_dropped_while_parked_drops_its_value_and_sends_nothing() {
    let drops = counter();
    let (tx, rx) = bounded::<Token>(0);
    {
        let mut f = pin!(tx.send(Token::new(1, &drops)));
        assert!(poll_once(f.as_mut()).is_pending());
        assert_eq!(count(&drops), 0);
    }
    assert_eq!(
        count(&drops),
        1,
        "the unsent value is dropped with the future"
    );
    assert_eq!(
        rx.try_recv(),
        Err(TryRecvError::Empty),
        "and never delivered"
    );
}

#[test]
fn send_completed_then_dropped_was_delivered_once() {
    let drops = counter();
    let (tx, rx) = bounded::<Token>(0);
    let (wakes, waker) = CountingWaker::new();
    {
        let mut f = pin!(tx.send(Token::new(1, &drops)));
        assert!(poll_with(f.as_mut(), &waker).is_pending());
        let got = rx.try_recv().unwrap();
        assert_eq!(got.id, 1);
        assert_eq!(wakes.wakes(), 1);
        drop(got);
    }
    assert_eq!(
        count(&drops),
        1,
        "delivered, then dropped by the receiver only"
    );
}

#[test]
fn send_never_polled_sends_nothing() {
    let (tx, rx) = bounded::<u32>(1);
    drop(tx.send(1));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn reserve_granted_then_dropped_frees_the_slot() {
    let (tx, rx) = bounded::<u32>(1);
    tx.try_send(0).unwrap();
    {
        let mut f = pin!(tx.reserve());
        assert!(poll_once(f.as_mut()).is_pending());
        // Receiving frees the slot and grants it to the parked reservation...
        assert_eq!(rx.try_recv(), Ok(0));
        assert_eq!(
            tx.try_send(1),
            Err(TrySendError::Full(1)),
            "the slot is promised"
        );
        // ...which is dropped before it could turn into a permit.
    }
    tx.try_send(2).unwrap();
    assert_eq!(rx.try_recv(), Ok(2));
}

#[test]
fn closed_future_dropped_while_parked_is_unlinked() {
    let (tx, rx) = bounded::<u32>(1);
    {
        let mut f = pin!(tx.closed());
        assert!(poll_once(f.as_mut()).is_pending());
    }
    // Closing after the drop touches no freed waiter (Miri/ASan would flag it) and works.
    assert!(rx.close());
}

#[test]
fn select_dropped_after_commit_gives_the_value_back_and_losers_are_untouched() {
    let (tx1, rx1) = bounded::<u32>(0);
    let (tx2, rx2) = bounded::<u32>(1);
    let (_tx3, rx3) = bounded::<u32>(1);
    tx2.try_send(20).unwrap();
    let mut sel = Select::new();
    sel.recv(&rx1);
    sel.recv(&rx3);
    {
        let mut f = pin!(sel.select());
        assert!(poll_once(f.as_mut()).is_pending());
        tx1.try_send(10).unwrap(); // commits case 0 while parked
    }
    assert_eq!(
        rx1.try_recv(),
        Ok(10),
        "the committed value went back to its channel"
    );
    assert_eq!(rx2.try_recv(), Ok(20));
    drop(sel);
}

#[test]
fn selected_operation_dropped_unread_gives_the_value_back() {
    let (tx, rx) = bounded::<u32>(1);
    tx.try_send(5).unwrap();
    let mut sel = Select::new();
    sel.recv(&rx);
    drop(sel.try_select().unwrap());
    drop(sel);
    assert_eq!(rx.try_recv(), Ok(5));
}

#[test]
fn losing_send_case_sends_nothing() {
    let (tx_a, rx_a) = bounded::<u32>(1);
    let (tx_b, rx_b) = bounded::<u32>(1);
    tx_a.try_send(1).unwrap();
    // Only the receive can proceed; the send case on a full channel loses.
    tx_b.try_send(0).unwrap();
    let r = select! { wait; recv(rx_a) -> v => v.unwrap(), send(tx_b, 99) -> _ => 99 };
    assert_eq!(r, 1);
    assert_eq!(rx_b.try_recv(), Ok(0));
    assert_eq!(rx_b.try_recv(), Err(TryRecvError::Empty));
}

#[test]
fn stream_next_dropped_while_parked_keeps_the_value_for_the_next_poll() {
    let (tx, mut rx) = bounded::<u32>(0);
    {
        let mut next = rx.next();
        assert!(poll_once(std::pin::Pin::new(&mut next)).is_pending());
    }
    tx.try_send(3).unwrap(); // handed to the wait parked inside the receiver
    let mut next = rx.next();
    assert_eq!(
        poll_once(std::pin::Pin::new(&mut next)),
        Poll::Ready(Some(3))
    );
}

#[test]
fn stream_receiver_dropped_with_a_handed_value_gives_it_back() {
    let (tx, mut rx) = bounded::<u32>(0);
    let rx2 = rx.clone();
    {
        let mut next = rx.next();
        assert!(poll_once(std::pin::Pin::new(&mut next)).is_pending());
    }
    tx.try_send(4).unwrap();
    drop(rx);
    assert_eq!(rx2.try_recv(), Ok(4));
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn recv_timeout_returns_a_value_that_arrives_as_time_runs_out() {
    let (tx, rx) = bounded::<u32>(0);
    let mut f = pin!(rx.recv_timeout(Duration::from_millis(10)));
    assert!(futures::poll!(f.as_mut()).is_pending());
    tx.try_send(1).unwrap(); // completes the parked receive...
    spectrum_rt::time::advance(Duration::from_millis(20)).await; // ...and the timer fires too
    assert_eq!(f.await, Ok(1), "completion wins over the timeout");
}

#[spectrum_macros::test(crate = "spectrum_rt", start_paused = true)]
async fn send_timeout_returns_the_value_on_timeout_and_dropping_it_sends_nothing() {
    let (tx, rx) = bounded::<String>(0);
    let r = tx
        .send_timeout("late".into(), Duration::from_millis(10))
        .await;
    assert_eq!(r.unwrap_err().into_inner(), "late");
    {
        let mut f = pin!(tx.send_timeout("dropped".into(), Duration::from_secs(1)));
        assert!(futures::poll!(f.as_mut()).is_pending());
    }
    assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
}

#[spectrum_macros::test(crate = "spectrum_rt")]
async fn select_macro_inside_a_timeout_is_cancel_safe() {
    let (tx, rx) = bounded::<u32>(1);
    let r = spectrum_rt::time::timeout(Duration::from_millis(5), async {
        select! { recv(rx) -> v => v.unwrap() }
    })
    .await;
    assert!(r.is_err());
    tx.try_send(9).unwrap();
    assert_eq!(rx.try_recv(), Ok(9));
}

#[test]
fn sink_dropped_after_poll_ready_releases_its_slot() {
    use futures::Sink;
    let (tx, rx) = bounded::<u32>(1);
    let tx2 = tx.clone();
    let mut sink = tx.into_sink();
    let noop = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(noop);
    assert!(matches!(
        std::pin::Pin::new(&mut sink).poll_ready(&mut cx),
        Poll::Ready(Ok(()))
    ));
    assert_eq!(
        tx2.try_send(1),
        Err(TrySendError::Full(1)),
        "the sink holds the slot"
    );
    drop(sink);
    tx2.try_send(2).unwrap();
    assert_eq!(rx.try_recv(), Ok(2));
}

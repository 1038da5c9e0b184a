//! An intrusive doubly linked list.
//!
//! The nodes embed their own [`Pointers`], so pushing and removing never allocate and removal of
//! a node whose address is known is O(1). That is what timer cancellation, waiter queues and the
//! task registry need: each entry lives inside the object it describes (a pinned future, a task
//! header), and its memory is freed with that object.
//!
//! # Invariants
//!
//! - A node is in at most one list at a time (per `Pointers` field), and the caller keeps the node
//!   alive and pinned for as long as it is linked.
//! - The list is not thread-safe by itself: every list in Spectrum sits behind a lock, and the
//!   `Pointers` of a node are only touched while that lock is held.

use core::fmt;
use core::marker::PhantomData;
use core::ptr::NonNull;

/// How a type is linked: where its [`Pointers`] live and how handles convert to pointers.
///
/// # Safety
///
/// `pointers` must return a pointer to a `Pointers<Self::Target>` embedded in the target that
/// stays valid as long as the target is, and `as_raw` / `from_raw` must round-trip ownership.
pub unsafe trait Link {
    /// The owning handle pushed into and popped out of the list.
    type Handle;
    /// The node type.
    type Target;

    /// Converts a handle into a raw node pointer, transferring ownership to the list.
    fn as_raw(handle: &Self::Handle) -> NonNull<Self::Target>;

    /// Converts a raw node pointer back into the handle.
    ///
    /// # Safety
    ///
    /// `ptr` must come from `as_raw` of a handle whose ownership the list holds.
    unsafe fn from_raw(ptr: NonNull<Self::Target>) -> Self::Handle;

    /// The node's embedded pointers.
    ///
    /// # Safety
    ///
    /// `target` must point to a live node.
    unsafe fn pointers(target: NonNull<Self::Target>) -> NonNull<Pointers<Self::Target>>;
}

/// The previous and next pointers embedded in a node.
pub struct Pointers<T> {
    prev: Option<NonNull<T>>,
    next: Option<NonNull<T>>,
}

// SAFETY: the pointers are only read or written under the lock that guards their list (module
// invariants), so moving or sharing the struct between threads is as safe as the data behind it.
unsafe impl<T: Send> Send for Pointers<T> {}
// SAFETY: as for `Send`.
unsafe impl<T: Sync> Sync for Pointers<T> {}

impl<T> Pointers<T> {
    /// Unlinked pointers.
    pub const fn new() -> Self {
        Self {
            prev: None,
            next: None,
        }
    }
}

impl<T> Default for Pointers<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> fmt::Debug for Pointers<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pointers")
            .field("prev", &self.prev)
            .field("next", &self.next)
            .finish()
    }
}

/// An intrusive doubly linked list of `L::Target` nodes.
pub struct LinkedList<L: Link> {
    head: Option<NonNull<L::Target>>,
    tail: Option<NonNull<L::Target>>,
    len: usize,
    _marker: PhantomData<*const L>,
}

// SAFETY: the list owns its nodes' handles; sending the list sends the handles.
unsafe impl<L: Link> Send for LinkedList<L> where L::Handle: Send {}
// SAFETY: `&LinkedList` only exposes reads of the head/tail pointers and of `len`.
unsafe impl<L: Link> Sync for LinkedList<L> where L::Handle: Sync {}

impl<L: Link> LinkedList<L> {
    /// An empty list.
    pub const fn new() -> Self {
        Self {
            head: None,
            tail: None,
            len: 0,
            _marker: PhantomData,
        }
    }

    /// True if the list holds no node.
    pub fn is_empty(&self) -> bool {
        self.head.is_none()
    }

    /// The number of linked nodes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Links `handle` at the front.
    pub fn push_front(&mut self, handle: L::Handle) {
        let node = L::as_raw(&handle);
        core::mem::forget(handle);
        // SAFETY: `node` is live (we now own its handle) and not linked (module invariants);
        // `head` is live while linked.
        unsafe {
            let p = L::pointers(node).as_ptr();
            (*p).next = self.head;
            (*p).prev = None;
            match self.head {
                Some(head) => (*L::pointers(head).as_ptr()).prev = Some(node),
                None => self.tail = Some(node),
            }
        }
        self.head = Some(node);
        self.len += 1;
    }

    /// Links `handle` at the back.
    pub fn push_back(&mut self, handle: L::Handle) {
        let node = L::as_raw(&handle);
        core::mem::forget(handle);
        // SAFETY: as in `push_front`.
        unsafe {
            let p = L::pointers(node).as_ptr();
            (*p).prev = self.tail;
            (*p).next = None;
            match self.tail {
                Some(tail) => (*L::pointers(tail).as_ptr()).next = Some(node),
                None => self.head = Some(node),
            }
        }
        self.tail = Some(node);
        self.len += 1;
    }

    /// Unlinks and returns the front node.
    pub fn pop_front(&mut self) -> Option<L::Handle> {
        let head = self.head?;
        // SAFETY: `head` is linked in this list, hence live; we hand its ownership back.
        unsafe {
            self.remove(head);
            Some(L::from_raw(head))
        }
    }

    /// Unlinks and returns the back node.
    pub fn pop_back(&mut self) -> Option<L::Handle> {
        let tail = self.tail?;
        // SAFETY: as in `pop_front`.
        unsafe {
            self.remove(tail);
            Some(L::from_raw(tail))
        }
    }

    /// The front node, still linked.
    pub fn front(&self) -> Option<NonNull<L::Target>> {
        self.head
    }

    /// Unlinks `node` without converting it back into a handle.
    ///
    /// Returns `false` (and changes nothing) if `node` is visibly not in this list.
    ///
    /// # Safety
    ///
    /// `node` must be live and either linked in *this* list or not linked at all (with its
    /// pointers reset, as after a previous removal).
    pub unsafe fn remove(&mut self, node: NonNull<L::Target>) -> bool {
        // SAFETY: the caller guarantees `node` is live; its neighbours are linked in this list.
        unsafe {
            let p = L::pointers(node).as_ptr();
            match (*p).prev {
                Some(prev) => (*L::pointers(prev).as_ptr()).next = (*p).next,
                None => {
                    if self.head != Some(node) {
                        return false;
                    }
                    self.head = (*p).next;
                }
            }
            match (*p).next {
                Some(next) => (*L::pointers(next).as_ptr()).prev = (*p).prev,
                None => {
                    debug_assert_eq!(self.tail, Some(node));
                    self.tail = (*p).prev;
                }
            }
            (*p).prev = None;
            (*p).next = None;
        }
        self.len -= 1;
        true
    }

    /// Visits every node from front to back without unlinking.
    pub fn for_each(&self, mut f: impl FnMut(NonNull<L::Target>)) {
        let mut cur = self.head;
        while let Some(node) = cur {
            // SAFETY: linked nodes are live; read `next` before calling `f` in case `f` looks at
            // the node (it may not unlink it: it only gets a shared view of the list).
            cur = unsafe { (*L::pointers(node).as_ptr()).next };
            f(node);
        }
    }

    /// The first node from back to front (oldest first, for a list filled with `push_front`)
    /// for which `found` is true; stops there.
    pub fn find_back(
        &self,
        mut found: impl FnMut(NonNull<L::Target>) -> bool,
    ) -> Option<NonNull<L::Target>> {
        let mut cur = self.tail;
        while let Some(node) = cur {
            if found(node) {
                return Some(node);
            }
            // SAFETY: linked nodes are live, and `found` only gets a shared view of the list,
            // so `node` is still linked here.
            cur = unsafe { (*L::pointers(node).as_ptr()).prev };
        }
        None
    }

    /// Moves every node of `self` to the back of `other`, leaving `self` empty.
    pub fn append_to(&mut self, other: &mut Self) {
        let (Some(head), Some(tail)) = (self.head.take(), self.tail.take()) else {
            return;
        };
        // SAFETY: both lists' end nodes are live and linked.
        unsafe {
            (*L::pointers(head).as_ptr()).prev = other.tail;
            match other.tail {
                Some(t) => (*L::pointers(t).as_ptr()).next = Some(head),
                None => other.head = Some(head),
            }
        }
        other.tail = Some(tail);
        other.len += core::mem::take(&mut self.len);
    }
}

impl<L: Link> Default for LinkedList<L> {
    fn default() -> Self {
        Self::new()
    }
}

impl<L: Link> fmt::Debug for LinkedList<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkedList")
            .field("len", &self.len)
            .finish()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::pin::Pin;

    #[derive(Default)]
    struct Node {
        val: u32,
        pointers: Pointers<Node>,
    }

    struct NodeLink;
    // SAFETY: `pointers` returns the embedded field; handles are `Pin<&Node>` borrowed for the
    // test's duration, which outlives the list.
    unsafe impl Link for NodeLink {
        type Handle = Pin<&'static Node>;
        type Target = Node;
        fn as_raw(h: &Self::Handle) -> NonNull<Node> {
            NonNull::from(&**h)
        }
        unsafe fn from_raw(ptr: NonNull<Node>) -> Self::Handle {
            // SAFETY: the test leaks every node, so they are 'static and never move.
            unsafe { Pin::new_unchecked(&*ptr.as_ptr()) }
        }
        unsafe fn pointers(t: NonNull<Node>) -> NonNull<Pointers<Node>> {
            // SAFETY: `t` is live per the caller.
            unsafe { NonNull::new_unchecked(core::ptr::addr_of_mut!((*t.as_ptr()).pointers)) }
        }
    }

    fn node(val: u32) -> Pin<&'static Node> {
        Pin::static_ref(Box::leak(Box::new(Node {
            val,
            ..Default::default()
        })))
    }

    fn vals(list: &LinkedList<NodeLink>) -> Vec<u32> {
        let mut v = Vec::new();
        // SAFETY: nodes are leaked, hence live.
        list.for_each(|n| v.push(unsafe { n.as_ref().val }));
        v
    }

    #[test]
    fn push_pop_remove_append() {
        let mut list = LinkedList::<NodeLink>::new();
        let (a, b, c) = (node(1), node(2), node(3));
        list.push_back(a);
        list.push_back(b);
        list.push_front(c);
        assert_eq!(vals(&list), [3, 1, 2]);
        // SAFETY: `a` is linked in `list`.
        assert!(unsafe { list.remove(NonNull::from(&*a)) });
        assert_eq!(vals(&list), [3, 2]);
        // SAFETY: `a` is unlinked with reset pointers.
        assert!(!unsafe { list.remove(NonNull::from(&*a)) });
        let mut other = LinkedList::<NodeLink>::new();
        other.push_back(node(9));
        list.append_to(&mut other);
        assert!(list.is_empty());
        assert_eq!(vals(&other), [9, 3, 2]);
        assert_eq!(other.len(), 3);
        assert_eq!(other.pop_back().map(|n| n.val), Some(2));
        assert_eq!(other.pop_front().map(|n| n.val), Some(9));
        assert_eq!(other.pop_front().map(|n| n.val), Some(3));
        assert!(other.pop_front().is_none());
    }

    #[test]
    fn find_back_visits_oldest_first_and_stops_at_the_match() {
        let mut list = LinkedList::<NodeLink>::new();
        assert!(list.find_back(|_| true).is_none());
        for v in 1..=5 {
            list.push_front(node(v));
        }
        let mut seen = Vec::new();
        let hit = list.find_back(|n| {
            // SAFETY: nodes are leaked, hence live.
            let v = unsafe { n.as_ref().val };
            seen.push(v);
            v == 3
        });
        // SAFETY: as above.
        assert_eq!(hit.map(|n| unsafe { n.as_ref().val }), Some(3));
        assert_eq!(seen, [1, 2, 3]);
        assert!(list.find_back(|_| false).is_none());
        assert_eq!(list.len(), 5);
    }
}

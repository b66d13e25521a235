//! Heap accounting: a global allocator that wraps another one and counts what passes through
//! it, so that the harness can record each run's peak memory and the allocations made inside
//! its timed `step` calls (the contract says "allocate in `init`": this makes it checkable).
//!
//! The binary installs it around its allocator:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOCATOR: fitbench_harness::alloc::Counting<mimalloc::MiMalloc> =
//!     fitbench_harness::alloc::Counting::new(mimalloc::MiMalloc);
//! ```
//!
//! The counters are process-wide (relaxed atomics: a few nanoseconds per allocation). They
//! measure *heap bytes requested* — not resident memory, not the allocator's own overhead,
//! not stacks — and they are per-run only when one run executes at a time (`--jobs 1`; with
//! more, the harness records no memory). A program that does not install [`Counting`] reads
//! zeros, and [`installed`] says so.
//!
//! This module and `fitbench_core::simd` are the workspace's only `unsafe` code: the
//! [`GlobalAlloc`] methods forward to the wrapped allocator with the caller's arguments
//! unchanged, which upholds the wrapped allocator's contract exactly when the caller upholds
//! ours.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// Bytes currently allocated through [`Counting`].
static LIVE: AtomicUsize = AtomicUsize::new(0);
/// Largest value of [`LIVE`] since the last [`Window::open`].
static PEAK: AtomicUsize = AtomicUsize::new(0);
/// Allocation calls (`alloc`, `alloc_zeroed`, `realloc`) since the process started.
static CALLS: AtomicU64 = AtomicU64::new(0);
/// Bytes requested by those calls (for `realloc`, the new size).
static BYTES: AtomicU64 = AtomicU64::new(0);

/// A global allocator that forwards to `A` and counts calls, bytes and the live high-water
/// mark.
#[derive(Debug, Default)]
pub struct Counting<A>(A);

impl<A> Counting<A> {
    /// Wraps `inner`.
    pub const fn new(inner: A) -> Self {
        Self(inner)
    }
}

#[inline]
fn grew(size: usize) {
    let live = LIVE.fetch_add(size, Relaxed) + size;
    if live > PEAK.load(Relaxed) {
        PEAK.fetch_max(live, Relaxed);
    }
}

#[inline]
fn counted(size: usize) {
    CALLS.fetch_add(1, Relaxed);
    BYTES.fetch_add(size as u64, Relaxed);
    grew(size);
}

// SAFETY: every method forwards to the wrapped allocator with its own arguments, so the
// returned pointers and their validity are the wrapped allocator's; the bookkeeping touches
// only atomics and never allocates.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        let p = unsafe { self.0.alloc(layout) };
        if !p.is_null() {
            counted(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as for `alloc`.
        let p = unsafe { self.0.alloc_zeroed(layout) };
        if !p.is_null() {
            counted(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was returned by this allocator (hence by the wrapped one) with `layout`.
        unsafe { self.0.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as for `dealloc`, and `new_size` is the caller's.
        let p = unsafe { self.0.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            CALLS.fetch_add(1, Relaxed);
            BYTES.fetch_add(new_size as u64, Relaxed);
            let old = layout.size();
            if new_size >= old {
                grew(new_size - old);
            } else {
                LIVE.fetch_sub(old - new_size, Relaxed);
            }
        }
        p
    }
}

/// Whether this process allocates through [`Counting`] (it has counted at least one call:
/// every Rust program allocates before `main`'s first line has run its course).
pub fn installed() -> bool {
    CALLS.load(Relaxed) > 0
}

/// Whether a sweep running `jobs` runs at once can attribute heap use to runs: only one run
/// at a time, and only with [`Counting`] installed.
pub fn measures(jobs: usize) -> bool {
    jobs <= 1 && installed()
}

/// How a sweep running `jobs` runs at once measured heap use, or why it did not: written into
/// the report's environment.
pub fn measurement(jobs: usize) -> String {
    if !installed() {
        "not measured: this binary does not install fitbench_harness::alloc::Counting".into()
    } else if jobs > 1 {
        format!(
            "not measured: --jobs {jobs} runs share one heap, so bytes cannot be attributed to runs (use --jobs 1)"
        )
    } else {
        "heap bytes requested through the counting global allocator (fitbench_harness::alloc), per run, above the bytes live when the run started; not resident memory".into()
    }
}

/// Bytes currently allocated through [`Counting`] (0 when it is not installed).
pub fn live_bytes() -> u64 {
    LIVE.load(Relaxed) as u64
}

/// What happened on the heap between [`Window::open`] and [`Window::close`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Live bytes when the window opened.
    pub start_bytes: u64,
    /// Largest number of live bytes at any moment of the window.
    pub peak_bytes: u64,
    /// Live bytes at the end of the window.
    pub live_bytes: u64,
    /// Allocation calls made in the window (including reallocations).
    pub allocations: u64,
    /// Bytes those calls requested.
    pub allocated_bytes: u64,
}

/// A stretch of execution whose allocations are counted. Only one window is meaningful at a
/// time: opening one resets the process-wide high-water mark.
#[derive(Debug)]
pub struct Window {
    start: usize,
    calls: u64,
    bytes: u64,
}

impl Window {
    /// Starts counting: the high-water mark restarts from the bytes live now.
    pub fn open() -> Self {
        let start = LIVE.load(Relaxed);
        PEAK.store(start, Relaxed);
        Self {
            start,
            calls: CALLS.load(Relaxed),
            bytes: BYTES.load(Relaxed),
        }
    }

    /// Stops counting and says what the window allocated.
    pub fn close(self) -> Usage {
        let live = LIVE.load(Relaxed);
        Usage {
            start_bytes: self.start as u64,
            peak_bytes: PEAK.load(Relaxed).max(live) as u64,
            live_bytes: live as u64,
            allocations: CALLS.load(Relaxed) - self.calls,
            allocated_bytes: BYTES.load(Relaxed) - self.bytes,
        }
    }
}

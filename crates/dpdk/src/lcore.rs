//! Launching worker closures on EAL lcores, scoped: the closures may borrow the caller's data
//! (ports, queues, rings) because every lcore is waited for before the call returns, even when
//! the control closure panics.
use super::{DpdkError, Eal};
use std::ffi::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};

/// A closure to run on one worker lcore; its return value is the lcore's exit code.
pub struct WorkerLcore<'a> {
    pub lcore: u32,
    pub job: Box<dyn FnOnce() -> i32 + Send + 'a>,
}

struct LaunchedJob<'a> {
    job: Option<Box<dyn FnOnce() -> i32 + Send + 'a>>,
}

extern "C" fn trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: arg is the &mut LaunchedJob that launch_workers keeps alive until this lcore is waited
    // for; only this lcore touches it meanwhile.
    let slot = unsafe { &mut *(arg as *mut LaunchedJob<'_>) };
    match slot.job.take() {
        Some(job) => catch_unwind(AssertUnwindSafe(job)).unwrap_or(-1),
        None => -1,
    }
}

/// Waits for the lcores it names when dropped, so borrowed data outlives the workers.
struct WaitGuard {
    lcores: Vec<u32>,
    codes: Vec<i32>,
}

impl WaitGuard {
    fn wait(&mut self) {
        for l in self.lcores.drain(..) {
            // SAFETY: l was launched with rte_eal_remote_launch; waiting is always valid.
            self.codes.push(unsafe { dpdk_sys::rte_eal_wait_lcore(l) });
        }
    }
}

impl Drop for WaitGuard {
    fn drop(&mut self) {
        self.wait();
    }
}

/// Runs each worker on its lcore and `control` on the calling (main) lcore, then waits for all
/// workers. Returns control's result and each worker's exit code (-1 if it panicked).
pub fn launch_workers<'a, R>(
    _eal: &Eal,
    workers: Vec<WorkerLcore<'a>>,
    control: impl FnOnce() -> R,
) -> Result<(R, Vec<i32>), DpdkError> {
    let mut slots: Vec<LaunchedJob<'a>> = Vec::with_capacity(workers.len());
    let mut lcores = Vec::with_capacity(workers.len());
    for w in workers {
        slots.push(LaunchedJob { job: Some(w.job) });
        lcores.push(w.lcore);
    }
    let mut guard = WaitGuard {
        lcores: Vec::new(),
        codes: Vec::new(),
    };
    for (slot, &lcore) in slots.iter_mut().zip(&lcores) {
        let arg = slot as *mut LaunchedJob<'a> as *mut c_void;
        // SAFETY: trampoline matches lcore_function_t; arg stays valid until the guard waits
        // for the lcore (slots outlive guard: declared before it, dropped after it).
        let ret = unsafe { dpdk_sys::rte_eal_remote_launch(Some(trampoline), arg, lcore) };
        if ret != 0 {
            return Err(DpdkError::from_ret(
                format!("rte_eal_remote_launch(lcore {lcore})"),
                ret,
            ));
        }
        guard.lcores.push(lcore);
    }
    let r = control();
    guard.wait();
    let codes = std::mem::take(&mut guard.codes);
    Ok((r, codes))
}

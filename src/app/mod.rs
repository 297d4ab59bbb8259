//! The top of the appliance: one start-up path shared by `run` and `gen` (`startup`), then
//! `run`'s parts in files named for them: the orchestration (`run`), the control core's loop
//! (`control`), session compilation and SIGHUP reloads (`reload`), the final summary
//! (`summary`), the store threads behind the ring (`store`), the DPDK worker loop (`worker`) and the panic policy with its one test fault
//! (`fault`).
mod appliance;
mod archive;
mod ena;
pub mod fault;
pub mod startup;

mod control;
mod notify;
mod pause;
mod reload;
mod run;
mod store;
mod summary;
pub mod worker;

pub use run::{run, MAX_FRAME};
pub use startup::AppError;
pub use summary::RunSummary;

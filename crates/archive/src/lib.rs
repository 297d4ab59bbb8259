//! The S3 tier behind the disk store (issue 18, `docs/archive.md`): sealed store files (data,
//! index, flow index, flow records) are uploaded under time-ordered keys by an uploader on the
//! control side ([`upload`]), and read back for fleet queries: a listing of only the days of a
//! time range ([`listing`]), the store files' indexes, and range GETs of only the blocks a
//! query needs ([`reader`]), so the store's timeline reads an archive as it reads a local
//! store directory. `object_store` does the S3 protocol, signing, credentials and retries.
#![forbid(unsafe_code)]

pub mod cause;
pub mod connect;
pub mod listing;
pub mod location;
pub mod reader;
pub mod upload;

pub use cause::Cause;
pub use connect::{connect, Archive, Settings};
pub use location::{is_archive_url, ArchiveUrl};
pub use reader::S3Reader;
pub use upload::{check, Counters, Uploader};
